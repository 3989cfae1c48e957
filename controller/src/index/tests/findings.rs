use super::*;
use crate::index::{Finding, Kind, reason};
use k8s_openapi::api::core::v1::{HTTPGetAction, Probe};
use weft_api::contract::annotations as a;

/// (kind, namespace/name, reason) of every finding.
fn found(ix: &Index) -> Vec<(Kind, String, &'static str)> {
    ix.findings()
        .into_iter()
        .map(|f| {
            let ns = f.namespace.unwrap_or_default();
            (f.kind, format!("{ns}/{}", f.name), f.reason)
        })
        .collect()
}

fn has(ix: &Index, kind: Kind, object: &str, why: &str) {
    let all = found(ix);
    assert!(
        all.iter()
            .any(|(k, o, r)| *k == kind && o == object && *r == why),
        "no {why} on {kind} {object} in {all:#?}"
    );
}

fn web_to_api() -> TtB {
    tt("shop", "web-to-api", "api").source("web", None)
}

#[test]
fn valid_objects_have_no_findings() {
    let ix = index_with([
        namespace("shop").ann(a::DEFAULT_POLICY, "deny").into(),
        pod("shop", "api")
            .sa("api")
            .ann(a::OPAQUE_PORTS, "5432")
            .into(),
        group("shop", "routes")
            .m("all", Some("/.*"), &["GET"], &[])
            .into(),
        tcp_route("shop", "all", &[]),
        web_to_api()
            .rule("HTTPRouteGroup", "routes", &["all"])
            .rule("TCPRoute", "all", &[])
            .into(),
        service("shop", "web", "10.96.0.20")
            .port("http", 80, 80)
            .into(),
        service("shop", "web-v1", "10.96.0.21")
            .port("http", 80, 80)
            .into(),
        split("shop", "canary", "web").backend("web-v1", 1).into(),
    ]);
    assert_eq!(ix.findings(), Vec::<Finding>::new());
}

#[test]
fn a_missing_route_group_is_reported_on_the_target() {
    let ix = index_with([web_to_api().rule("HTTPRouteGroup", "gone", &[]).into()]);
    has(
        &ix,
        Kind::TrafficTarget,
        "shop/web-to-api",
        reason::MISSING_ROUTE,
    );
}

#[test]
fn a_missing_tcp_route_is_reported() {
    let ix = index_with([web_to_api().rule("TCPRoute", "gone", &[]).into()]);
    has(
        &ix,
        Kind::TrafficTarget,
        "shop/web-to-api",
        reason::MISSING_ROUTE,
    );
}

#[test]
fn a_missing_match_is_reported() {
    let ix = index_with([
        group("shop", "routes").m("all", None, &[], &[]).into(),
        web_to_api()
            .rule("HTTPRouteGroup", "routes", &["none"])
            .into(),
    ]);
    has(
        &ix,
        Kind::TrafficTarget,
        "shop/web-to-api",
        reason::MISSING_MATCH,
    );
}

#[test]
fn an_invalid_regex_is_reported_on_the_group_and_the_target() {
    let ix = index_with([
        group("shop", "routes")
            .m("bad", Some("(["), &[], &[])
            .into(),
        web_to_api().rule("HTTPRouteGroup", "routes", &[]).into(),
    ]);
    has(
        &ix,
        Kind::HttpRouteGroup,
        "shop/routes",
        reason::INVALID_REGEX,
    );
    has(
        &ix,
        Kind::TrafficTarget,
        "shop/web-to-api",
        reason::INVALID_REGEX,
    );
}

#[test]
fn a_cross_namespace_destination_is_reported() {
    let ix = index_with([tt("other", "steal", "api").dest_ns("shop").into()]);
    has(
        &ix,
        Kind::TrafficTarget,
        "other/steal",
        reason::CROSS_NAMESPACE_DESTINATION,
    );
}

#[test]
fn an_unknown_rule_kind_is_reported() {
    let ix = index_with([web_to_api().rule("GRPCRoute", "x", &[]).into()]);
    has(
        &ix,
        Kind::TrafficTarget,
        "shop/web-to-api",
        reason::UNKNOWN_RULE_KIND,
    );
}

