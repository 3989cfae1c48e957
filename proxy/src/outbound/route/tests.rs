use super::*;
use http::{HeaderName, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use weft_api::{
    contract::{headers as contract_headers, proxy_error},
    discovery::{path_match, path_modifier, route_filter},
};

mod conformance;

// Builders for the controller's messages, shared by the module's tests.

pub(super) fn path(kind: path_match::Kind, value: &str) -> pb::RouteMatch {
    pb::RouteMatch {
        path: Some(pb::PathMatch {
            kind: kind as i32,
            value: value.into(),
        }),
        ..Default::default()
    }
}

pub(super) fn prefix(value: &str) -> pb::RouteMatch {
    path(path_match::Kind::Prefix, value)
}

pub(super) fn exact(value: &str) -> pb::RouteMatch {
    path(path_match::Kind::Exact, value)
}

pub(super) fn value(name: &str, value: &str) -> pb::ValueMatch {
    pb::ValueMatch {
        name: name.into(),
        regex: false,
        value: value.into(),
    }
}

pub(super) fn pattern(name: &str, value: &str) -> pb::ValueMatch {
    pb::ValueMatch {
        name: name.into(),
        regex: true,
        value: value.into(),
    }
}

pub(super) fn to(backend: &str, weight: u32) -> pb::RouteBackend {
    pb::RouteBackend {
        backend: backend.into(),
        weight,
        filters: vec![],
    }
}

/// A rule named by its position, as the controller names unnamed rules.
pub(super) fn rule(
    index: usize,
    m: Option<pb::RouteMatch>,
    filters: Vec<pb::RouteFilter>,
    backends: Vec<pb::RouteBackend>,
) -> pb::RouteRule {
    pb::RouteRule {
        route: "HTTPRoute/mesh/echo".into(),
        rule: index.to_string(),
        r#match: m,
        filters,
        backends,
        ..Default::default()
    }
}

pub(super) fn filter(kind: route_filter::Kind) -> pb::RouteFilter {
    pb::RouteFilter { kind: Some(kind) }
}

pub(super) fn header_modifier(
    set: &[(&str, &str)],
    add: &[(&str, &str)],
    remove: &[&str],
) -> pb::HeaderModifier {
    let headers = |h: &[(&str, &str)]| {
        h.iter()
            .map(|(n, v)| pb::Header {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect()
    };
    pb::HeaderModifier {
        set: headers(set),
        add: headers(add),
        remove: remove.iter().map(|n| n.to_string()).collect(),
    }
}

pub(super) fn replace_prefix(with: &str) -> Option<pb::PathModifier> {
    Some(pb::PathModifier {
        kind: Some(path_modifier::Kind::Prefix(with.into())),
    })
}

pub(super) fn replace_full(with: &str) -> Option<pb::PathModifier> {
    Some(pb::PathModifier {
        kind: Some(path_modifier::Kind::Full(with.into())),
    })
}

/// An HTTP/1 request as an app sends it: origin-form, with a Host header.
pub(super) fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// What a decision says, in a form tests compare.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Seen {
    Backend(String),
    Status(u16, Option<String>),
}

pub(super) fn seen(d: &Decision) -> Seen {
    match d {
        Decision::Forward(f) => Seen::Backend(f.backend.to_string()),
        Decision::Respond(r) => Seen::Status(
            r.status().as_u16(),
            r.headers()
                .get(contract_headers::PROXY_ERROR)
                .map(|v| v.to_str().unwrap().to_string()),
        ),
    }
}

fn everything_usable(_: &str) -> bool {
    true
}

/// Where `uri` goes under `rules`.
fn route(rules: &[pb::RouteRule], uri: &str) -> Seen {
    let table = RouteTable::new(rules.to_vec(), None);
    seen(&table.decide(
        &mut request("GET", uri, &[("host", "echo")]),
        80,
        everything_usable,
    ))
}

async fn body(d: Decision) -> String {
    let Decision::Respond(r) = d else {
        panic!("forwarded")
    };
    let b = r.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(b.to_vec()).unwrap()
}

fn not_routed(code: &str, status: u16) -> Seen {
    Seen::Status(status, Some(code.into()))
}

#[test]
fn the_first_matching_rule_decides() {
    let rules = [
        rule(0, Some(prefix("/api/v2")), vec![], vec![to("v2", 1)]),
        rule(1, Some(prefix("/api")), vec![], vec![to("v1", 1)]),
        rule(2, Some(prefix("/")), vec![], vec![to("web", 1)]),
    ];
    assert_eq!(route(&rules, "/api/v2/x"), Seen::Backend("v2".into()));
    assert_eq!(route(&rules, "/api/v3"), Seen::Backend("v1".into()));
    assert_eq!(route(&rules, "/apiv2"), Seen::Backend("web".into()));
    // Listed the other way round, the broad rule takes everything.
    let reversed: Vec<_> = rules.iter().rev().cloned().collect();
    assert_eq!(route(&reversed, "/api/v2/x"), Seen::Backend("web".into()));
    // A rule without a match takes every request.
    let any = [rule(0, None, vec![], vec![to("all", 1)])];
    assert_eq!(route(&any, "/whatever?x=1"), Seen::Backend("all".into()));
}

#[test]
fn matching_sees_the_path_the_destination_will_see() {
    let rules = [
        rule(0, Some(prefix("/public")), vec![], vec![to("public", 1)]),
        rule(1, Some(prefix("/admin")), vec![], vec![to("admin", 1)]),
    ];
    for p in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%2E./admin/x",
        "/public//..//admin",
        "/%61dmin",
        "/./admin",
    ] {
        assert_eq!(route(&rules, p), Seen::Backend("admin".into()), "{p}");
    }
    assert_eq!(route(&rules, "/public/./x"), Seen::Backend("public".into()));
    // What servers read differently is refused, not guessed at.
    for p in [
        "/public/..%2Fadmin",
        "/public/..%5cadmin",
        "/public/..;x/admin",
    ] {
        assert_eq!(
            route(&rules, p),
            not_routed(proxy_error::BAD_REQUEST, 400),
            "{p}"
        );
    }
    // The request goes on in normal form, its query untouched.
    let table = RouteTable::new(rules.to_vec(), None);
    let mut req = request("GET", "/public/../admin/%7e?next=/../x", &[]);
    assert!(matches!(
        table.decide(&mut req, 80, everything_usable),
        Decision::Forward(_)
    ));
    assert_eq!(req.uri, "/admin/~?next=/../x");
}

#[tokio::test]
async fn a_request_no_rule_matches_is_404_or_unimplemented() {
    let rules = [rule(0, Some(exact("/v1")), vec![], vec![to("v1", 1)])];
    assert_eq!(route(&rules, "/v2"), not_routed(proxy_error::NO_ROUTE, 404));
    let table = RouteTable::new(rules.to_vec(), None);
    let grpc = [("content-type", "application/grpc")];
    let Decision::Respond(r) = table.decide(
        &mut request("POST", "/pkg.Svc/Call", &grpc),
        80,
        everything_usable,
    ) else {
        panic!("forwarded")
    };
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["grpc-status"], "12");
    assert_eq!(
        r.headers()[contract_headers::PROXY_ERROR],
        proxy_error::NO_ROUTE
    );
    let r = no_route(false);
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(no_route(true).headers()["grpc-status"], "12");
}

