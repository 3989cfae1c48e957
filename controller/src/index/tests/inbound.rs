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
    assert_eq!(p.protocol(), Protocol::Detect);

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
    for (port, opaque) in [(5432, true), (7001, true), (7003, false), (8080, false)] {
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
