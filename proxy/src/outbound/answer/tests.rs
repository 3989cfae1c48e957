use super::*;
use std::sync::Arc;
use weft_api::discovery::{
    self as pb, DiscoveryUpdate, EndpointsAdded, EndpointsRemoved, NotMeshed, Unavailable,
    discovery_update::Kind,
};

const ID: &str = "spiffe://cluster.local/ns/shop/sa/api";

fn ep(addr: &str, id: &str) -> pb::Endpoint {
    pb::Endpoint {
        address: addr.into(),
        identity: id.into(),
        pod: String::new(),
        namespace: String::new(),
    }
}

fn backend(name: &str, weight: u32, eps: Vec<pb::Endpoint>) -> pb::Backend {
    pb::Backend {
        name: name.into(),
        weight,
        endpoints: eps,
    }
}

fn snap(root: Vec<pb::Endpoint>, splits: Vec<pb::Backend>) -> DiscoveryUpdate {
    DiscoveryUpdate {
        kind: Some(Kind::Meshed(pb::Meshed {
            service: "api.shop.svc.cluster.local".into(),
            protocol: 0,
            root: Some(backend("api", 0, root)),
            split_backends: splits,
            split_matches: vec![],
            routes: vec![],
            route_backends: vec![],
        })),
    }
}

fn rule(backends: &[(&str, u32)]) -> pb::RouteRule {
    pb::RouteRule {
        route: "HTTPRoute/shop/api".into(),
        rule: "0".into(),
        backends: backends
            .iter()
            .map(|(b, w)| pb::RouteBackend {
                backend: b.to_string(),
                weight: *w,
                filters: vec![],
            })
            .collect(),
        ..Default::default()
    }
}

/// A snapshot with Gateway API routes and their backends.
fn routed(routes: Vec<pb::RouteRule>, backends: Vec<pb::Backend>) -> DiscoveryUpdate {
    let mut u = snap(vec![ep("10.0.0.1:80", ID)], vec![]);
    if let Some(Kind::Meshed(m)) = &mut u.kind {
        m.routes = routes;
        m.route_backends = backends;
    }
    u
}

fn change(kind: Kind) -> DiscoveryUpdate {
    DiscoveryUpdate { kind: Some(kind) }
}

/// The backend the routes choose for a request to `/`.
fn routed_to(a: &Answer) -> String {
    let mut req = http::Request::new(()).into_parts().0;
    match meshed(a).routes.decide(&mut req, 80, |_| true) {
        crate::outbound::route::Decision::Forward(f) => f.backend.to_string(),
        crate::outbound::route::Decision::Respond(r) => panic!("answered {}", r.status()),
    }
}

fn meshed(a: &Answer) -> &Meshed {
    match a {
        Answer::Meshed(m) => m,
        other => panic!("not meshed: {other:?}"),
    }
}

fn addrs(b: &Backend) -> Vec<String> {
    b.endpoints.iter().map(|e| e.addr.to_string()).collect()
}

#[test]
fn a_snapshot_then_changes() {
    let a = apply(None, snap(vec![ep("10.0.0.1:80", ID)], vec![])).unwrap();
    assert_eq!(addrs(&meshed(&a).root), ["10.0.0.1:80"]);
    let added = DiscoveryUpdate {
        kind: Some(Kind::Added(EndpointsAdded {
            backend: "api".into(),
            endpoints: vec![ep("10.0.0.2:80", ID), ep("10.0.0.3:80", "")],
        })),
    };
    let a = apply(Some(&a), added).unwrap();
    assert_eq!(
        addrs(&meshed(&a).root),
        ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]
    );
    assert!(meshed(&a).root.endpoints[2].id.is_none(), "unmeshed pod");
    let removed = DiscoveryUpdate {
        kind: Some(Kind::Removed(EndpointsRemoved {
            backend: "api".into(),
            addresses: vec!["10.0.0.1:80".into()],
        })),
    };
    let a = apply(Some(&a), removed).unwrap();
    assert_eq!(addrs(&meshed(&a).root), ["10.0.0.2:80", "10.0.0.3:80"]);
}

#[test]
fn endpoints_keep_their_load_across_snapshots() {
    let a = apply(None, snap(vec![ep("10.0.0.1:80", ID)], vec![])).unwrap();
    let before = meshed(&a).root.endpoints[0].clone();
    let b = apply(
        Some(&a),
        snap(
            vec![ep("10.0.0.1:80", ID)],
            vec![backend("api-v2", 1, vec![])],
        ),
    )
    .unwrap();
    assert!(Arc::ptr_eq(&before, &meshed(&b).root.endpoints[0]));
    // Another identity at the same address is another endpoint.
    let c = apply(
        Some(&b),
        snap(
            vec![ep("10.0.0.1:80", "spiffe://cluster.local/ns/shop/sa/x")],
            vec![],
        ),
    )
    .unwrap();
    assert!(!Arc::ptr_eq(&before, &meshed(&c).root.endpoints[0]));
}

