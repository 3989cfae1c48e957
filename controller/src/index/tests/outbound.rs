use super::*;
use crate::index::OutboundError;
use weft_api::contract::annotations as a;
use weft_api::discovery::{Endpoint, ProtocolHint};

const API: &str = "api.shop.svc.cluster.local";

/// Service shop/api at 10.96.0.10:80 → 8080, two ready meshed pods.
fn shop() -> Vec<Resource> {
    vec![
        pod("shop", "api-0").sa("api").ip("10.1.0.5").into(),
        pod("shop", "api-1").sa("api").ip("10.1.0.6").into(),
        service("shop", "api", "10.96.0.10")
            .port("http", 80, 8080)
            .into(),
        slice("shop", "api-abc", "api")
            .port("http", 8080)
            .ready("10.1.0.5", "api-0")
            .ready("10.1.0.6", "api-1")
            .into(),
    ]
}

fn ep(address: &str, identity: &str, pod: &str) -> Endpoint {
    Endpoint {
        address: address.into(),
        identity: identity.into(),
        pod: pod.into(),
        namespace: if pod.is_empty() { "" } else { "shop" }.into(),
    }
}

fn root_endpoints(m: &Meshed) -> Vec<&str> {
    let root = m.root.as_ref().expect("root");
    root.endpoints.iter().map(|e| e.address.as_str()).collect()
}

fn out_from(ix: &mut Index, authority: &str, source_ns: &str) -> Outbound {
    let rx = ix
        .outbound(Target::Authority(authority.into()), source_ns)
        .unwrap();
    let o = rx.borrow();
    (**o).clone()
}

#[test]
fn a_services_cluster_ip_and_port_is_meshed_with_its_endpoints() {
    let mut ix = index_with(shop());
    let m = meshed(out(&mut ix, "10.96.0.10:80"));
    assert_eq!(m.service, API);
    assert_eq!(m.protocol(), ProtocolHint::Detect);
    let root = m.root.as_ref().unwrap();
    assert_eq!(root.name, API);
    assert_eq!(
        root.endpoints,
        [
            ep("10.1.0.5:8080", &id("shop", "api"), "api-0"),
            ep("10.1.0.6:8080", &id("shop", "api"), "api-1"),
        ]
    );
    assert!(m.split_backends.is_empty());
}

#[test]
fn a_cluster_ip_on_a_port_the_service_lacks_is_unavailable() {
    let mut ix = index_with(shop());
    assert!(matches!(
        out(&mut ix, "10.96.0.10:81"),
        Outbound::Unavailable(_)
    ));
}

#[test]
fn a_headless_service_is_found_by_name_only() {
    let mut ix = index_with([service("shop", "db", "None").port("pg", 5432, 5432).into()]);
    assert_eq!(
        meshed(out(&mut ix, "db.shop:5432")).service,
        "db.shop.svc.cluster.local"
    );
}

#[test]
fn an_external_name_service_is_not_meshed() {
    let mut ix = index_with([service("shop", "ext", "")
        .port("https", 443, 443)
        .external_name("example.com")
        .into()]);
    assert_eq!(out(&mut ix, "ext.shop.svc:443"), Outbound::NotMeshed);
}

#[test]
fn a_meshed_pods_ip_is_meshed_with_the_pod_as_its_one_endpoint() {
    let mut ix = index_with(shop());
    let m = meshed(out(&mut ix, "10.1.0.5:8080"));
    assert_eq!(m.service, "");
    assert!(m.split_backends.is_empty());
    assert_eq!(
        m.root.unwrap().endpoints,
        [ep("10.1.0.5:8080", &id("shop", "api"), "api-0")]
    );
}

#[test]
fn an_unmeshed_pods_ip_is_not_meshed() {
    let mut ix = index_with([pod("shop", "legacy").unmeshed().ip("10.1.0.9").into()]);
    assert_eq!(out(&mut ix, "10.1.0.9:8080"), Outbound::NotMeshed);
}

#[test]
fn a_host_network_pods_ip_is_not_a_pod_address() {
    let mut ix = index_with([pod("kube-system", "agent")
        .host_network()
        .ip("192.168.1.10")
        .into()]);
    assert_eq!(out(&mut ix, "192.168.1.10:9100"), Outbound::NotMeshed);
}

