use super::*;
use crate::check::Status;
use serde_json::{Value, json};

fn http_route(v: Value) -> HTTPRoute {
    serde_json::from_value(v).unwrap()
}

fn parent(name: &str) -> Value {
    json!({"group": "", "kind": "Service", "name": name})
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, generation: i64) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": generation})
}

/// An HTTPRoute in shop attached to Service `api`, with weft's status.
fn route(name: &str, conditions: Vec<Value>) -> HTTPRoute {
    http_route(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "shop", "generation": 2},
        "spec": {"parentRefs": [parent("api")], "rules": [{"backendRefs": [{"name": "api-v1", "port": 80}]}]},
        "status": {"parents": [{
            "parentRef": parent("api"),
            "controllerName": CONTROLLER_NAME,
            "conditions": conditions
        }]}
    }))
}

fn good(name: &str) -> HTTPRoute {
    route(
        name,
        vec![
            condition("Accepted", "True", "Accepted", "applies", 2),
            condition("ResolvedRefs", "True", "ResolvedRefs", "ok", 2),
        ],
    )
}

#[test]
fn without_the_crds_routes_are_not_in_use() {
    let l = routes(false, &[]);
    assert_eq!(l.status, Status::Pass);
    assert!(l.detail.contains("not in use"), "{}", l.detail);
}

#[test]
fn accepted_and_resolved_routes_pass() {
    let (a, b) = (good("a"), good("b"));
    let l = routes(true, &[(&a).into(), (&b).into()]);
    assert_eq!(l.status, Status::Pass, "{l:?}");
    assert!(l.detail.starts_with("2 route(s)"), "{}", l.detail);
}

#[test]
fn routes_of_gateways_only_are_not_the_mesh_s() {
    let gw = http_route(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "edge", "namespace": "shop"},
        "spec": {"parentRefs": [{"name": "public"}]}
    }));
    let l = routes(true, &[(&gw).into()]);
    assert_eq!(l.status, Status::Pass);
    assert!(
        l.detail
            .contains("no HTTPRoute or GRPCRoute has a Service parent")
    );
}

#[test]
fn a_refused_reference_warns_with_its_reason_and_message() {
    let bad = route(
        "canary",
        vec![
            condition("Accepted", "True", "Accepted", "applies", 2),
            condition(
                "ResolvedRefs",
                "False",
                "BackendNotFound",
                "backendRef Service shop/api-v3 does not exist",
                2,
            ),
        ],
    );
    let ok = good("stable");
    let l = routes(true, &[(&ok).into(), (&bad).into()]);
    assert_eq!(l.status, Status::Warn);
    assert!(l.detail.starts_with("1 of 2"), "{}", l.detail);
    assert!(
        l.detail.contains("HTTPRoute shop/canary (Service shop/api: ResolvedRefs=False BackendNotFound: backendRef Service shop/api-v3 does not exist)"),
        "{}",
        l.detail
    );
    assert!(!l.detail.contains("stable"), "{}", l.detail);
}

#[test]
fn an_unjudged_or_stale_route_warns() {
    let mut unjudged = good("new");
    unjudged.status = None;
    let l = routes(true, &[(&unjudged).into()]);
    assert_eq!(l.status, Status::Warn);
    assert!(
        l.detail
            .contains("no status from weft.io/gateway-controller")
    );

    // Another controller's entry does not count as weft's.
    let mut other = good("theirs");
    other.status.as_mut().unwrap().parents[0].controller_name = "example.net/mesh".into();
    assert_eq!(routes(true, &[(&other).into()]).status, Status::Warn);

    let mut stale = good("edited");
    stale.metadata.generation = Some(3);
    let l = routes(true, &[(&stale).into()]);
    assert_eq!(l.status, Status::Warn);
    assert!(l.detail.contains("older generation"), "{}", l.detail);
}

#[test]
fn an_unaccepted_parent_and_many_routes_are_summarised() {
    let refused: Vec<HTTPRoute> = (0..5)
        .map(|i| {
            route(
                &format!("r{i}"),
                vec![
                    condition("Accepted", "False", "NoMatchingParent", &"x".repeat(300), 2),
                    condition("ResolvedRefs", "True", "ResolvedRefs", "ok", 2),
                ],
            )
        })
        .collect();
    let views: Vec<Route<'_>> = refused.iter().map(Route::from).collect();
    let l = routes(true, &views);
    assert_eq!(l.status, Status::Warn);
    assert!(l.detail.contains("Accepted=False NoMatchingParent"));
    assert!(l.detail.ends_with("and 2 more"), "{}", l.detail);
    assert!(l.detail.contains('…'), "long messages are cut");
}

#[test]
fn a_grpc_route_is_judged_the_same_way() {
    let g: GRPCRoute = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
        "metadata": {"name": "rpc", "namespace": "shop"},
        "spec": {"parentRefs": [parent("api")]}
    }))
    .unwrap();
    let l = routes(true, &[(&g).into()]);
    assert_eq!(l.status, Status::Warn);
    assert!(l.detail.contains("GRPCRoute shop/rpc"), "{}", l.detail);
    assert!(l.detail.contains("grpcroutes/status"), "{}", l.detail);
}

fn objects(with_route: bool) -> Vec<Resource> {
    let mut out = vec![
        Resource::Service(
            serde_json::from_value(json!({
                "metadata": {"name": "api", "namespace": "shop"},
                "spec": {"ports": [{"port": 80}]}
            }))
            .unwrap(),
        ),
        Resource::TrafficSplit(
            serde_json::from_value(json!({
                "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
                "metadata": {"name": "api-rollout", "namespace": "shop"},
                "spec": {"service": "api", "backends": [{"service": "api", "weight": 1}]}
            }))
            .unwrap(),
        ),
    ];
    if with_route {
        out.push(Resource::HttpRoute(good("api-canary")));
    }
    out
}

#[test]
fn a_split_on_a_routed_service_is_reported_as_the_controller_does() {
    let findings = overridden_splits(objects(true));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].name, "api-rollout");
    let l = splits(&findings).unwrap();
    assert_eq!(l.status, Status::Warn);
    assert!(
        l.detail.contains("TrafficSplit shop/api-rollout")
            && l.detail.contains("SplitOverriddenByRoute")
            && l.detail.contains("HTTPRoute shop/api-canary"),
        "{}",
        l.detail
    );

    let none = overridden_splits(objects(false));
    assert!(none.is_empty(), "{none:?}");
    assert!(splits(&none).is_none());
}