#[tokio::test]
async fn a_rule_without_a_usable_backend_ref_is_500() {
    let bad = not_routed(proxy_error::BAD_ROUTE, 500);
    assert_eq!(route(&[rule(0, None, vec![], vec![])], "/"), bad);
    assert_eq!(route(&[rule(0, None, vec![], vec![to("v1", 0)])], "/"), bad);
    assert_eq!(route(&[rule(0, None, vec![], vec![to("", 1)])], "/"), bad);
    let table = RouteTable::new(vec![rule(0, None, vec![], vec![to("", 1)])], None);
    let d = table.decide(&mut request("GET", "/", &[]), 80, everything_usable);
    assert_eq!(
        body(d).await,
        "weft-proxy: bad-route: HTTPRoute/mesh/echo rule 0: the chosen backendRef cannot be used\n"
    );
    // gRPC hears UNAVAILABLE, as GRPCRoute asks for an invalid backendRef.
    let grpc = [("content-type", "application/grpc+proto")];
    let Decision::Respond(r) =
        table.decide(&mut request("POST", "/a.B/C", &grpc), 80, everything_usable)
    else {
        panic!("forwarded")
    };
    assert_eq!(r.headers()["grpc-status"], "14");
}

#[test]
fn an_invalid_backend_ref_keeps_its_share_of_failures() {
    let table = RouteTable::new(
        vec![rule(0, None, vec![], vec![to("v1", 1), to("", 1)])],
        None,
    );
    let mut seen_counts = HashMap::new();
    for _ in 0..10 {
        let d = table.decide(&mut request("GET", "/", &[]), 80, everything_usable);
        *seen_counts.entry(seen(&d)).or_insert(0) += 1;
    }
    assert_eq!(seen_counts[&Seen::Backend("v1".into())], 5);
    assert_eq!(seen_counts[&not_routed(proxy_error::BAD_ROUTE, 500)], 5);
}

