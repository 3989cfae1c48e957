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
