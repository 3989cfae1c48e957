use super::*;
use crate::index::{Kind, Subscriptions};
use std::sync::Arc;
use tokio::sync::watch;
use weft_api::contract::annotations as a;
use weft_api::discovery::ProtocolHint;
use weft_api::policy::Protocol;

fn changed<T>(rx: &watch::Receiver<T>) -> bool {
    rx.has_changed().expect("the sender is alive")
}

fn current<T: Clone>(rx: &mut watch::Receiver<Arc<T>>) -> T {
    (**rx.borrow_and_update()).clone()
}

fn subscribe_out(ix: &mut Index, addr: &str) -> watch::Receiver<Arc<Outbound>> {
    ix.outbound(Target::Address(addr.parse().unwrap()), "shop")
        .unwrap()
}

/// shop/api-0 (SA api, 10.1.0.5) behind Service api (10.96.0.10:80), a
/// TCPRoute `all`, and a namespace `other` with its own pod and Service.
fn mesh() -> Index {
    index_with([
        namespace("shop").into(),
        namespace("other").into(),
        pod("shop", "api-0").sa("api").ip("10.1.0.5").into(),
        service("shop", "api", "10.96.0.10")
            .port("http", 80, 8080)
            .into(),
        slice("shop", "api-a", "api")
            .port("http", 8080)
            .ready("10.1.0.5", "api-0")
            .into(),
        tcp_route("shop", "all", &[]),
        pod("other", "x-0").sa("x").ip("10.1.9.5").into(),
        service("other", "x", "10.96.9.10")
            .port("http", 80, 8080)
            .into(),
        slice("other", "x-a", "x")
            .port("http", 8080)
            .ready("10.1.9.5", "x-0")
            .into(),
    ])
}

#[test]
fn a_new_traffic_target_reaches_the_destinations_subscription() {
    let mut ix = mesh();
    let mut rx = ix.inbound("shop", "api-0", 8080).unwrap();
    assert!(!current(&mut rx).targeted);
    ix.apply(
        tt("shop", "web-to-api", "api")
            .source("web", None)
            .rule("TCPRoute", "all", &[])
            .into(),
    );
    assert!(changed(&rx));
    assert!(current(&mut rx).targeted);
}

#[test]
fn an_unrelated_change_leaves_a_subscription_untouched() {
    let mut ix = mesh();
    let inbound = ix.inbound("shop", "api-0", 8080).unwrap();
    let outbound = subscribe_out(&mut ix, "10.96.0.10:80");
    let pod_addr = subscribe_out(&mut ix, "10.1.0.5:8080");

    ix.apply(
        tt("other", "to-x", "x")
            .source("y", None)
            .rule("TCPRoute", "all", &[])
            .into(),
    );
    ix.apply(pod("other", "x-1").sa("x").ip("10.1.9.6").into());
    ix.apply(
        slice("other", "x-a", "x")
            .port("http", 8080)
            .ready("10.1.9.5", "x-0")
            .ready("10.1.9.6", "x-1")
            .into(),
    );
    ix.apply(namespace("other").ann(a::DEFAULT_POLICY, "deny").into());
    // In scope, recomputed, but the same value: not sent.
    ix.apply(tt("shop", "to-db", "db").source("api", None).into());

    assert!(!changed(&inbound));
    assert!(!changed(&outbound));
    assert!(!changed(&pod_addr));
}

#[test]
fn an_identical_object_again_changes_nothing() {
    let mut ix = mesh();
    let inbound = ix.inbound("shop", "api-0", 8080).unwrap();
    ix.apply(pod("shop", "api-0").sa("api").ip("10.1.0.5").into());
    assert!(!changed(&inbound));
}

#[test]
fn an_endpoint_added_and_removed_updates_the_services_subscription() {
    let mut ix = mesh();
    let mut rx = subscribe_out(&mut ix, "10.96.0.10:80");
    let addresses = |o: Outbound| -> Vec<String> {
        let m = meshed(o);
        let root = m.root.unwrap();
        root.endpoints.into_iter().map(|e| e.address).collect()
    };
    assert_eq!(addresses(current(&mut rx)), ["10.1.0.5:8080"]);

    ix.apply(pod("shop", "api-1").sa("api").ip("10.1.0.6").into());
    ix.apply(
        slice("shop", "api-a", "api")
            .port("http", 8080)
            .ready("10.1.0.5", "api-0")
            .ready("10.1.0.6", "api-1")
            .into(),
    );
    assert!(changed(&rx));
    assert_eq!(
        addresses(current(&mut rx)),
        ["10.1.0.5:8080", "10.1.0.6:8080"]
    );

    ix.delete(Kind::EndpointSlice, Some("shop"), "api-a");
    assert!(changed(&rx));
    assert!(addresses(current(&mut rx)).is_empty());
}