#[test]
fn backends_without_endpoints_are_passed_over_and_none_at_all_is_503() {
    let table = RouteTable::new(
        vec![rule(0, None, vec![], vec![to("v1", 9), to("v2", 1)])],
        None,
    );
    for _ in 0..5 {
        let d = table.decide(&mut request("GET", "/", &[]), 80, |b| b == "v2");
        assert_eq!(seen(&d), Seen::Backend("v2".into()));
    }
    let d = table.decide(&mut request("GET", "/", &[]), 80, |_| false);
    assert_eq!(seen(&d), not_routed(proxy_error::UNAVAILABLE, 503));
}

#[tokio::test]
async fn an_unsupported_filter_is_500_naming_it() {
    let unsupported = filter(route_filter::Kind::Unsupported(
        "ExtensionRef example.com/Lua lua".into(),
    ));
    let rules = [rule(0, None, vec![unsupported.clone()], vec![to("v1", 1)])];
    assert_eq!(route(&rules, "/"), not_routed(proxy_error::BAD_ROUTE, 500));
    let table = RouteTable::new(rules.to_vec(), None);
    let d = table.decide(&mut request("GET", "/", &[]), 80, everything_usable);
    assert_eq!(
        body(d).await,
        "weft-proxy: bad-route: HTTPRoute/mesh/echo rule 0: the filter ExtensionRef example.com/Lua lua is not supported\n"
    );
    // On the backendRef, the same.
    let mut b = to("v1", 1);
    b.filters.push(unsupported);
    assert_eq!(
        route(&[rule(0, None, vec![], vec![b])], "/"),
        not_routed(proxy_error::BAD_ROUTE, 500)
    );
    // A filter that does not parse is as bad.
    let bad_header = filter(route_filter::Kind::RequestHeaderModifier(header_modifier(
        &[("bad name", "v")],
        &[],
        &[],
    )));
    assert_eq!(
        route(&[rule(0, None, vec![bad_header], vec![to("v1", 1)])], "/"),
        not_routed(proxy_error::BAD_ROUTE, 500)
    );
    let empty = pb::RouteFilter { kind: None };
    assert_eq!(
        route(&[rule(0, None, vec![empty], vec![to("v1", 1)])], "/"),
        not_routed(proxy_error::BAD_ROUTE, 500)
    );
}

#[test]
fn backend_filters_follow_the_rules() {
    let rule_filter = filter(route_filter::Kind::RequestHeaderModifier(header_modifier(
        &[("x-set", "rule")],
        &[("x-add", "rule")],
        &[],
    )));
    let mut b = to("v1", 1);
    b.filters
        .push(filter(route_filter::Kind::RequestHeaderModifier(
            header_modifier(&[("x-set", "backend")], &[("x-add", "backend")], &[]),
        )));
    let table = RouteTable::new(vec![rule(0, None, vec![rule_filter], vec![b])], None);
    let mut req = request("GET", "/", &[]);
    assert!(matches!(
        table.decide(&mut req, 80, everything_usable),
        Decision::Forward(_)
    ));
    assert_eq!(req.headers["x-set"], "backend");
    let added: Vec<_> = req.headers.get_all("x-add").iter().collect();
    assert_eq!(added, ["rule", "backend"]);
}

#[test]
fn a_forward_carries_timeouts_retry_mirrors_and_response_edits() {
    let mut r = rule(
        0,
        None,
        vec![
            filter(route_filter::Kind::RequestMirror("shadow:80".into())),
            filter(route_filter::Kind::ResponseHeaderModifier(header_modifier(
                &[("x-route", "echo")],
                &[],
                &["server"],
            ))),
        ],
        vec![to("v1", 1)],
    );
    r.request_timeout_ms = 1500;
    r.backend_request_timeout_ms = 0;
    r.retry = Some(pb::RouteRetry {
        attempts: 2,
        codes: vec![502, 503, 70000],
        backoff_ms: 25,
    });
    r.backends[0]
        .filters
        .push(filter(route_filter::Kind::ResponseHeaderModifier(
            header_modifier(&[("x-route", "v1")], &[], &[]),
        )));
    let table = RouteTable::new(vec![r], None);
    let Decision::Forward(f) = table.decide(&mut request("GET", "/", &[]), 80, everything_usable)
    else {
        panic!("not forwarded")
    };
    assert_eq!(&*f.backend, "v1");
    assert_eq!(f.rule.route(), "HTTPRoute/mesh/echo");
    assert_eq!(f.rule.name(), "0");
    assert_eq!(f.mirrors, [Arc::from("shadow:80")]);
    assert_eq!(f.request_timeout, Some(Duration::from_millis(1500)));
    assert_eq!(f.backend_request_timeout, None);
    assert_eq!(
        f.retry,
        Some(Retry {
            attempts: 2,
            codes: Arc::from([502, 503]),
            backoff: Duration::from_millis(25),
        })
    );
    let mut h = HeaderMap::new();
    h.insert(header::SERVER, HeaderValue::from_static("app"));
    f.edit_response(&mut h);
    assert_eq!(h["x-route"], "v1", "the backend's edit comes last");
    assert!(!h.contains_key(header::SERVER));
}

