use super::*;
use crate::index::InboundError;
use weft_api::contract::annotations as a;
use weft_api::policy::{DefaultPolicy, Protocol};

fn api_pod() -> Resource {
    pod("shop", "api-0").sa("api").ip("10.1.0.5").into()
}

#[test]
fn unknown_pod_has_no_policy() {
    let mut ix = index();
    let err = ix.inbound("shop", "nope", 8080).unwrap_err();
    assert_eq!(
        err,
        InboundError::NoSuchPod {
            namespace: "shop".into(),
            name: "nope".into()
        }
    );
}

#[test]
fn unmeshed_pod_has_no_policy() {
    let mut ix = index_with([pod("shop", "legacy").unmeshed().into()]);
    let err = ix.inbound("shop", "legacy", 8080).unwrap_err();
    assert!(matches!(err, InboundError::NotMeshed { .. }), "{err}");
}

#[test]
fn pod_without_an_ip_yet_has_policy() {
    let mut ix = index_with([pod("shop", "pending").into()]);
    assert!(ix.inbound("shop", "pending", 8080).is_ok());
}

#[test]
fn untargeted_pod_follows_the_mesh_wide_default() {
    let mut ix = index_with([api_pod()]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(p.default_policy(), DefaultPolicy::Allow);
    assert!(!p.targeted);
    assert!(p.authorizations.is_empty());
    // 8080 is the container port named `http`: 9000 is declared by nothing.
    assert_eq!(
        policy(&mut ix, "shop", "api-0", 9000).protocol(),
        Protocol::Detect
    );

    let mut deny = Index::new(Config {
        default_policy: DefaultPolicy::Deny,
        ..cfg()
    });
    deny.apply(api_pod());
    assert_eq!(
        policy(&mut deny, "shop", "api-0", 8080).default_policy(),
        DefaultPolicy::Deny
    );
}

#[test]
fn namespace_default_policy_overrides_the_mesh_wide_one() {
    let mut ix = index_with([
        namespace("shop").ann(a::DEFAULT_POLICY, "deny").into(),
        api_pod(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(p.default_policy(), DefaultPolicy::Deny);
}

#[test]
fn pod_default_policy_overrides_the_namespace() {
    let mut ix = index_with([
        namespace("shop").ann(a::DEFAULT_POLICY, "deny").into(),
        pod("shop", "api-0").ann(a::DEFAULT_POLICY, "allow").into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(p.default_policy(), DefaultPolicy::Allow);
}

#[test]
fn invalid_pod_default_policy_falls_back_to_the_namespace() {
    let mut ix = index_with([
        namespace("shop").ann(a::DEFAULT_POLICY, "deny").into(),
        pod("shop", "api-0").ann(a::DEFAULT_POLICY, "maybe").into(),
    ]);
    let p = policy(&mut ix, "shop", "api-0", 8080);
    assert_eq!(p.default_policy(), DefaultPolicy::Deny);
}

#[test]
fn opaque_ports_come_from_the_pod_annotation_with_ranges() {
    let mut ix = index_with([pod("shop", "db")
        .ann(a::OPAQUE_PORTS, "5432, 7000-7002")
        .into()]);
    for (port, opaque) in [(5432, true), (7001, true), (7003, false), (9000, false)] {
        let p = policy(&mut ix, "shop", "db", port);
        let want = if opaque {
            Protocol::Opaque
        } else {
            Protocol::Detect
        };
        assert_eq!(p.protocol(), want, "port {port}");
    }
}

#[test]
fn opaque_ports_fall_back_to_the_namespace() {
    let mut ix = index_with([
        namespace("shop").ann(a::OPAQUE_PORTS, "5432").into(),
        pod("shop", "db").into(),
    ]);
    assert_eq!(
        policy(&mut ix, "shop", "db", 5432).protocol(),
        Protocol::Opaque
    );
}

#[test]
fn the_pods_opaque_ports_replace_the_namespaces() {
    let mut ix = index_with([
        namespace("shop").ann(a::OPAQUE_PORTS, "5432").into(),
        pod("shop", "db").ann(a::OPAQUE_PORTS, "6379").into(),
    ]);
    assert_eq!(
        policy(&mut ix, "shop", "db", 5432).protocol(),
        Protocol::Detect
    );
    assert_eq!(
        policy(&mut ix, "shop", "db", 6379).protocol(),
        Protocol::Opaque
    );
}

#[test]
fn invalid_opaque_port_entries_are_skipped() {
    let mut ix = index_with([pod("shop", "db")
        .ann(a::OPAQUE_PORTS, "5432,http,9-1,0")
        .into()]);
    assert_eq!(
        policy(&mut ix, "shop", "db", 5432).protocol(),
        Protocol::Opaque
    );
}

#[test]
fn unauthenticated_networks_come_from_the_pod_else_the_namespace() {
    let mut ix = index_with([
        namespace("shop")
            .ann(a::ALLOW_UNAUTHENTICATED_FROM, "192.168.0.0/16")
            .into(),
        pod("shop", "a")
            .ann(a::ALLOW_UNAUTHENTICATED_FROM, "10.2.0.0/16, fd00::/64")
            .into(),
        pod("shop", "b").into(),
    ]);
    assert_eq!(
        policy(&mut ix, "shop", "a", 8080).unauthenticated_networks,
        ["10.2.0.0/16", "fd00::/64"]
    );
    assert_eq!(
        policy(&mut ix, "shop", "b", 8080).unauthenticated_networks,
        ["192.168.0.0/16"]
    );
}

#[test]
fn invalid_unauthenticated_network_entries_are_skipped() {
    let mut ix = index_with([pod("shop", "a")
        .ann(a::ALLOW_UNAUTHENTICATED_FROM, "10.0.0.0/33, nope, 10.3.0.7")
        .into()]);
    assert_eq!(
        policy(&mut ix, "shop", "a", 8080).unauthenticated_networks,
        ["10.3.0.7/32"]
    );
}

#[test]
fn pod_identity_is_its_service_accounts_spiffe_id() {
    let ix = index_with([api_pod(), pod("shop", "plain").into()]);
    assert_eq!(ix.pod_identity("shop", "api-0"), Some(id("shop", "api")));
    assert_eq!(
        ix.pod_identity("shop", "plain"),
        Some(id("shop", "default"))
    );
    assert_eq!(ix.pod_identity("shop", "nope"), None);
}

// ---- ports declared HTTP ----
//
// The fixture pod names its container port 8080 `http`, so the Service
// cases use port 9000, which nothing else declares.

/// shop/api-0, labelled app=api, with an unnamed container port 9000.
fn labelled_pod() -> PodB {
    pod("shop", "api-0")
        .label("app", "api")
        .container_port("", 9000)
}

/// A Service selecting app=api.
fn api_svc() -> SvcB {
    service("shop", "api", "10.96.0.10").selector("app", "api")
}

fn protocol(objects: impl IntoIterator<Item = Resource>, port: u16) -> Protocol {
    policy(&mut index_with(objects), "shop", "api-0", port).protocol()
}

#[test]
fn an_http_app_protocol_declares_the_target_port_http() {
    for p in ["http", "HTTP", "h2c", "grpc", "kubernetes.io/ws"] {
        let svc = api_svc().port("web", 80, 9000).app_protocol(p);
        let objects = [labelled_pod().into(), svc.into()];
        assert_eq!(protocol(objects, 9000), Protocol::Http, "{p}");
    }
}

#[test]
fn an_http_service_port_name_declares_the_target_port_http() {
    for name in ["http-web", "grpc", "http2-api"] {
        let svc = api_svc().port(name, 80, 9000);
        let objects = [labelled_pod().into(), svc.into()];
        assert_eq!(protocol(objects, 9000), Protocol::Http, "{name}");
    }
    let other = api_svc().port("web", 80, 9000);
    assert_eq!(
        protocol([labelled_pod().into(), other.into()], 9000),
        Protocol::Detect
    );
}

#[test]
fn an_app_protocol_wins_over_the_port_name() {
    // The app's own TLS must reach it as bytes, whatever the port is called.
    for p in ["https", "kubernetes.io/wss", "tls", "tcp"] {
        let svc = api_svc().port("http-web", 80, 9000).app_protocol(p);
        let objects = [labelled_pod().into(), svc.into()];
        assert_eq!(protocol(objects, 9000), Protocol::Detect, "{p}");
    }
}

#[test]
fn a_named_target_port_resolves_through_the_pods_container_ports() {
    let objects = || {
        [
            labelled_pod().container_port("admin", 9100).into(),
            api_svc()
                .port_to_name("", 80, "admin")
                .app_protocol("http")
                .into(),
        ]
    };
    assert_eq!(protocol(objects(), 9100), Protocol::Http);
    assert_eq!(protocol(objects(), 9000), Protocol::Detect);
}

#[test]
fn a_service_that_does_not_select_the_pod_declares_nothing() {
    let port = |svc: SvcB| svc.port("web", 80, 9000).app_protocol("http");
    let others = [
        ("another selector", port(api_svc().selector("tier", "db"))),
        ("no selector", port(service("shop", "api", "10.96.0.10"))),
        (
            "another namespace",
            port(service("other", "api", "10.96.0.11").selector("app", "api")),
        ),
    ];
    for (why, svc) in others {
        let objects = [labelled_pod().into(), svc.into()];
        assert_eq!(protocol(objects, 9000), Protocol::Detect, "{why}");
    }
}

#[test]
fn a_container_port_name_declares_the_port_http() {
    // The fixture's container port 8080 is named `http`.
    assert_eq!(protocol([labelled_pod().into()], 8080), Protocol::Http);
    let grpc = labelled_pod().container_port("grpc-api", 9090);
    assert_eq!(protocol([grpc.into()], 9090), Protocol::Http);
    assert_eq!(protocol([labelled_pod().into()], 9000), Protocol::Detect);
}

#[test]
fn http_ports_come_from_the_pod_else_the_namespace() {
    let ns = || namespace("shop").ann(a::HTTP_PORTS, "9000").into();
    let own = || pod("shop", "api-0").ann(a::HTTP_PORTS, "9100-9102, nope");
    assert_eq!(
        protocol([ns(), pod("shop", "api-0").into()], 9000),
        Protocol::Http
    );
    assert_eq!(protocol([ns(), own().into()], 9101), Protocol::Http);
    assert_eq!(protocol([ns(), own().into()], 9000), Protocol::Detect);
}

#[test]
fn opaque_wins_over_every_http_declaration() {
    let objects = [
        pod("shop", "api-0")
            .label("app", "api")
            .ann(a::OPAQUE_PORTS, "8080")
            .ann(a::HTTP_PORTS, "8080")
            .into(),
        api_svc().port("http", 80, 8080).app_protocol("http").into(),
    ];
    assert_eq!(protocol(objects, 8080), Protocol::Opaque);
    let ns_opaque = [
        namespace("shop").ann(a::OPAQUE_PORTS, "8080").into(),
        labelled_pod().into(),
    ];
    assert_eq!(protocol(ns_opaque, 8080), Protocol::Opaque);
}

#[test]
fn a_udp_service_port_declares_nothing() {
    let svc = api_svc().port("http", 80, 9000).protocol("UDP");
    assert_eq!(
        protocol([labelled_pod().into(), svc.into()], 9000),
        Protocol::Detect
    );
}