#[test]
fn a_pod_leaving_the_mesh_clears_its_endpoint_identity() {
    let mut ix = mesh();
    let mut rx = subscribe_out(&mut ix, "10.96.0.10:80");
    ix.apply(
        pod("shop", "api-0")
            .sa("api")
            .ip("10.1.0.5")
            .unmeshed()
            .into(),
    );
    assert!(changed(&rx));
    let m = meshed(current(&mut rx));
    assert_eq!(m.root.unwrap().endpoints[0].identity, "");
}

#[test]
fn a_deleted_pod_ends_its_inbound_stream_and_its_address_becomes_unavailable() {
    let mut ix = mesh();
    let rx = ix.inbound("shop", "api-0", 8080).unwrap();
    let mut addr = subscribe_out(&mut ix, "10.1.0.5:8080");
    ix.delete(Kind::Pod, Some("shop"), "api-0");
    assert!(rx.has_changed().is_err(), "the sender is dropped");
    assert!(matches!(current(&mut addr), Outbound::Unavailable(_)));
    assert_eq!(ix.subscriptions().inbound, 0);
}

#[test]
fn a_service_created_later_turns_unavailable_into_meshed() {
    let mut ix = mesh();
    let mut rx = ix
        .outbound(
            Target::Authority("web.shop.svc.cluster.local".into()),
            "shop",
        )
        .unwrap();
    assert!(matches!(current(&mut rx), Outbound::Unavailable(_)));
    ix.apply(
        service("shop", "web", "10.96.0.11")
            .port("http", 80, 80)
            .into(),
    );
    assert!(changed(&rx));
    assert!(matches!(current(&mut rx), Outbound::Meshed(_)));
}

#[test]
fn a_namespace_annotation_reaches_inbound_and_outbound_subscriptions() {
    let mut ix = mesh();
    let mut inbound = ix.inbound("shop", "api-0", 8080).unwrap();
    let mut outbound = subscribe_out(&mut ix, "10.96.0.10:80");
    ix.apply(namespace("shop").ann(a::OPAQUE_PORTS, "80,8080").into());
    assert_eq!(current(&mut inbound).protocol(), Protocol::Opaque);
    assert_eq!(
        meshed(current(&mut outbound)).protocol(),
        ProtocolHint::Opaque
    );
}

#[test]
fn a_route_group_change_reaches_targets_and_splits_using_it() {
    let mut ix = mesh();
    ix.apply(
        service("shop", "api-v2", "10.96.0.12")
            .port("http", 80, 8080)
            .into(),
    );
    ix.apply(
        tt("shop", "web-to-api", "api")
            .source("web", None)
            .rule("HTTPRouteGroup", "routes", &[])
            .into(),
    );
    ix.apply(
        split("shop", "canary", "api")
            .backend("api-v2", 1)
            .matches("HTTPRouteGroup", "routes")
            .into(),
    );
    let mut inbound = ix.inbound("shop", "api-0", 8080).unwrap();
    let mut outbound = subscribe_out(&mut ix, "10.96.0.10:80");
    assert_eq!(current(&mut inbound).authorizations[0].rules, None);
    assert!(meshed(current(&mut outbound)).split_backends.is_empty());

    ix.apply(group("shop", "routes").m("all", None, &[], &[]).into());
    assert!(current(&mut inbound).authorizations[0].rules.is_some());
    assert_eq!(meshed(current(&mut outbound)).split_matches.len(), 1);
}

#[test]
fn a_backends_endpoints_and_a_splits_weights_reach_the_roots_subscription() {
    let mut ix = mesh();
    ix.apply(
        service("shop", "api-v2", "10.96.0.12")
            .port("http", 80, 8080)
            .into(),
    );
    ix.apply(
        split("shop", "canary", "api")
            .backend("api", 9)
            .backend("api-v2", 1)
            .into(),
    );
    let mut rx = subscribe_out(&mut ix, "10.96.0.10:80");
    assert!(
        meshed(current(&mut rx)).split_backends[1]
            .endpoints
            .is_empty()
    );

    ix.apply(
        slice("shop", "api-v2-a", "api-v2")
            .port("http", 8080)
            .ready("10.1.0.7", "")
            .into(),
    );
    assert!(changed(&rx));
    assert_eq!(
        meshed(current(&mut rx)).split_backends[1].endpoints.len(),
        1
    );

    ix.apply(
        split("shop", "canary", "api")
            .backend("api", 0)
            .backend("api-v2", 1)
            .into(),
    );
    assert!(changed(&rx));
    assert_eq!(meshed(current(&mut rx)).split_backends[0].weight, 0);
}