#[test]
fn a_finished_pods_ip_is_not_its_address_any_more() {
    let mut ix = index_with([pod("shop", "job").phase("Succeeded").ip("10.1.0.7").into()]);
    assert!(matches!(
        out(&mut ix, "10.1.0.7:8080"),
        Outbound::Unavailable(_)
    ));
}

#[test]
fn an_unknown_address_inside_the_cluster_networks_is_unavailable() {
    let mut ix = index();
    assert_eq!(
        out(&mut ix, "10.200.0.1:80"),
        Outbound::Unavailable("no service or pod has this address yet".into())
    );
    assert!(matches!(
        out(&mut ix, "[fd00::1]:80"),
        Outbound::Unavailable(_)
    ));
}

#[test]
fn an_unknown_address_outside_the_cluster_networks_is_not_meshed() {
    let mut ix = index();
    assert_eq!(out(&mut ix, "93.184.216.34:443"), Outbound::NotMeshed);
    assert_eq!(out(&mut ix, "[2001:db8::1]:443"), Outbound::NotMeshed);
}

#[test]
fn the_cluster_publishes_its_own_networks() {
    // Nothing configured: the pod range comes from the nodes and the
    // Service range from the ServiceCIDRs, as the cluster says them. With
    // a fixed private-range default, a cluster on other addresses (the e2e
    // cluster's 198.18.0.0/15) would get plaintext towards a pod the
    // controller has not seen yet.
    let mut ix = Index::new(Config::new("cluster.local".parse().unwrap()));
    let pod_addr = "198.18.128.9:8080";
    let rx = ix
        .outbound(Target::Address(pod_addr.parse().unwrap()), "client-ns")
        .unwrap();
    assert_eq!(**rx.borrow(), Outbound::NotMeshed);
    let node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "node-1"},
        "spec": {"podCIDR": "198.18.128.0/20", "podCIDRs": ["198.18.128.0/20", "fd10::/64"]}
    }))
    .unwrap();
    ix.apply(Resource::Node(node));
    // The subscription made before the node was seen answers anew.
    assert!(
        matches!(**rx.borrow(), Outbound::Unavailable(_)),
        "{:?}",
        **rx.borrow()
    );
    assert!(matches!(
        out(&mut ix, "[fd10::9]:80"),
        Outbound::Unavailable(_)
    ));
    assert_eq!(out(&mut ix, "198.19.0.10:80"), Outbound::NotMeshed);
    let services = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kubernetes"},
        "spec": {"cidrs": ["198.19.0.0/20"]}
    }))
    .unwrap();
    ix.apply(Resource::ServiceCidr(services));
    assert!(matches!(
        out(&mut ix, "198.19.0.10:80"),
        Outbound::Unavailable(_)
    ));
    assert_eq!(out(&mut ix, "93.184.216.34:443"), Outbound::NotMeshed);
    assert_eq!(
        ix.cluster_networks()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["198.18.128.0/20", "198.19.0.0/20", "fd10::/64"]
    );
    ix.delete(crate::index::Kind::Node, None, "node-1");
    assert_eq!(**rx.borrow(), Outbound::NotMeshed);
}

#[test]
fn every_spelling_of_a_service_name_is_canonicalised() {
    let mut ix = index_with(shop());
    for authority in [
        "api.shop:80",
        "api.shop.svc:80",
        "api.shop.svc.cluster.local:80",
        "api.shop.svc.cluster.local.:80",
        "API.Shop.SVC.cluster.local",
        "api.shop",
    ] {
        let m = meshed(out_from(&mut ix, authority, "elsewhere"));
        assert_eq!(m.service, API, "{authority}");
    }
    let m = meshed(out_from(&mut ix, "api", "shop"));
    assert_eq!(m.service, API, "a bare name is in the client's namespace");
    assert_eq!(
        out_from(&mut ix, "api", "elsewhere"),
        Outbound::NotMeshed,
        "no service api in the client's namespace"
    );
}

