use super::*;

fn ep(addr: &str, id: &str) -> Endpoint {
    Endpoint {
        address: addr.into(),
        identity: id.into(),
        pod: format!("pod-{addr}"),
        namespace: "shop".into(),
    }
}

fn backend(name: &str, weight: u32, eps: &[Endpoint]) -> Backend {
    Backend {
        name: name.into(),
        weight,
        endpoints: eps.to_vec(),
    }
}

fn meshed(root: &[Endpoint], split: Vec<Backend>) -> Outbound {
    Outbound::Meshed(Meshed {
        service: "api.shop.svc.cluster.local".into(),
        protocol: 0,
        root: Some(backend("api.shop.svc.cluster.local", 0, root)),
        split_backends: split,
        split_matches: vec![],
        routes: vec![],
        route_backends: vec![],
    })
}

fn kinds(u: &[DiscoveryUpdate]) -> Vec<&Kind> {
    u.iter().map(|u| u.kind.as_ref().unwrap()).collect()
}

const A: &str = "spiffe://cluster.local/ns/shop/sa/api";
const B: &str = "spiffe://cluster.local/ns/shop/sa/other";

#[test]
fn the_first_answer_is_a_snapshot() {
    let next = meshed(&[ep("10.0.0.1:80", A)], vec![]);
    let u = updates(None, &next);
    assert!(matches!(kinds(&u)[..], [Kind::Meshed(_)]));
    assert!(matches!(
        kinds(&updates(None, &Outbound::NotMeshed))[..],
        [Kind::NotMeshed(_)]
    ));
}

#[test]
fn endpoint_churn_is_sent_as_additions_and_removals() {
    let prev = meshed(&[ep("10.0.0.1:80", A), ep("10.0.0.2:80", A)], vec![]);
    let next = meshed(&[ep("10.0.0.2:80", A), ep("10.0.0.3:80", A)], vec![]);
    let u = updates(Some(&prev), &next);
    match kinds(&u)[..] {
        [Kind::Removed(r), Kind::Added(a)] => {
            assert_eq!(r.addresses, vec!["10.0.0.1:80"]);
            assert_eq!(r.backend, "api.shop.svc.cluster.local");
            assert_eq!(a.endpoints, vec![ep("10.0.0.3:80", A)]);
        }
        _ => panic!("{u:?}"),
    }
}

#[test]
fn an_endpoint_whose_identity_changed_is_replaced() {
    let prev = meshed(&[ep("10.0.0.1:80", A)], vec![]);
    let next = meshed(&[ep("10.0.0.1:80", B)], vec![]);
    let u = updates(Some(&prev), &next);
    match kinds(&u)[..] {
        [Kind::Removed(r), Kind::Added(a)] => {
            assert_eq!(r.addresses, vec!["10.0.0.1:80"]);
            assert_eq!(a.endpoints[0].identity, B);
        }
        _ => panic!("{u:?}"),
    }
}

#[test]
fn changes_within_a_split_backend_name_that_backend() {
    let split = |eps: &[Endpoint]| vec![backend("v2.shop.svc.cluster.local", 10, eps)];
    let prev = meshed(&[], split(&[]));
    let next = meshed(&[], split(&[ep("10.0.0.9:80", A)]));
    match kinds(&updates(Some(&prev), &next))[..] {
        [Kind::Added(a)] => assert_eq!(a.backend, "v2.shop.svc.cluster.local"),
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn a_weight_change_is_a_new_snapshot() {
    let prev = meshed(&[], vec![backend("v2", 10, &[])]);
    let next = meshed(&[], vec![backend("v2", 90, &[])]);
    assert!(matches!(
        kinds(&updates(Some(&prev), &next))[..],
        [Kind::Meshed(_)]
    ));
}

#[test]
fn a_change_of_answer_is_a_new_snapshot() {
    let prev = meshed(&[], vec![]);
    let u = updates(Some(&prev), &Outbound::Unavailable("gone".into()));
    assert!(matches!(kinds(&u)[..], [Kind::Unavailable(r)] if r.reason == "gone"));
}

#[test]
fn nothing_visible_changed_sends_nothing() {
    let m = meshed(&[ep("10.0.0.1:80", A)], vec![]);
    assert!(updates(Some(&m), &m.clone()).is_empty());
    assert!(updates(Some(&Outbound::NotMeshed), &Outbound::NotMeshed).is_empty());
}
