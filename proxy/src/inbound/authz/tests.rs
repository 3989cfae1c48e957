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

fn get(path: &str) -> (http::HeaderMap, String) {
    (http::HeaderMap::new(), path.to_string())
}

fn ask(policy: &InboundPolicyUpdate, client: &Client, method: &str, path: &str) -> Decision {
    let (headers, path) = get(path);
    request(
        policy,
        client,
        &routes::Request {
            method,
            path: &path,
            headers: &headers,
        },
        &routes::Regexes::default(),
    )
}

fn routes_grant(ids: &[&str], path: &str, methods: &[&str]) -> Authorization {
    grant(
        "traffictarget/shop/to-api",
        ids,
        Some(Rules::HttpRoutes(HttpRoutes {
            routes: vec![weft_api::policy::HttpRoute {
                name: "api/allowed".into(),
                path_regex: path.into(),
                methods: methods.iter().map(|m| m.to_string()).collect(),
                headers: vec![],
            }],
        })),
    )
}

#[test]
fn requests_are_matched_against_route_grants() {
    let p = policy(
        true,
        DefaultPolicy::Allow,
        vec![routes_grant(&[WEB], "/allowed", &["GET"])],
    );
    assert!(ask(&p, &mesh(WEB), "GET", "/allowed/x").is_allowed());
    let route_not_matched = Decision::Deny {
        reason: deny_reason::ROUTE_NOT_MATCHED,
    };
    assert_eq!(ask(&p, &mesh(WEB), "GET", "/denied"), route_not_matched);
    assert_eq!(ask(&p, &mesh(WEB), "POST", "/allowed"), route_not_matched);
    assert_eq!(
        ask(&p, &mesh(OTHER), "GET", "/allowed"),
        Decision::Deny {
            reason: deny_reason::NO_TRAFFIC_TARGET
        }
    );
    // The connection-level check still cannot honour a routes-only grant.
    assert!(!connection(&p, &mesh(WEB), false).is_allowed());
}

#[test]
fn all_traffic_allows_every_request_and_opaque_grants_allow_none() {
    let all = policy(
        true,
        DefaultPolicy::Deny,
        vec![grant("t", &[WEB], Some(Rules::AllTraffic(AllTraffic {})))],
    );
    assert!(ask(&all, &mesh(WEB), "DELETE", "/anything").is_allowed());
    let opaque = policy(
        true,
        DefaultPolicy::Deny,
        vec![grant(
            "t",
            &[WEB],
            Some(Rules::OpaqueTraffic(OpaqueTraffic {})),
        )],
    );
    assert!(!ask(&opaque, &mesh(WEB), "GET", "/").is_allowed());
    assert!(connection(&opaque, &mesh(WEB), false).is_allowed());
    let untargeted = policy(false, DefaultPolicy::Allow, vec![]);
    assert!(ask(&untargeted, &anon("10.0.0.9"), "GET", "/").is_allowed());
}