#[test]
fn an_authority_without_a_port_means_port_80() {
    let mut ix = index_with([service("shop", "web", "10.96.0.11")
        .port("http", 8080, 8080)
        .into()]);
    assert!(matches!(
        out(&mut ix, "web.shop.svc"),
        Outbound::Unavailable(_)
    ));
    assert!(matches!(
        out(&mut ix, "web.shop.svc:8080"),
        Outbound::Meshed(_)
    ));
}

#[test]
fn an_unknown_cluster_service_name_is_unavailable() {
    let mut ix = index();
    assert_eq!(
        out(&mut ix, "new.shop.svc.cluster.local:80"),
        Outbound::Unavailable("no service shop/new yet".into())
    );
    assert!(matches!(
        out(&mut ix, "new.shop.svc:80"),
        Outbound::Unavailable(_)
    ));
    assert!(matches!(
        out(&mut ix, "web-0.web.shop.svc.cluster.local:80"),
        Outbound::Unavailable(_)
    ));
}

#[test]
fn unknown_short_names_and_external_names_are_not_meshed() {
    let mut ix = index();
    assert_eq!(out(&mut ix, "example.com:443"), Outbound::NotMeshed);
    assert_eq!(out(&mut ix, "redis"), Outbound::NotMeshed);
    assert_eq!(out(&mut ix, "www.example.com"), Outbound::NotMeshed);
    assert_eq!(
        out(&mut ix, "api.shop.svc.other.domain"),
        Outbound::NotMeshed
    );
}

#[test]
fn an_authority_with_an_ip_host_is_looked_up_as_an_address() {
    let mut ix = index_with(shop());
    assert_eq!(meshed(out(&mut ix, "10.96.0.10")).service, API);
    let rx = ix
        .outbound(Target::Authority("[fd00::5]:80".into()), "x")
        .unwrap();
    assert!(matches!(**rx.borrow(), Outbound::Unavailable(_)));
}

