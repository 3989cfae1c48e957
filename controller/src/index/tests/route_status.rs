//! What weft writes into the status of Gateway API routes.

use super::*;
use crate::index::{Kind, RouteStatusUpdate};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::json;
use weft_api::contract::gateway::CONTROLLER_NAME;

fn at(secs: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
}

/// shop/web with port 80 and shop/web-v2.
fn services() -> Vec<Resource> {
    vec![
        service("shop", "web", "10.96.0.20")
            .port("http", 80, 8080)
            .into(),
        service("shop", "web-v2", "10.96.0.22")
            .port("http", 80, 8080)
            .into(),
    ]
}

fn updates(ix: &Index, now: i64) -> Vec<RouteStatusUpdate> {
    ix.route_statuses(&at(now))
}

/// (parent name, port, Accepted, ResolvedRefs) of weft's entries, each
/// condition as `status/reason`.
fn summary(u: &RouteStatusUpdate) -> Vec<(String, Option<i32>, String, String)> {
    let cond = |cs: &[Condition], t: &str| {
        let c = cs.iter().find(|c| c.type_ == t).expect(t);
        format!("{}/{}", c.status, c.reason)
    };
    u.parents
        .iter()
        .filter(|p| p.controller_name == CONTROLLER_NAME)
        .map(|p| {
            (
                p.parent_ref.name.clone(),
                p.parent_ref.port,
                cond(&p.conditions, "Accepted"),
                cond(&p.conditions, "ResolvedRefs"),
            )
        })
        .collect()
}

fn resolved_refs(u: &RouteStatusUpdate) -> &Condition {
    u.parents[0]
        .conditions
        .iter()
        .find(|c| c.type_ == "ResolvedRefs")
        .unwrap()
}

#[test]
fn each_service_parent_is_accepted_or_not() {
    let ix = index_with(
        services().into_iter().chain([http_route("shop", "web")
            .set("/metadata/generation", json!(4))
            .set("/metadata/resourceVersion", json!("17"))
            .parent("web", None)
            .parent("web", Some(81))
            .parent("gone", None)
            .parent_ref(json!({"name": "some-gateway"}))
            .rule(json!({"backendRefs": [{"name": "web-v2", "port": 80}]}))
            .into()]),
    );
    let all = updates(&ix, 100);
    assert_eq!(all.len(), 1);
    let u = &all[0];
    assert_eq!(
        (u.kind, u.namespace.as_str(), u.name.as_str()),
        (Kind::HttpRoute, "shop", "web")
    );
    assert_eq!(u.resource_version.as_deref(), Some("17"));
    let ok = "True/ResolvedRefs".to_string();
    assert_eq!(
        summary(u),
        [
            ("web".into(), None, "True/Accepted".into(), ok.clone()),
            (
                "web".into(),
                Some(81),
                "False/NoMatchingParent".into(),
                ok.clone()
            ),
            ("gone".into(), None, "False/NoMatchingParent".into(), ok),
        ],
        "the Gateway parent is not weft's to judge"
    );
    let c = &u.parents[0].conditions[0];
    assert_eq!(c.observed_generation, Some(4));
    assert_eq!(c.last_transition_time, at(100));
}

#[test]
fn resolved_refs_names_what_cannot_be_used() {
    let cases = [
        (
            json!({"backendRefs": [{"name": "gone", "port": 80}]}),
            "BackendNotFound",
        ),
        (
            json!({"backendRefs": [{"name": "web-v2", "port": 81}]}),
            "BackendNotFound",
        ),
        (
            json!({"backendRefs": [{"name": "ledger", "namespace": "billing", "port": 80}]}),
            "RefNotPermitted",
        ),
        (
            json!({"backendRefs": [{"group": "example.com", "kind": "Bucket", "name": "b"}]}),
            "InvalidKind",
        ),
        (
            json!({"filters": [{"type": "ExtensionRef", "extensionRef": {"group": "x", "kind": "Y", "name": "z"}}]}),
            "UnsupportedValue",
        ),
        (
            json!({"timeouts": {"request": "ten seconds"}}),
            "UnsupportedValue",
        ),
    ];
    for (rule, reason) in cases {
        let ix = index_with(
            services().into_iter().chain([http_route("shop", "web")
                .parent("web", None)
                .rule(rule.clone())
                .into()]),
        );
        let all = updates(&ix, 1);
        let c = resolved_refs(&all[0]);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", reason),
            "{rule}"
        );
        assert!(!c.message.is_empty());
    }
}

