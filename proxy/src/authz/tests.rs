use super::*;
use weft_api::policy::{AllTraffic, Clients, HttpRoutes, OpaqueTraffic};

const WEB: &str = "spiffe://cluster.local/ns/shop/sa/web";
const OTHER: &str = "spiffe://cluster.local/ns/shop/sa/other";

fn mesh(id: &str) -> Client {
    Client::Mesh(id.parse().unwrap())
}

fn anon(ip: &str) -> Client {
    Client::Unauthenticated(format!("{ip}:40000").parse().unwrap())
}

fn grant(name: &str, ids: &[&str], rules: Option<Rules>) -> Authorization {
    Authorization {
        name: name.into(),
        clients: Some(Clients {
            identities: ids.iter().map(|s| s.to_string()).collect(),
            unauthenticated: false,
        }),
        rules,
    }
}

fn policy(
    targeted: bool,
    default: DefaultPolicy,
    auths: Vec<Authorization>,
) -> InboundPolicyUpdate {
    InboundPolicyUpdate {
        protocol: 0,
        default_policy: default.into(),
        authorizations: auths,
        unauthenticated_networks: vec![],
        targeted,
    }
}

#[test]
fn an_untargeted_destination_follows_the_default_policy() {
    let allow = policy(false, DefaultPolicy::Allow, vec![]);
    assert!(connection(&allow, &mesh(WEB), false).is_allowed());
    assert!(connection(&allow, &anon("10.0.0.1"), true).is_allowed());
    let deny = policy(false, DefaultPolicy::Deny, vec![]);
    assert_eq!(
        connection(&deny, &mesh(WEB), false),
        Decision::Deny {
            reason: deny_reason::NO_TRAFFIC_TARGET
        }
    );
    assert_eq!(
        connection(&deny, &anon("10.0.0.1"), false),
        Decision::Deny {
            reason: deny_reason::UNAUTHENTICATED
        }
    );
}

#[test]
fn a_targeted_destination_admits_only_named_sources() {
    let p = policy(
        true,
        DefaultPolicy::Allow,
        vec![grant(
            "tt/web",
            &[WEB],
            Some(Rules::AllTraffic(AllTraffic {})),
        )],
    );
    assert_eq!(
        connection(&p, &mesh(WEB), true),
        Decision::Allow {
            by: "tt/web".into()
        }
    );
    assert_eq!(
        connection(&p, &mesh(OTHER), false),
        Decision::Deny {
            reason: deny_reason::NO_TRAFFIC_TARGET
        }
    );
}

#[test]
fn an_opaque_grant_never_admits_http() {
    let p = policy(
        true,
        DefaultPolicy::Allow,
        vec![grant(
            "tt/web",
            &[WEB],
            Some(Rules::OpaqueTraffic(OpaqueTraffic {})),
        )],
    );
    assert!(connection(&p, &mesh(WEB), false).is_allowed());
    assert!(!connection(&p, &mesh(WEB), true).is_allowed());
}

#[test]
fn a_routes_grant_cannot_admit_a_whole_connection() {
    let p = policy(
        true,
        DefaultPolicy::Allow,
        vec![grant(
            "tt/web",
            &[WEB],
            Some(Rules::HttpRoutes(HttpRoutes { routes: vec![] })),
        )],
    );
    assert_eq!(
        connection(&p, &mesh(WEB), true),
        Decision::Deny {
            reason: deny_reason::ROUTE_NOT_MATCHED
        }
    );
}

#[test]
fn a_rule_that_failed_closed_allows_nothing() {
    let p = policy(
        true,
        DefaultPolicy::Allow,
        vec![grant("tt/web", &[WEB], None)],
    );
    assert!(!connection(&p, &mesh(WEB), false).is_allowed());
}

#[test]
fn unauthenticated_networks_admit_non_mesh_clients_from_them_only() {
    let mut p = policy(true, DefaultPolicy::Deny, vec![]);
    p.unauthenticated_networks = vec!["10.8.0.0/16".into(), "not-a-cidr".into()];
    assert!(connection(&p, &anon("10.8.3.4"), false).is_allowed());
    assert!(!connection(&p, &anon("10.9.3.4"), false).is_allowed());
}

#[test]
fn http_is_recognised_by_its_first_bytes() {
    assert!(looks_like_http(b"GET / HTTP/1.1\r\n"));
    assert!(looks_like_http(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    assert!(!looks_like_http(b"\x16\x03\x01"));
    assert!(!looks_like_http(b"GETX"));
    assert!(!looks_like_http(b""));
}