#[test]
fn an_invalid_authority_is_an_error() {
    let mut ix = index();
    for bad in ["api:http", "user@api:80", ":80", "[fd00::1", "api:70000"] {
        let err = ix
            .outbound(Target::Authority(bad.into()), "shop")
            .unwrap_err();
        assert!(
            matches!(err, OutboundError::InvalidAuthority { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn endpoints_marked_not_ready_are_left_out_and_absent_readiness_means_ready() {
    let mut ix = index_with([
        pod("shop", "api-0").sa("api").ip("10.1.0.5").into(),
        pod("shop", "api-1").sa("api").ip("10.1.0.6").into(),
        pod("shop", "api-2").sa("api").ip("10.1.0.7").into(),
        service("shop", "api", "10.96.0.10")
            .port("http", 80, 8080)
            .into(),
        slice("shop", "api-abc", "api")
            .port("http", 8080)
            .endpoint("10.1.0.5", "api-0", Some(true))
            .endpoint("10.1.0.6", "api-1", Some(false))
            .endpoint("10.1.0.7", "api-2", None)
            .into(),
    ]);
    let m = meshed(out(&mut ix, "10.96.0.10:80"));
    assert_eq!(root_endpoints(&m), ["10.1.0.5:8080", "10.1.0.7:8080"]);
}

#[test]
fn an_endpoint_is_listed_once_its_pod_is_seen() {
    let mut ix = index_with([
        service("shop", "api", "10.96.0.10")
            .port("http", 80, 8080)
            .into(),
        slice("shop", "api-abc", "api")
            .port("http", 8080)
            .ready("10.1.0.5", "api-0")
            .into(),
    ]);
    let rx = ix
        .outbound(Target::Authority("10.96.0.10:80".into()), "shop")
        .unwrap();
    let endpoints =
        |rx: &tokio::sync::watch::Receiver<std::sync::Arc<Outbound>>| match &**rx.borrow() {
            Outbound::Meshed(m) => m.root.as_ref().unwrap().endpoints.clone(),
            other => panic!("{other:?}"),
        };
    assert!(
        endpoints(&rx).is_empty(),
        "an unseen pod's endpoint is listed"
    );
    ix.apply(pod("shop", "api-0").sa("api").ip("10.1.0.5").into());
    assert_eq!(
        endpoints(&rx),
        [ep("10.1.0.5:8080", &id("shop", "api"), "api-0")]
    );
}

#[test]
fn endpoint_identity_is_the_pods_when_meshed_and_empty_otherwise() {
    // A pod the index has not seen is left out (never guessed plaintext);
    // an endpoint that names no pod is outside the mesh.
    let mut ix = index_with([
        pod("shop", "api-0").sa("api").ip("10.1.0.5").into(),
        pod("shop", "legacy").unmeshed().ip("10.1.0.6").into(),
        service("shop", "api", "10.96.0.10")
            .port("http", 80, 8080)
            .into(),
        slice("shop", "api-abc", "api")
            .port("http", 8080)
            .ready("10.1.0.5", "api-0")
            .ready("10.1.0.6", "legacy")
            .ready("10.1.0.7", "unknown-pod")
            .ready("10.1.0.8", "")
            .into(),
    ]);
    let m = meshed(out(&mut ix, "10.96.0.10:80"));
    assert_eq!(
        m.root.unwrap().endpoints,
        [
            ep("10.1.0.5:8080", &id("shop", "api"), "api-0"),
            ep("10.1.0.6:8080", "", "legacy"),
            ep("10.1.0.8:8080", "", ""),
        ]
    );
}

#[test]
fn endpoints_use_the_slice_port_named_like_the_service_port() {
    let mut ix = index_with([
        service("shop", "api", "10.96.0.10")
            .port("http", 80, 8080)
            .port("admin", 9000, 9090)
            .into(),
        slice("shop", "api-abc", "api")
            .port("admin", 9090)
            .port("http", 8080)
            .ready("10.1.0.5", "")
            .into(),
    ]);
    let m = meshed(out(&mut ix, "10.96.0.10:9000"));
    assert_eq!(root_endpoints(&m), ["10.1.0.5:9090"]);
}

#[test]
fn an_endpoint_in_two_slices_is_listed_once_and_other_services_slices_are_ignored() {
    let mut ix = index_with([
        service("shop", "api", "10.96.0.10")
            .port("", 80, 8080)
            .into(),
        slice("shop", "api-a", "api")
            .port("", 8080)
            .ready("10.1.0.5", "")
            .into(),
        slice("shop", "api-b", "api")
            .port("", 8080)
            .ready("10.1.0.5", "")
            .ready("10.1.0.6", "")
            .into(),
        slice("shop", "web-a", "web")
            .port("", 8080)
            .ready("10.1.0.9", "")
            .into(),
    ]);
    let m = meshed(out(&mut ix, "10.96.0.10:80"));
    assert_eq!(root_endpoints(&m), ["10.1.0.5:8080", "10.1.0.6:8080"]);
}

#[test]
fn a_port_the_service_lists_as_opaque_is_hinted_opaque() {
    let mut ix = index_with([service("shop", "db", "10.96.0.12")
        .port("pg", 5432, 5432)
        .port("metrics", 9187, 9187)
        .ann(a::OPAQUE_PORTS, "5432")
        .into()]);
    assert_eq!(
        meshed(out(&mut ix, "10.96.0.12:5432")).protocol(),
        ProtocolHint::Opaque
    );
    assert_eq!(
        meshed(out(&mut ix, "10.96.0.12:9187")).protocol(),
        ProtocolHint::Detect
    );
}

#[test]
fn the_services_namespace_opaque_ports_apply_when_it_has_none() {
    let mut ix = index_with([
        namespace("shop").ann(a::OPAQUE_PORTS, "5432").into(),
        service("shop", "db", "10.96.0.12")
            .port("pg", 5432, 5432)
            .into(),
    ]);
    assert_eq!(
        meshed(out(&mut ix, "10.96.0.12:5432")).protocol(),
        ProtocolHint::Opaque
    );
}

#[test]
fn an_endpoint_pods_opaque_target_port_makes_the_service_port_opaque() {
    let mut ix = index_with([
        pod("shop", "db-0")
            .ann(a::OPAQUE_PORTS, "5432")
            .ip("10.1.0.8")
            .into(),
        service("shop", "db", "10.96.0.12")
            .port("pg", 15432, 5432)
            .into(),
        slice("shop", "db-x", "db")
            .port("pg", 5432)
            .ready("10.1.0.8", "db-0")
            .into(),
    ]);
    assert_eq!(
        meshed(out(&mut ix, "10.96.0.12:15432")).protocol(),
        ProtocolHint::Opaque
    );
    assert_eq!(
        meshed(out(&mut ix, "10.1.0.8:5432")).protocol(),
        ProtocolHint::Opaque
    );
}

#[test]
fn http2_app_protocols_hint_http2() {
    for proto in ["kubernetes.io/h2c", "grpc", "h2c", "http2"] {
        let mut ix = index_with([service("shop", "g", "10.96.0.13")
            .port("grpc", 9090, 9090)
            .app_protocol(proto)
            .into()]);
        assert_eq!(
            meshed(out(&mut ix, "10.96.0.13:9090")).protocol(),
            ProtocolHint::Http2,
            "{proto}"
        );
    }
    let mut ix = index_with([service("shop", "g", "10.96.0.13")
        .port("web", 80, 80)
        .app_protocol("http")
        .into()]);
    assert_eq!(
        meshed(out(&mut ix, "10.96.0.13:80")).protocol(),
        ProtocolHint::Detect
    );
}

#[test]
fn opaque_wins_over_an_http2_app_protocol() {
    let mut ix = index_with([service("shop", "g", "10.96.0.13")
        .port("grpc", 9090, 9090)
        .app_protocol("grpc")
        .ann(a::OPAQUE_PORTS, "9090")
        .into()]);
    assert_eq!(
        meshed(out(&mut ix, "10.96.0.13:9090")).protocol(),
        ProtocolHint::Opaque
    );
}

#[test]
fn ports_the_far_proxy_does_not_intercept_are_not_meshed() {
    let mut ix = index_with(vec![
        pod("shop", "db-0")
            .sa("db")
            .ip("10.1.0.9")
            .skip_inbound("5432")
            .into(),
    ]);
    // The admin port and a skipped port reach the pod directly: mesh TLS
    // sent there would arrive raw.
    let admin = format!("10.1.0.9:{}", weft_api::contract::ports::ADMIN);
    assert_eq!(out(&mut ix, &admin), Outbound::NotMeshed);
    assert_eq!(out(&mut ix, "10.1.0.9:5432"), Outbound::NotMeshed);
    let m = meshed(out(&mut ix, "10.1.0.9:8080"));
    assert_eq!(m.root.unwrap().endpoints[0].identity, id("shop", "db"));
}

#[test]
fn an_annotation_added_later_does_not_downgrade_clients_to_plaintext() {
    // weft-init redirected every port; the annotations came afterwards
    // (a pod patch, a namespace edit) and changed nothing in the pod.
    let mut ix = index_with(vec![
        namespace("shop").ann(a::SKIP_INBOUND_PORTS, "8080").into(),
        pod("shop", "db-0")
            .sa("db")
            .ip("10.1.0.9")
            .ann(a::SKIP_INBOUND_PORTS, "5432,8080")
            .into(),
    ]);
    for target in ["10.1.0.9:5432", "10.1.0.9:8080"] {
        let m = meshed(out(&mut ix, target));
        assert_eq!(
            m.root.unwrap().endpoints[0].identity,
            id("shop", "db"),
            "{target}"
        );
    }
}

#[test]
fn a_service_endpoint_on_a_skipped_port_has_no_identity() {
    let mut ix = index_with(vec![
        pod("shop", "db-0")
            .sa("db")
            .ip("10.1.0.9")
            .skip_inbound("5432")
            .into(),
        service("shop", "db", "10.96.0.20")
            .port("pg", 5432, 5432)
            .into(),
        slice("shop", "db-abc", "db")
            .port("pg", 5432)
            .ready("10.1.0.9", "db-0")
            .into(),
    ]);
    let m = meshed(out(&mut ix, "10.96.0.20:5432"));
    assert_eq!(m.root.unwrap().endpoints, [ep("10.1.0.9:5432", "", "db-0")]);
}
