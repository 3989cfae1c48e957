//! Gateway API routes in discovery: which routes attach for which client,
//! backends and ReferenceGrants, routes over splits, and refreshes.

use super::*;
use crate::index::{Kind, reason};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::watch;
use weft_api::discovery::RouteRule;

const WEB: &str = "10.96.0.20:80";
const V2: &str = "web-v2.shop.svc.cluster.local:80";
const LEDGER: &str = "ledger.billing.svc.cluster.local:80";

/// shop/web (10.96.0.20: 80 → 8080, 9000), shop/web-v2 (80 → 8080, 81 →
/// 8081), billing/ledger (80 → 9090) and front/mock (80 → 8080), each with
/// one ready endpoint.
fn world() -> Vec<Resource> {
    vec![
        service("shop", "web", "10.96.0.20")
            .port("http", 80, 8080)
            .port("admin", 9000, 9000)
            .into(),
        slice("shop", "web-x", "web")
            .port("http", 8080)
            .port("admin", 9000)
            .ready("10.1.1.1", "")
            .into(),
        service("shop", "web-v2", "10.96.0.22")
            .port("http", 80, 8080)
            .port("alt", 81, 8081)
            .into(),
        slice("shop", "web-v2-x", "web-v2")
            .port("http", 8080)
            .port("alt", 8081)
            .ready("10.1.1.3", "")
            .into(),
        service("billing", "ledger", "10.96.1.10")
            .port("http", 80, 9090)
            .into(),
        slice("billing", "ledger-x", "ledger")
            .port("http", 9090)
            .ready("10.1.2.1", "")
            .into(),
        service("front", "mock", "10.96.2.10")
            .port("http", 80, 8080)
            .into(),
        slice("front", "mock-x", "mock")
            .port("http", 8080)
            .ready("10.1.3.1", "")
            .into(),
    ]
}

fn with(extra: impl IntoIterator<Item = Resource>) -> Index {
    index_with(world().into_iter().chain(extra))
}

fn subscribe(ix: &mut Index, target: &str, client_ns: &str) -> watch::Receiver<Arc<Outbound>> {
    let t = match target.parse() {
        Ok(a) => Target::Address(a),
        Err(_) => Target::Authority(target.into()),
    };
    ix.outbound(t, client_ns).expect("outbound")
}

/// The answer for `target` to a client in `client_ns`.
fn answer(ix: &mut Index, target: &str, client_ns: &str) -> Meshed {
    let rx = subscribe(ix, target, client_ns);
    let o = rx.borrow();
    meshed((**o).clone())
}

/// (route, rule) of each RouteRule.
fn origins(m: &Meshed) -> Vec<(String, String)> {
    m.routes
        .iter()
        .map(|r: &RouteRule| (r.route.clone(), r.rule.clone()))
        .collect()
}

/// (backend, weight) of the first rule's backends.
fn first_backends(m: &Meshed) -> Vec<(String, u32)> {
    m.routes[0]
        .backends
        .iter()
        .map(|b| (b.backend.clone(), b.weight))
        .collect()
}

/// (name, endpoint addresses) of each route backend.
fn route_backends(m: &Meshed) -> Vec<(String, Vec<String>)> {
    m.route_backends
        .iter()
        .map(|b| {
            let eps = b.endpoints.iter().map(|e| e.address.clone()).collect();
            (b.name.clone(), eps)
        })
        .collect()
}

fn to_v2() -> serde_json::Value {
    json!({"backendRefs": [{"name": "web-v2", "port": 80}]})
}

fn to_ledger() -> serde_json::Value {
    json!({"backendRefs": [{"name": "ledger", "namespace": "billing", "port": 80}]})
}

// ---- attachment ----