#[test]
fn a_udp_route_rule_is_reported_as_not_mediated() {
    let ix = index_with([
        udp_route("shop", "dns", &[53]),
        web_to_api().rule("UDPRoute", "dns", &[]).into(),
    ]);
    assert_eq!(
        found(&ix),
        [(
            Kind::TrafficTarget,
            "shop/web-to-api".into(),
            reason::UDP_NOT_MEDIATED
        )]
    );
}

#[test]
fn a_target_without_rules_is_reported() {
    let ix = index_with([web_to_api().into()]);
    has(
        &ix,
        Kind::TrafficTarget,
        "shop/web-to-api",
        reason::NO_RULES,
    );
}

#[test]
fn subjects_that_are_not_service_accounts_are_reported() {
    let ix = index_with([
        web_to_api()
            .source_kind("Group", "admins")
            .rule("TCPRoute", "all", &[])
            .into(),
        tcp_route("shop", "all", &[]),
        tt("shop", "to-pod", "api-0").dest_kind("Pod").into(),
    ]);
    has(
        &ix,
        Kind::TrafficTarget,
        "shop/web-to-api",
        reason::UNSUPPORTED_SUBJECT,
    );
    has(
        &ix,
        Kind::TrafficTarget,
        "shop/to-pod",
        reason::UNSUPPORTED_SUBJECT,
    );
}

#[test]
fn a_split_without_its_root_is_reported() {
    let ix = index_with([split("shop", "canary", "gone").backend("x", 1).into()]);
    has(
        &ix,
        Kind::TrafficSplit,
        "shop/canary",
        reason::MISSING_ROOT_SERVICE,
    );
}

#[test]
fn a_missing_backend_and_a_backend_lacking_a_port_are_reported() {
    let ix = index_with([
        service("shop", "web", "10.96.0.20")
            .port("http", 80, 80)
            .port("admin", 9000, 9000)
            .into(),
        service("shop", "web-v1", "10.96.0.21")
            .port("http", 80, 80)
            .into(),
        split("shop", "canary", "web")
            .backend("web-v1", 1)
            .backend("web-v9", 1)
            .into(),
    ]);
    assert_eq!(
        found(&ix),
        [
            (
                Kind::TrafficSplit,
                "shop/canary".into(),
                reason::BACKEND_LACKS_PORT
            ),
            (
                Kind::TrafficSplit,
                "shop/canary".into(),
                reason::MISSING_BACKEND_SERVICE
            ),
        ],
        "the missing backend is reported once, not per port"
    );
}

#[test]
fn the_losing_split_is_reported() {
    let ix = index_with([
        service("shop", "web", "10.96.0.20")
            .port("http", 80, 80)
            .into(),
        split("shop", "old", "web")
            .created(1)
            .backend("web", 1)
            .into(),
        split("shop", "new", "web")
            .created(2)
            .backend("web", 1)
            .into(),
    ]);
    assert_eq!(
        found(&ix),
        [(
            Kind::TrafficSplit,
            "shop/new".into(),
            reason::SPLIT_SUPERSEDED
        )]
    );
}

#[test]
fn unusable_split_matches_are_reported() {
    let ix = index_with([
        service("shop", "web", "10.96.0.20")
            .port("http", 80, 80)
            .into(),
        split("shop", "canary", "web")
            .backend("web", 1)
            .matches("HTTPRouteGroup", "gone")
            .matches("TCPRoute", "x")
            .into(),
    ]);
    has(
        &ix,
        Kind::TrafficSplit,
        "shop/canary",
        reason::MISSING_ROUTE,
    );
    has(
        &ix,
        Kind::TrafficSplit,
        "shop/canary",
        reason::UNSUPPORTED_MATCH_KIND,
    );
}

#[test]
fn bad_annotation_values_are_reported_on_their_object() {
    let ix = index_with([
        namespace("shop").ann(a::DEFAULT_POLICY, "permit").into(),
        pod("shop", "api")
            .ann(a::ALLOW_UNAUTHENTICATED_FROM, "10.0.0.0/40")
            .into(),
        service("shop", "db", "10.96.0.30")
            .ann(a::OPAQUE_PORTS, "postgres")
            .into(),
    ]);
    has(&ix, Kind::Namespace, "/shop", reason::INVALID_ANNOTATION);
    has(&ix, Kind::Pod, "shop/api", reason::INVALID_ANNOTATION);
    has(&ix, Kind::Service, "shop/db", reason::INVALID_ANNOTATION);
    let ns = ix
        .findings()
        .into_iter()
        .find(|f| f.kind == Kind::Namespace)
        .unwrap();
    assert_eq!(ns.namespace, None);
    assert!(ns.message.contains("permit"), "{}", ns.message);
}