#[test]
fn a_redirect_answers_without_a_backend_and_takes_response_edits() {
    let redirect = filter(route_filter::Kind::RequestRedirect(pb::RequestRedirect {
        hostname: "example.org".into(),
        ..Default::default()
    }));
    let edit = filter(route_filter::Kind::ResponseHeaderModifier(header_modifier(
        &[("x-by", "weft")],
        &[],
        &[],
    )));
    let table = RouteTable::new(vec![rule(0, None, vec![redirect, edit], vec![])], None);
    let Decision::Respond(r) = table.decide(
        &mut request("GET", "/a?b", &[("host", "echo")]),
        80,
        everything_usable,
    ) else {
        panic!("forwarded")
    };
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()[header::LOCATION], "http://example.org/a?b");
    assert_eq!(r.headers()["x-by"], "weft");
}

#[test]
fn a_rules_balancing_state_lasts_across_requests_and_snapshots() {
    let rules = vec![rule(0, None, vec![], vec![to("a", 1), to("b", 1)])];
    let pick =
        |t: &RouteTable| seen(&t.decide(&mut request("GET", "/", &[]), 80, everything_usable));
    let first = RouteTable::new(rules.clone(), None);
    assert_eq!(pick(&first), Seen::Backend("a".into()));
    // The same rule in the next snapshot carries on where it was.
    let second = RouteTable::new(rules.clone(), Some(&first));
    assert_eq!(pick(&second), Seen::Backend("b".into()));
    assert_eq!(pick(&second), Seen::Backend("a".into()));
    // A rule by another name starts afresh.
    let mut renamed = rules.clone();
    renamed[0].rule = "named".into();
    let third = RouteTable::new(renamed, Some(&second));
    assert_eq!(pick(&third), Seen::Backend("a".into()));
    // Several matches of one rule each keep their own state, by order.
    let two = vec![
        rule(0, Some(exact("/x")), vec![], vec![to("a", 1), to("b", 1)]),
        rule(0, Some(exact("/y")), vec![], vec![to("a", 1), to("b", 1)]),
    ];
    let t1 = RouteTable::new(two.clone(), None);
    t1.decide(&mut request("GET", "/x", &[]), 80, everything_usable);
    let t2 = RouteTable::new(two, Some(&t1));
    assert_eq!(
        seen(&t2.decide(&mut request("GET", "/x", &[]), 80, everything_usable)),
        Seen::Backend("b".into())
    );
    assert_eq!(
        seen(&t2.decide(&mut request("GET", "/y", &[]), 80, everything_usable)),
        Seen::Backend("a".into())
    );
}

#[test]
fn patterns_are_compiled_once_and_only_those_in_use_kept() {
    let re = |p: &str| path(path_match::Kind::Regex, p);
    let first = RouteTable::new(
        vec![
            rule(0, Some(re("/a/[0-9]+")), vec![], vec![to("a", 1)]),
            rule(1, Some(re("/b/.*")), vec![], vec![to("b", 1)]),
            rule(2, Some(re("/a/[0-9]+")), vec![], vec![to("c", 1)]),
        ],
        None,
    );
    assert_eq!(first.regexes.sources(), ["/a/[0-9]+", "/b/.*"]);
    let second = RouteTable::new(
        vec![rule(0, Some(re("/b/.*")), vec![], vec![to("b", 1)])],
        Some(&first),
    );
    assert_eq!(second.regexes.sources(), ["/b/.*"]);
    assert_eq!(
        seen(&second.decide(&mut request("GET", "/b/x", &[]), 80, everything_usable)),
        Seen::Backend("b".into())
    );
    assert!(RouteTable::default().is_empty());
    assert_eq!(second.len(), 1);
}