#[test]
fn a_route_attaches_to_every_port_or_to_the_one_it_names() {
    let mut ix = with([
        http_route("shop", "all-ports")
            .parent("web", None)
            .rule(to_v2())
            .into(),
        http_route("shop", "admin-only")
            .parent("web", Some(9000))
            .rule(to_v2())
            .into(),
    ]);
    let http = answer(&mut ix, WEB, "client-ns");
    assert_eq!(
        origins(&http),
        [("HTTPRoute/shop/all-ports".to_string(), "0".to_string())]
    );
    let admin = answer(&mut ix, "10.96.0.20:9000", "client-ns");
    let routes: Vec<String> = origins(&admin).into_iter().map(|(r, _)| r).collect();
    assert_eq!(
        routes,
        ["HTTPRoute/shop/admin-only", "HTTPRoute/shop/all-ports"]
    );
}

#[test]
fn only_a_parent_spelled_as_a_core_service_attaches() {
    let mut ix = with([http_route("shop", "web")
        // Absent group and kind mean a Gateway.
        .parent_ref(json!({"name": "web"}))
        .parent_ref(json!({"group": "", "name": "web"}))
        .parent_ref(json!({"kind": "Service", "name": "web"}))
        .parent_ref(json!({"group": "gateway.networking.k8s.io", "kind": "Service", "name": "web"}))
        .parent_ref(json!({"group": "", "kind": "Service", "name": "web-v2"}))
        .parent_ref(json!({"group": "", "kind": "Service", "name": "web", "namespace": "billing"}))
        .parent_ref(json!({"group": "", "kind": "Service", "name": "web", "port": 81}))
        .rule(to_v2())
        .into()]);
    let m = answer(&mut ix, WEB, "client-ns");
    assert!(m.routes.is_empty(), "{:?}", origins(&m));
    assert!(m.route_backends.is_empty());
}

#[test]
fn address_and_authority_targets_both_get_the_routes() {
    let mut ix = with([http_route("shop", "web")
        .parent("web", Some(80))
        .rule(to_v2())
        .into()]);
    for target in [
        WEB,
        "web.shop:80",
        "web.shop.svc.cluster.local:80",
        "web.shop.svc",
    ] {
        let m = answer(&mut ix, target, "client-ns");
        assert_eq!(first_backends(&m), [(V2.to_string(), 1)], "{target}");
        assert_eq!(m.root.unwrap().endpoints[0].address, "10.1.1.1:8080");
    }
    let short = answer(&mut ix, "web:80", "shop");
    assert_eq!(short.routes.len(), 1);
}

// ---- producer and consumer routes ----

#[test]
fn producer_routes_serve_every_client_and_consumer_routes_their_namespace() {
    let mut ix = with([
        http_route("shop", "producer")
            .parent("web", None)
            .rule(to_v2())
            .into(),
        http_route("front", "consumer")
            .parent_in("shop", "web")
            .rule(json!({"backendRefs": [{"name": "mock", "port": 80}]}))
            .into(),
        // A route in front naming a Service of its own namespace is a
        // producer route there, not a consumer route of shop/web.
        http_route("front", "unrelated")
            .parent("web", None)
            .rule(to_v2())
            .into(),
    ]);
    let front = answer(&mut ix, WEB, "front");
    assert_eq!(
        origins(&front),
        [("HTTPRoute/front/consumer".to_string(), "0".to_string())]
    );
    assert_eq!(
        route_backends(&front),
        [(
            "mock.front.svc.cluster.local:80".to_string(),
            vec!["10.1.3.1:8080".to_string()]
        )]
    );
    for ns in ["shop", "client-ns", "billing"] {
        let m = answer(&mut ix, WEB, ns);
        assert_eq!(
            origins(&m),
            [("HTTPRoute/shop/producer".to_string(), "0".to_string())],
            "{ns}"
        );
    }
}

#[test]
fn a_consumer_route_on_another_port_leaves_the_producer_routes_in_place() {
    let mut ix = with([
        http_route("shop", "producer")
            .parent("web", None)
            .rule(to_v2())
            .into(),
        http_route("front", "consumer")
            .parent_ref(json!({"group": "", "kind": "Service", "namespace": "shop", "name": "web", "port": 9000}))
            .rule(json!({"backendRefs": [{"name": "mock", "port": 80}]}))
            .into(),
    ]);
    let http = answer(&mut ix, WEB, "front");
    assert_eq!(origins(&http)[0].0, "HTTPRoute/shop/producer");
    let admin = answer(&mut ix, "10.96.0.20:9000", "front");
    assert_eq!(origins(&admin)[0].0, "HTTPRoute/front/consumer");
}