#[test]
fn a_consumer_route_is_accepted_for_its_namespace() {
    let ix = index_with(
        services()
            .into_iter()
            .chain([http_route("front", "mine").parent_in("shop", "web").into()]),
    );
    let all = updates(&ix, 1);
    let accepted = &all[0].parents[0].conditions[0];
    assert_eq!(accepted.status, "True");
    assert!(
        accepted.message.contains("in namespace front"),
        "{}",
        accepted.message
    );
}

#[test]
fn other_controllers_entries_are_kept_and_a_current_status_is_left_alone() {
    let theirs = json!({
        "parentRef": {"name": "gw"},
        "controllerName": "example.net/gateway",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                        "message": "", "lastTransitionTime": "2020-01-01T00:00:00Z"}]
    });
    let route = |status: serde_json::Value| {
        http_route("shop", "web")
            .parent("web", None)
            .parent_ref(json!({"name": "gw"}))
            .rule(json!({"backendRefs": [{"name": "web-v2", "port": 80}]}))
            .set("/status", status)
    };
    let ix = index_with(
        services()
            .into_iter()
            .chain([route(json!({"parents": [theirs.clone()]})).into()]),
    );
    let first = updates(&ix, 100).remove(0);
    assert_eq!(first.parents.len(), 2);
    assert_eq!(first.parents[0].controller_name, "example.net/gateway");
    assert_eq!(first.parents[1].controller_name, CONTROLLER_NAME);

    // Written back: nothing more to write, however late it is.
    let written = serde_json::to_value(&first.parents).unwrap();
    let mut ix = index_with(
        services()
            .into_iter()
            .chain([route(json!({"parents": written})).into()]),
    );
    assert_eq!(updates(&ix, 5000), Vec::new());

    // A change of one condition moves only its transition time.
    ix.delete(Kind::Service, Some("shop"), "web-v2");
    let next = updates(&ix, 6000).remove(0);
    let ours = &next.parents[1].conditions;
    assert_eq!(ours[0].type_, "Accepted");
    assert_eq!(ours[0].last_transition_time, at(100));
    assert_eq!(ours[1].type_, "ResolvedRefs");
    assert_eq!(ours[1].status, "False");
    assert_eq!(ours[1].last_transition_time, at(6000));
    assert_eq!(next.parents[0], first.parents[0], "theirs untouched");
}

#[test]
fn a_service_parent_dropped_from_the_spec_loses_its_entry() {
    let ours = json!({
        "parentRef": {"group": "", "kind": "Service", "name": "old"},
        "controllerName": CONTROLLER_NAME,
        "conditions": []
    });
    let ix = index_with(
        services().into_iter().chain([http_route("shop", "web")
            .parent_ref(json!({"name": "gw"}))
            .set("/status", json!({"parents": [ours]}))
            .into()]),
    );
    let all = updates(&ix, 1);
    assert_eq!(all.len(), 1);
    assert!(all[0].parents.is_empty());

    let untouched = index_with([http_route("shop", "gw-only")
        .parent_ref(json!({"name": "gw"}))
        .into()]);
    assert_eq!(updates(&untouched, 1), Vec::new(), "not weft's route");
}

#[test]
fn a_grpc_route_gets_a_status_too() {
    let ix = index_with(
        services().into_iter().chain([grpc_route("shop", "greet")
            .parent("web", Some(80))
            .rule(json!({"backendRefs": [{"name": "web-v2", "port": 80}]}))
            .into()]),
    );
    let all = updates(&ix, 1);
    assert_eq!(all[0].kind, Kind::GrpcRoute);
    assert_eq!(
        summary(&all[0]),
        [(
            "web".into(),
            Some(80),
            "True/Accepted".into(),
            "True/ResolvedRefs".into()
        )]
    );
}