#[test]
fn a_probe_on_an_undeclared_named_port_is_reported() {
    let probe = Probe {
        http_get: Some(HTTPGetAction {
            port: IntOrString::String("health".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ix = index_with([pod("shop", "api").probe("liveness", probe).into()]);
    has(&ix, Kind::Pod, "shop/api", reason::UNRESOLVED_PROBE_PORT);
}

#[test]
fn a_probe_that_opens_its_port_is_reported() {
    let probe = Probe {
        tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
            port: IntOrString::Int(9000),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ix = index_with([
        pod("shop", "api").probe("readiness", probe.clone()).into(),
        pod("kube-system", "dns")
            .unmeshed()
            .probe("readiness", probe)
            .into(),
    ]);
    has(&ix, Kind::Pod, "shop/api", reason::PROBE_OPENS_PORT);
    // A pod outside the mesh: its probes reach it without any proxy.
    assert!(
        found(&ix).iter().all(|(_, o, _)| o != "kube-system/dns"),
        "{:#?}",
        found(&ix)
    );
}

#[test]
fn findings_are_sorted_and_do_not_depend_on_arrival_order() {
    let objects: Vec<Resource> = vec![
        web_to_api().rule("HTTPRouteGroup", "gone", &[]).into(),
        tt("shop", "a-rule-less", "api").into(),
        namespace("shop").ann(a::OPAQUE_PORTS, "x").into(),
        split("shop", "canary", "gone").into(),
    ];
    let forward = index_with(objects.clone()).findings();
    let backward = index_with(objects.into_iter().rev()).findings();
    assert_eq!(forward, backward);
    let mut sorted = forward.clone();
    sorted.sort();
    assert_eq!(forward, sorted);
    assert_eq!(forward.len(), 4);
}

#[test]
fn injected_namespaces_are_those_annotated_enabled() {
    let ix = index_with([
        namespace("shop").ann(a::INJECT, "enabled").into(),
        namespace("off").ann(a::INJECT, "disabled").into(),
        namespace("plain").into(),
    ]);
    assert_eq!(
        ix.injected_namespaces().into_iter().collect::<Vec<_>>(),
        ["shop"]
    );
}

#[test]
fn the_findings_reader_is_poked_on_each_change_and_only_then() {
    let mut ix = index();
    let mut changes = ix.changes();
    let seen = |rx: &mut tokio::sync::watch::Receiver<()>| {
        let changed = rx.has_changed().expect("the index is alive");
        rx.mark_unchanged();
        changed
    };
    assert!(!seen(&mut changes));
    ix.apply(namespace("shop").ann(a::DEFAULT_POLICY, "deny").into());
    assert!(seen(&mut changes), "an added object");
    ix.apply(namespace("shop").ann(a::DEFAULT_POLICY, "deny").into());
    assert!(!seen(&mut changes), "the same object again");
    ix.reset(
        Kind::Namespace,
        vec![namespace("shop").ann(a::DEFAULT_POLICY, "deny").into()],
    );
    assert!(!seen(&mut changes), "a relist with nothing new");
    ix.reset(Kind::Namespace, vec![namespace("shop").into()]);
    assert!(seen(&mut changes), "a relist with an update");
    ix.delete(Kind::Namespace, None, "gone");
    assert!(!seen(&mut changes), "deleting what is not held");
    ix.delete(Kind::Namespace, None, "shop");
    assert!(seen(&mut changes), "a deleted object");
}

#[test]
fn bad_http_ports_are_reported_on_pods_and_namespaces() {
    let ix = index_with([
        namespace("shop").ann(a::HTTP_PORTS, "web").into(),
        pod("shop", "api").ann(a::HTTP_PORTS, "8080, 9-1").into(),
    ]);
    let all = ix.findings();
    assert_eq!(all.len(), 2, "{all:#?}");
    for f in &all {
        assert_eq!(f.reason, reason::INVALID_ANNOTATION);
        assert!(f.message.contains(a::HTTP_PORTS), "{}", f.message);
    }
    has(&ix, Kind::Namespace, "/shop", reason::INVALID_ANNOTATION);
    has(&ix, Kind::Pod, "shop/api", reason::INVALID_ANNOTATION);
}