// ---- backends ----

#[test]
fn a_backend_in_another_namespace_needs_a_reference_grant() {
    let route = || {
        http_route("shop", "web")
            .parent("web", None)
            .rule(to_ledger())
            .into()
    };
    let refused = [
        None,
        // For the other route kind, from another namespace, to another
        // Service.
        Some(grant("billing", "g", "GRPCRoute", "shop", None)),
        Some(grant("billing", "g", "HTTPRoute", "front", None)),
        Some(grant("billing", "g", "HTTPRoute", "shop", Some("other"))),
        // In the route's namespace rather than the backend's.
        Some(grant("shop", "g", "HTTPRoute", "shop", None)),
    ];
    for g in refused {
        let label = format!("{g:?}");
        let mut ix = with([route()].into_iter().chain(g));
        let m = answer(&mut ix, WEB, "client-ns");
        assert_eq!(first_backends(&m), [(String::new(), 1)], "{label}");
        assert!(m.route_backends.is_empty(), "{label}");
    }
    for g in [
        grant("billing", "g", "HTTPRoute", "shop", None),
        grant("billing", "g", "HTTPRoute", "shop", Some("ledger")),
    ] {
        let mut ix = with([route(), g]);
        let m = answer(&mut ix, WEB, "client-ns");
        assert_eq!(first_backends(&m), [(LEDGER.to_string(), 1)]);
        assert_eq!(
            route_backends(&m),
            [(LEDGER.to_string(), vec!["10.1.2.1:9090".to_string()])]
        );
    }
}

/// A consumer route may send its traffic on to its own parent Service in
/// another namespace without a ReferenceGrant (the suite's
/// MeshConsumerRoute), but to no other Service there.
#[test]
fn a_consumer_route_reaches_its_own_parent_without_a_grant() {
    let mut ix = with([http_route("front", "consumer")
        .parent_in("shop", "web")
        .rule(json!({"backendRefs": [
            {"name": "web", "namespace": "shop", "port": 80},
            {"name": "web-v2", "namespace": "shop", "port": 80}
        ]}))
        .into()]);
    let m = answer(&mut ix, WEB, "front");
    assert_eq!(
        first_backends(&m),
        [
            ("web.shop.svc.cluster.local:80".to_string(), 1),
            (String::new(), 1)
        ]
    );
}

#[test]
fn unusable_backends_keep_their_weight_and_usable_ones_are_listed_once() {
    let mut ix = with([http_route("shop", "web")
        .parent("web", None)
        .rule(json!({"backendRefs": [
            {"name": "gone", "port": 80, "weight": 3},
            {"name": "web-v2"},
            {"name": "web-v2", "port": 99},
            {"group": "example.com", "kind": "Bucket", "name": "b"},
            {"name": "web-v2", "port": 80},
            {"name": "web-v2", "port": 80, "weight": 0},
            {"name": "web-v2", "port": 81, "weight": 5}
        ]}))
        .into()]);
    let m = answer(&mut ix, WEB, "client-ns");
    let alt = "web-v2.shop.svc.cluster.local:81";
    assert_eq!(
        first_backends(&m),
        [
            (String::new(), 3),
            (String::new(), 1),
            (String::new(), 1),
            (String::new(), 1),
            (V2.to_string(), 1),
            (V2.to_string(), 0),
            (alt.to_string(), 5),
        ]
    );
    assert_eq!(
        route_backends(&m),
        [
            (V2.to_string(), vec!["10.1.1.3:8080".to_string()]),
            (alt.to_string(), vec!["10.1.1.3:8081".to_string()]),
        ],
        "each backend once, with its endpoints on the named Service port"
    );
}