#[test]
fn changes_that_cannot_be_followed_ask_for_a_fresh_snapshot() {
    let added = |backend: &str| DiscoveryUpdate {
        kind: Some(Kind::Added(EndpointsAdded {
            backend: backend.into(),
            endpoints: vec![],
        })),
    };
    assert_eq!(
        apply(None, added("api")).unwrap_err(),
        StateError::NoSnapshot
    );
    let a = apply(None, snap(vec![], vec![])).unwrap();
    assert!(matches!(
        apply(Some(&a), added("nope")),
        Err(StateError::UnknownBackend(_))
    ));
    assert_eq!(
        apply(Some(&a), DiscoveryUpdate { kind: None }).unwrap_err(),
        StateError::Empty
    );
}

#[test]
fn not_meshed_unavailable_and_bad_endpoints() {
    let nm = DiscoveryUpdate {
        kind: Some(Kind::NotMeshed(NotMeshed {})),
    };
    assert!(matches!(apply(None, nm).unwrap(), Answer::NotMeshed));
    let un = DiscoveryUpdate {
        kind: Some(Kind::Unavailable(Unavailable {
            reason: "no service yet".into(),
        })),
    };
    assert!(matches!(apply(None, un).unwrap(), Answer::Unavailable(r) if r == "no service yet"));
    let a = apply(
        None,
        snap(
            vec![ep("nowhere", ID), ep("10.0.0.1:80", "not-a-spiffe-id")],
            vec![],
        ),
    )
    .unwrap();
    assert!(meshed(&a).root.endpoints.is_empty());
}

#[test]
fn route_backends_follow_endpoint_changes_like_split_backends() {
    let a = apply(
        None,
        routed(
            vec![rule(&[("api-v2.shop.svc.cluster.local:8080", 1)])],
            vec![backend(
                "api-v2.shop.svc.cluster.local:8080",
                0,
                vec![ep("10.0.1.1:8080", ID)],
            )],
        ),
    )
    .unwrap();
    let m = meshed(&a);
    assert_eq!(m.routes.len(), 1);
    let v2 = "api-v2.shop.svc.cluster.local:8080";
    assert_eq!(addrs(m.route_backend(v2).unwrap()), ["10.0.1.1:8080"]);
    assert!(
        m.route_backend("api").is_none(),
        "the root is not a route backend"
    );
    let a = apply(
        Some(&a),
        change(Kind::Added(EndpointsAdded {
            backend: v2.into(),
            endpoints: vec![ep("10.0.1.2:8080", ID)],
        })),
    )
    .unwrap();
    assert_eq!(
        addrs(meshed(&a).route_backend(v2).unwrap()),
        ["10.0.1.1:8080", "10.0.1.2:8080"]
    );
    assert_eq!(
        addrs(&meshed(&a).root),
        ["10.0.0.1:80"],
        "the root is untouched"
    );
    let b = apply(
        Some(&a),
        change(Kind::Removed(EndpointsRemoved {
            backend: v2.into(),
            addresses: vec!["10.0.1.1:8080".into()],
        })),
    )
    .unwrap();
    assert_eq!(
        addrs(meshed(&b).route_backend(v2).unwrap()),
        ["10.0.1.2:8080"]
    );
    // Endpoint changes keep the compiled routes, balancing state and all.
    assert!(Arc::ptr_eq(&meshed(&a).routes, &meshed(&b).routes));
    assert!(matches!(
        apply(
            Some(&b),
            change(Kind::Added(EndpointsAdded {
                backend: "api-v3.shop.svc.cluster.local:8080".into(),
                endpoints: vec![],
            }))
        ),
        Err(StateError::UnknownBackend(_))
    ));
}

#[test]
fn route_backend_endpoints_keep_their_load_across_snapshots() {
    let v1 = "api-v1.shop.svc.cluster.local:8080";
    let a = apply(
        None,
        routed(
            vec![rule(&[(v1, 1)])],
            vec![backend(v1, 0, vec![ep("10.0.0.1:80", ID)])],
        ),
    )
    .unwrap();
    let before = meshed(&a).route_backend(v1).unwrap().endpoints[0].clone();
    // The root has the same pod: one endpoint, one load.
    assert!(Arc::ptr_eq(&before, &meshed(&a).root.endpoints[0]));
    let b = apply(
        Some(&a),
        routed(
            vec![rule(&[(v1, 1)])],
            vec![backend(v1, 0, vec![ep("10.0.0.1:80", ID)])],
        ),
    )
    .unwrap();
    assert!(Arc::ptr_eq(
        &before,
        &meshed(&b).route_backend(v1).unwrap().endpoints[0]
    ));
}

#[test]
fn a_new_snapshot_keeps_each_remaining_rules_balancing_state() {
    let (v1, v2) = ("v1:80", "v2:80");
    let backends = || vec![backend(v1, 0, vec![]), backend(v2, 0, vec![])];
    let a = apply(None, routed(vec![rule(&[(v1, 1), (v2, 1)])], backends())).unwrap();
    assert_eq!(routed_to(&a), v1);
    let b = apply(
        Some(&a),
        routed(vec![rule(&[(v1, 1), (v2, 1)])], backends()),
    )
    .unwrap();
    assert!(
        !Arc::ptr_eq(&meshed(&a).routes, &meshed(&b).routes),
        "recompiled"
    );
    assert_eq!(routed_to(&b), v2, "the rule carries on where it was");
    // A snapshot without routes has none.
    let c = apply(Some(&b), snap(vec![], vec![])).unwrap();
    assert!(meshed(&c).routes.is_empty());
    assert!(meshed(&c).route_backends.is_empty());
}