#[test]
fn a_relist_removes_vanished_objects() {
    let mut ix = mesh();
    ix.apply(
        tt("shop", "old", "api")
            .source("web", None)
            .rule("TCPRoute", "all", &[])
            .into(),
    );
    let mut rx = ix.inbound("shop", "api-0", 8080).unwrap();
    assert_eq!(
        names(&current(&mut rx)),
        ["traffictarget/shop/old/TCPRoute/all"]
    );

    ix.reset(
        Kind::TrafficTarget,
        vec![
            tt("shop", "new", "api")
                .source("web", None)
                .rule("TCPRoute", "all", &[])
                .into(),
        ],
    );
    assert_eq!(
        names(&current(&mut rx)),
        ["traffictarget/shop/new/TCPRoute/all"]
    );
    ix.reset(Kind::TrafficTarget, Vec::new());
    assert!(!current(&mut rx).targeted);
}

#[test]
fn a_relist_is_applied_as_one_swap() {
    // The same endpoint moves from one slice to another. Applied one object
    // at a time, subscribers would see it vanish and come back.
    let mut ix = mesh();
    let rx = subscribe_out(&mut ix, "10.96.0.10:80");
    ix.reset(
        Kind::EndpointSlice,
        vec![
            slice("shop", "api-b", "api")
                .port("http", 8080)
                .ready("10.1.0.5", "api-0")
                .into(),
            slice("other", "x-a", "x")
                .port("http", 8080)
                .ready("10.1.9.5", "x-0")
                .into(),
        ],
    );
    assert!(!changed(&rx));
    ix.delete(Kind::EndpointSlice, Some("shop"), "api-b");
    assert!(changed(&rx), "the relist did replace the slice");
}

#[test]
fn one_destination_shares_one_subscription_per_client_namespace() {
    let mut ix = mesh();
    let _a = ix.inbound("shop", "api-0", 8080).unwrap();
    let _b = ix.inbound("shop", "api-0", 8080).unwrap();
    let _c = ix
        .outbound(Target::Authority("api.shop:80".into()), "shop")
        .unwrap();
    let _d = ix
        .outbound(Target::Authority("api".into()), "shop")
        .unwrap();
    let _e = ix
        .outbound(Target::Authority("api.shop:80".into()), "x")
        .unwrap();
    // Consumer routes make the answer depend on the client's namespace.
    assert_eq!(
        ix.subscriptions(),
        Subscriptions {
            inbound: 1,
            outbound: 2
        }
    );
}

#[test]
fn dropped_receivers_are_garbage_collected() {
    let mut ix = mesh();
    let inbound = ix.inbound("shop", "api-0", 8080).unwrap();
    let outbound = subscribe_out(&mut ix, "10.96.0.10:80");
    let _kept = subscribe_out(&mut ix, "10.96.9.10:80");
    drop((inbound, outbound));

    // Recomputation drops senders nobody listens to.
    ix.apply(namespace("shop").ann(a::OPAQUE_PORTS, "1").into());
    assert_eq!(
        ix.subscriptions(),
        Subscriptions {
            inbound: 0,
            outbound: 1
        }
    );

    // So does making a new subscription, for keys no change reaches.
    let far = ix
        .outbound(Target::Authority("example.com".into()), "shop")
        .unwrap();
    drop(far);
    let _new = subscribe_out(&mut ix, "10.1.0.5:8080");
    assert_eq!(ix.subscriptions().outbound, 2);
}

#[test]
fn a_service_declaring_http_re_streams_the_pods_it_selects() {
    let web = |app_protocol: &str| -> Resource {
        service("shop", "api", "10.96.0.10")
            .selector("app", "api")
            .port("web", 80, 9000)
            .app_protocol(app_protocol)
            .into()
    };
    let mut ix = index_with([pod("shop", "api-0").label("app", "api").into()]);
    let mut rx = ix.inbound("shop", "api-0", 9000).unwrap();
    assert_eq!(current(&mut rx).protocol(), Protocol::Detect);

    ix.apply(web("http"));
    assert!(changed(&rx), "added");
    assert_eq!(current(&mut rx).protocol(), Protocol::Http);

    ix.apply(web("tcp"));
    assert!(changed(&rx), "updated");
    assert_eq!(current(&mut rx).protocol(), Protocol::Detect);

    ix.reset(Kind::Service, vec![web("grpc")]);
    assert!(changed(&rx), "relisted");
    assert_eq!(current(&mut rx).protocol(), Protocol::Http);

    ix.delete(Kind::Service, Some("shop"), "api");
    assert!(changed(&rx), "deleted");
    assert_eq!(current(&mut rx).protocol(), Protocol::Detect);
}

#[test]
fn a_pod_relabelled_out_of_a_services_selector_is_no_longer_http() {
    let mut ix = index_with([
        pod("shop", "api-0").label("app", "api").into(),
        service("shop", "api", "10.96.0.10")
            .selector("app", "api")
            .port("http", 80, 9000)
            .into(),
    ]);
    let mut rx = ix.inbound("shop", "api-0", 9000).unwrap();
    assert_eq!(current(&mut rx).protocol(), Protocol::Http);
    ix.apply(pod("shop", "api-0").label("app", "api-v2").into());
    assert!(changed(&rx));
    assert_eq!(current(&mut rx).protocol(), Protocol::Detect);
}