#[test]
fn an_external_name_backend_is_refused() {
    let mut ix = with([
        service("shop", "outside", "")
            .port("http", 80, 80)
            .external_name("example.com")
            .into(),
        http_route("shop", "web")
            .parent("web", None)
            .rule(json!({"backendRefs": [{"name": "outside", "port": 80}]}))
            .into(),
    ]);
    let m = answer(&mut ix, WEB, "client-ns");
    assert_eq!(first_backends(&m), [(String::new(), 1)]);
}

// ---- routes and splits ----

#[test]
fn routes_win_over_a_split_on_their_ports_and_the_split_is_told() {
    let mut ix = with([
        // On port 9000 only the root itself has endpoints.
        split("shop", "canary", "web")
            .backend("web", 1)
            .backend("web-v2", 1)
            .into(),
        http_route("shop", "web")
            .parent("web", Some(80))
            .rule(to_v2())
            .into(),
        http_route("front", "mine")
            .parent_in("shop", "web")
            .rule(to_v2())
            .into(),
    ]);
    let m = answer(&mut ix, WEB, "client-ns");
    assert!(m.split_backends.is_empty() && m.split_matches.is_empty());
    assert_eq!(m.routes.len(), 1);
    // Port 9000 has producer routes for nobody, but front's consumer
    // route covers it for front's clients.
    let admin = answer(&mut ix, "10.96.0.20:9000", "client-ns");
    assert_eq!(admin.split_backends.len(), 1);
    assert!(admin.routes.is_empty());
    let admin_front = answer(&mut ix, "10.96.0.20:9000", "front");
    assert!(admin_front.split_backends.is_empty());

    let findings: Vec<_> = ix
        .findings()
        .into_iter()
        .filter(|f| f.reason == reason::SPLIT_OVERRIDDEN_BY_ROUTE)
        .collect();
    assert_eq!(findings.len(), 2, "{findings:#?}");
    assert!(
        findings
            .iter()
            .all(|f| f.kind == Kind::TrafficSplit && f.name == "canary")
    );
    let told = |port: &str, route: &str| {
        findings
            .iter()
            .any(|f| f.message.contains(port) && f.message.contains(route))
    };
    assert!(told("port 80 ", "HTTPRoute shop/web"), "{findings:#?}");
    assert!(
        told(
            "port 9000 ",
            "HTTPRoute front/mine (for clients in namespace front)"
        ),
        "{findings:#?}"
    );
    assert!(!told("port 9000 ", "shop/web"), "{findings:#?}");
}

// ---- refreshes ----

fn changed<T>(rx: &watch::Receiver<T>) -> bool {
    rx.has_changed().expect("the sender is alive")
}

fn current(rx: &mut watch::Receiver<Arc<Outbound>>) -> Meshed {
    meshed((**rx.borrow_and_update()).clone())
}

#[test]
fn a_route_change_reaches_the_subscriptions_of_its_services() {
    let mut ix = with([]);
    let mut by_ip = subscribe(&mut ix, WEB, "client-ns");
    let mut by_name = subscribe(&mut ix, "web.shop:80", "client-ns");
    let other = subscribe(&mut ix, "10.96.1.10:80", "client-ns");
    assert!(current(&mut by_ip).routes.is_empty());
    current(&mut by_name);

    ix.apply(
        http_route("shop", "web")
            .parent("web", None)
            .rule(to_v2())
            .into(),
    );
    assert!(changed(&by_ip) && changed(&by_name));
    assert_eq!(current(&mut by_ip).routes.len(), 1);
    assert_eq!(current(&mut by_name).routes.len(), 1);
    assert!(!changed(&other));

    ix.apply(
        http_route("shop", "web")
            .parent("web", None)
            .rule(to_v2())
            .rule(json!({"matches": [{"path": {"value": "/b"}}]}))
            .into(),
    );
    assert_eq!(current(&mut by_ip).routes.len(), 2);

    // Re-parented: the old parent loses it, the new one gains it.
    let mut v2 = subscribe(&mut ix, "10.96.0.22:80", "client-ns");
    current(&mut v2);
    ix.apply(
        http_route("shop", "web")
            .parent("web-v2", None)
            .rule(to_v2())
            .into(),
    );
    assert!(current(&mut by_ip).routes.is_empty());
    assert_eq!(current(&mut v2).routes.len(), 1);

    ix.delete(Kind::HttpRoute, Some("shop"), "web");
    assert!(current(&mut v2).routes.is_empty());
}

#[test]
fn a_backends_endpoints_reach_the_services_routing_to_it() {
    let mut ix = with([
        grant("billing", "g", "HTTPRoute", "shop", None),
        http_route("shop", "web")
            .parent("web", None)
            .rule(to_ledger())
            .rule(json!({"matches": [{"path": {"value": "/m"}}], "filters": [
                {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "mock", "namespace": "front", "port": 80}}}
            ]}))
            .into(),
        grant("front", "g", "HTTPRoute", "shop", None),
    ]);
    let mut rx = subscribe(&mut ix, WEB, "client-ns");
    assert_eq!(
        route_backends(&current(&mut rx)),
        [
            (LEDGER.to_string(), vec!["10.1.2.1:9090".to_string()]),
            (
                "mock.front.svc.cluster.local:80".to_string(),
                vec!["10.1.3.1:8080".to_string()]
            ),
        ]
    );
    ix.apply(
        slice("billing", "ledger-x", "ledger")
            .port("http", 9090)
            .ready("10.1.2.1", "")
            .ready("10.1.2.2", "")
            .into(),
    );
    assert!(changed(&rx));
    assert_eq!(
        route_backends(&current(&mut rx))[0].1,
        ["10.1.2.1:9090", "10.1.2.2:9090"]
    );
    // A mirror's target counts too.
    ix.delete(Kind::EndpointSlice, Some("front"), "mock-x");
    assert!(changed(&rx));
    assert!(route_backends(&current(&mut rx))[1].1.is_empty());
    // And the backend Service itself.
    ix.delete(Kind::Service, Some("billing"), "ledger");
    assert!(changed(&rx));
    let m = current(&mut rx);
    let to_ledger = m.routes.iter().find(|r| r.rule == "0").unwrap();
    assert_eq!(to_ledger.backends[0].backend, "");
}

#[test]
fn a_reference_grant_reaches_the_routes_it_lets_in() {
    let mut ix = with([http_route("shop", "web")
        .parent("web", None)
        .rule(to_ledger())
        .into()]);
    let mut rx = subscribe(&mut ix, WEB, "client-ns");
    assert_eq!(first_backends(&current(&mut rx)), [(String::new(), 1)]);
    ix.apply(grant("billing", "g", "HTTPRoute", "shop", None));
    assert!(changed(&rx));
    assert_eq!(first_backends(&current(&mut rx)), [(LEDGER.to_string(), 1)]);
    ix.delete(Kind::ReferenceGrant, Some("billing"), "g");
    assert!(changed(&rx));
    assert_eq!(first_backends(&current(&mut rx)), [(String::new(), 1)]);
}

#[test]
fn a_consumer_route_changes_only_its_namespaces_answer() {
    let mut ix = with([http_route("shop", "producer")
        .parent("web", None)
        .rule(to_v2())
        .into()]);
    let mut front = subscribe(&mut ix, WEB, "front");
    let mut others = subscribe(&mut ix, WEB, "client-ns");
    current(&mut front);
    current(&mut others);
    assert_eq!(ix.subscriptions().outbound, 2, "one per client namespace");

    ix.apply(
        http_route("front", "consumer")
            .parent_in("shop", "web")
            .rule(json!({"backendRefs": [{"name": "mock", "port": 80}]}))
            .into(),
    );
    assert!(changed(&front));
    assert_eq!(
        origins(&current(&mut front))[0].0,
        "HTTPRoute/front/consumer"
    );
    assert!(
        !changed(&others),
        "recomputed, but the same answer: not sent"
    );
    assert_eq!(
        origins(&current(&mut others))[0].0,
        "HTTPRoute/shop/producer"
    );
}
