//! The pure pieces of route flattening: durations, match translation,
//! precedence, filters. Attachment and refreshes are in `index/tests`.

use super::super::Resource;
use super::super::store::{ObjKey, Store};
use super::super::tests::{cfg, grpc_route, http_route, service, slice};
use super::duration::millis;
use super::routes;
use serde_json::json;
use weft_api::discovery::{
    RouteFilter, RouteMatch, RouteRule, path_match::Kind as PathKind, path_modifier,
    route_filter::Kind as FilterKind,
};

fn store(objects: impl IntoIterator<Item = Resource>) -> Store {
    let mut s = Store::default();
    for o in objects {
        s.insert(o);
    }
    s
}

/// Service shop/web (10.96.0.20:80) and shop/web-v2 (port 80 → 8080, one
/// endpoint), plus `objects`; the routes of web:80 for a client in shop.
fn rules(objects: impl IntoIterator<Item = Resource>) -> Vec<RouteRule> {
    let base: Vec<Resource> = vec![
        service("shop", "web", "10.96.0.20")
            .port("http", 80, 8080)
            .into(),
        service("shop", "web-v2", "10.96.0.21")
            .port("http", 80, 8080)
            .into(),
        slice("shop", "web-v2-x", "web-v2")
            .port("http", 8080)
            .ready("10.1.0.2", "")
            .into(),
    ];
    let s = store(base.into_iter().chain(objects));
    routes(&s, &cfg(), &ObjKey::new("shop", "web"), 80, "shop").rules
}

/// (kind, value) of each rule's path, `None` when it has no match or no
/// path match.
fn paths(rules: &[RouteRule]) -> Vec<Option<(PathKind, String)>> {
    rules
        .iter()
        .map(|r| {
            let p = r.r#match.as_ref()?.path.as_ref()?;
            Some((p.kind(), p.value.clone()))
        })
        .collect()
}

fn origin(rules: &[RouteRule]) -> Vec<(&str, &str)> {
    rules
        .iter()
        .map(|r| (r.route.as_str(), r.rule.as_str()))
        .collect()
}

fn m(rule: &RouteRule) -> &RouteMatch {
    rule.r#match.as_ref().expect("a match")
}

fn kinds(filters: &[RouteFilter]) -> Vec<&FilterKind> {
    filters.iter().map(|f| f.kind.as_ref().unwrap()).collect()
}

// ---- durations ----

#[test]
fn gateway_api_durations_read_as_milliseconds() {
    assert_eq!(millis("10s"), Ok(10_000));
    assert_eq!(millis("1m"), Ok(60_000));
    assert_eq!(millis("500ms"), Ok(500));
    assert_eq!(millis("1h30m"), Ok(5_400_000));
    assert_eq!(millis("1h1m1s1ms"), Ok(3_661_001));
    assert_eq!(millis("0s"), Ok(0));
    assert_eq!(millis("99999h"), Ok(u32::MAX), "saturates");
    for bad in [
        "",
        "10",
        "1d",
        "123456s",
        "1s1s1s1s1s",
        "s",
        "1.5s",
        "-1s",
        "1 s",
    ] {
        assert!(millis(bad).is_err(), "{bad:?}");
    }
}

// ---- HTTPRoute matches ----

#[test]
fn a_rule_without_matches_matches_every_path_and_one_per_match_otherwise() {
    let r = rules([http_route("shop", "web")
        .parent("web", None)
        .rule(json!({"name": "all"}))
        .rule(json!({"matches": [
            {"path": {"type": "Exact", "value": "/a"}},
            {"headers": [{"name": "X-Beta", "value": "1"}]}
        ]}))
        .into()]);
    assert_eq!(
        paths(&r),
        [
            Some((PathKind::Exact, "/a".into())),
            Some((PathKind::Prefix, "/".into())),
            Some((PathKind::Prefix, "/".into())),
        ]
    );
    assert_eq!(origin(&r)[0], ("HTTPRoute/shop/web", "1"));
    // The header match has more headers than the catch-all, so it goes
    // first although its rule comes later.
    assert_eq!(m(&r[1]).headers[0].name, "x-beta");
    assert_eq!(origin(&r)[2], ("HTTPRoute/shop/web", "all"));
}

#[test]
fn matches_keep_their_conditions() {
    let r = rules([http_route("shop", "web")
        .parent("web", None)
        .rule(json!({"matches": [{
            "path": {"type": "PathPrefix", "value": "/api/"},
            "method": "post",
            "headers": [
                {"name": "X-A", "value": "1"},
                {"name": "x-a", "value": "ignored: a second match on one name"},
                {"type": "RegularExpression", "name": "X-B", "value": "v[0-9]+"}
            ],
            "queryParams": [{"name": "Page", "value": "2"}, {"name": "page", "value": "3"}]
        }]}))
        .into()]);
    let m = m(&r[0]);
    let path = m.path.as_ref().unwrap();
    assert_eq!(
        (path.kind(), path.value.as_str()),
        (PathKind::Prefix, "/api"),
        "a trailing slash means nothing to a prefix"
    );
    assert_eq!(m.method, "POST");
    let headers: Vec<(&str, bool, &str)> = m
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.regex, h.value.as_str()))
        .collect();
    assert_eq!(headers, [("x-a", false, "1"), ("x-b", true, "v[0-9]+")]);
    let params: Vec<&str> = m.query_params.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(params, ["Page", "page"], "query names are case-sensitive");
}

#[test]
fn a_match_weft_cannot_read_is_left_out_never_widened() {
    let r = rules([http_route("shop", "web")
        .parent("web", None)
        .rule(json!({"matches": [
            {"path": {"type": "RegularExpression", "value": "/(unclosed"}},
            {"path": {"type": "Glob", "value": "/*"}}
        ]}))
        .rule(json!({"matches": [
            {"path": {"value": "/ok"}, "headers": [{"type": "Fuzzy", "name": "a", "value": "b"}]}
        ]}))
        .into()]);
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn http_precedence_follows_gateway_api() {
    let r = rules([http_route("shop", "web")
        .parent("web", None)
        .rule(json!({"name": "prefix-short", "matches": [{"path": {"value": "/a"}}]}))
        .rule(json!({"name": "prefix-long", "matches": [{"path": {"value": "/a/b"}}]}))
        .rule(json!({"name": "regex-short", "matches": [{"path": {"type": "RegularExpression", "value": "/.*"}}]}))
        .rule(json!({"name": "regex-long", "matches": [{"path": {"type": "RegularExpression", "value": "/a/.*"}}]}))
        .rule(json!({"name": "exact", "matches": [{"path": {"type": "Exact", "value": "/z"}}]}))
        .rule(json!({"name": "query", "matches": [{"path": {"value": "/a"}, "queryParams": [{"name": "q", "value": "1"}]}]}))
        .rule(json!({"name": "headers", "matches": [{"path": {"value": "/a"}, "headers": [{"name": "h", "value": "1"}]}]}))
        .rule(json!({"name": "method", "matches": [{"path": {"value": "/a"}, "method": "GET"}]}))
        .into()]);
    let order: Vec<&str> = r.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(
        order,
        [
            "exact",
            "regex-long",
            "regex-short",
            "prefix-long",
            "method",
            "headers",
            "query",
            "prefix-short"
        ]
    );
}

#[test]
fn ties_go_to_the_oldest_route_then_by_name_then_rule_and_match() {
    let rule = json!({"matches": [{"path": {"value": "/x"}}, {"path": {"value": "/y"}}]});
    let r = rules([
        http_route("shop", "b-old")
            .parent("web", None)
            .created(100)
            .rule(rule.clone())
            .into(),
        http_route("shop", "a-new")
            .parent("web", None)
            .created(200)
            .rule(rule.clone())
            .into(),
        http_route("shop", "c-old")
            .parent("web", None)
            .created(100)
            .rule(rule.clone())
            .rule(rule.clone())
            .into(),
        http_route("shop", "0-unpersisted")
            .parent("web", None)
            .rule(rule)
            .into(),
    ]);
    let x: Vec<(&str, &str)> = r
        .iter()
        .filter(|r| m(r).path.as_ref().unwrap().value == "/x")
        .map(|r| (r.route.as_str(), r.rule.as_str()))
        .collect();
    assert_eq!(
        x,
        [
            ("HTTPRoute/shop/b-old", "0"),
            ("HTTPRoute/shop/c-old", "0"),
            ("HTTPRoute/shop/c-old", "1"),
            ("HTTPRoute/shop/a-new", "0"),
            ("HTTPRoute/shop/0-unpersisted", "0"),
        ]
    );
}

// ---- GRPCRoute ----

#[test]
fn grpc_method_matches_become_paths() {
    let r = rules([grpc_route("shop", "greet")
        .parent("web", None)
        .rule(json!({"name": "both", "matches": [{"method": {"service": "hello.Greeter", "method": "Hi"}}]}))
        .rule(json!({"name": "service", "matches": [{"method": {"service": "hello.Greeter"}}]}))
        .rule(json!({"name": "method", "matches": [{"method": {"method": "Hi"}}]}))
        .rule(json!({"name": "regex", "matches": [{"method": {"type": "RegularExpression", "service": "hello\\..*"}}]}))
        .rule(json!({"name": "headers", "matches": [{"headers": [{"name": "X-V", "value": "2"}]}]}))
        .rule(json!({"name": "any"}))
        .into()]);
    let by_rule = |name: &str| r.iter().find(|r| r.rule == name).unwrap();
    let path = |name: &str| {
        let p = by_rule(name).r#match.as_ref()?.path.as_ref()?;
        Some((p.kind(), p.value.clone()))
    };
    assert_eq!(
        path("both"),
        Some((PathKind::Exact, "/hello.Greeter/Hi".into()))
    );
    assert_eq!(
        path("service"),
        Some((PathKind::Prefix, "/hello.Greeter".into()))
    );
    assert_eq!(path("method"), Some((PathKind::Regex, "/[^/]+/Hi".into())));
    assert_eq!(
        path("regex"),
        Some((PathKind::Regex, "/(hello\\..*)/([^/]+)".into()))
    );
    assert_eq!(path("headers"), None);
    assert_eq!(m(by_rule("headers")).headers[0].name, "x-v");
    assert_eq!(by_rule("any").r#match, None, "no match: any request");
    assert_eq!(by_rule("any").route, "GRPCRoute/shop/greet");
}

#[test]
fn grpc_precedence_is_service_then_method_then_headers() {
    let r = rules([grpc_route("shop", "greet")
        .parent("web", None)
        .rule(json!({"name": "any"}))
        .rule(json!({"name": "method", "matches": [{"method": {"method": "Hi"}}]}))
        .rule(json!({"name": "service", "matches": [{"method": {"service": "hello.Greeter"}}]}))
        .rule(json!({"name": "both", "matches": [{"method": {"service": "hello.Greeter", "method": "Hi"}}]}))
        .rule(json!({"name": "both-headers", "matches": [{"method": {"service": "hello.Greeter", "method": "Hi"},
                                                          "headers": [{"name": "a", "value": "b"}]}]}))
        .into()]);
    let order: Vec<&str> = r.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(order, ["both-headers", "both", "service", "method", "any"]);
}

#[test]
fn grpc_and_http_routes_on_one_port_merge_into_one_list() {
    let r = rules([
        http_route("shop", "web")
            .parent("web", None)
            .created(1)
            .rule(json!({"name": "catch-all"}))
            .rule(json!({"name": "exact", "matches": [{"path": {"type": "Exact", "value": "/healthz"}}]}))
            .rule(json!({"name": "regex", "matches": [{"path": {"type": "RegularExpression", "value": "/v[0-9]/.*"}}]}))
            .rule(json!({"name": "prefix", "matches": [{"path": {"value": "/hello.Greeter"}}]}))
            .into(),
        grpc_route("shop", "greet")
            .parent("web", None)
            .created(2)
            .rule(json!({"name": "grpc-any"}))
            .rule(json!({"name": "grpc-method", "matches": [{"method": {"service": "hello.Greeter", "method": "Hi"}}]}))
            .into(),
    ]);
    let order: Vec<&str> = r.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(
        order,
        [
            "exact",
            "regex",
            "grpc-method",
            "prefix",
            "catch-all",
            "grpc-any"
        ],
        "a gRPC catch-all ranks as PathPrefix /, after the older HTTPRoute's"
    );
}

// ---- filters, timeouts, retry ----

#[test]
fn filters_map_onto_the_proxys() {
    let r = rules([http_route("shop", "web")
        .parent("web", None)
        .rule(json!({
            "matches": [{"path": {"value": "/old"}}],
            "filters": [
                {"type": "RequestHeaderModifier", "requestHeaderModifier": {
                    "set": [{"name": "X-Set", "value": "A"}], "add": [{"name": "X-Add", "value": "b"}], "remove": ["X-Gone"]}},
                {"type": "ResponseHeaderModifier", "responseHeaderModifier": {"set": [{"name": "Server", "value": "weft"}]}},
                {"type": "URLRewrite", "urlRewrite": {"hostname": "new.example", "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}},
                {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "web-v2", "port": 80}}}
            ],
            "backendRefs": [{"name": "web-v2", "port": 80, "filters": [
                {"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "X-Backend", "value": "v2"}]}}
            ]}]
        }))
        .rule(json!({
            "matches": [{"path": {"type": "Exact", "value": "/moved"}}],
            "filters": [{"type": "RequestRedirect", "requestRedirect": {
                "scheme": "HTTPS", "hostname": "example.com", "port": 8443, "statusCode": 301,
                "path": {"type": "ReplaceFullPath", "replaceFullPath": "/here"}}}]
        }))
        .into()]);
    let rewrite = r.iter().find(|r| r.rule == "0").unwrap();
    let f = kinds(&rewrite.filters);
    let FilterKind::RequestHeaderModifier(h) = f[0] else {
        panic!("{f:?}")
    };
    assert_eq!(
        (h.set[0].name.as_str(), h.set[0].value.as_str()),
        ("x-set", "A")
    );
    assert_eq!(h.add[0].name, "x-add");
    assert_eq!(h.remove, ["x-gone"]);
    assert!(matches!(f[1], FilterKind::ResponseHeaderModifier(h) if h.set[0].name == "server"));
    let FilterKind::UrlRewrite(u) = f[2] else {
        panic!("{f:?}")
    };
    assert_eq!(u.hostname, "new.example");
    assert_eq!(
        u.path.as_ref().unwrap().kind,
        Some(path_modifier::Kind::Prefix("/new".into()))
    );
    assert_eq!(
        f[3],
        &FilterKind::RequestMirror("web-v2.shop.svc.cluster.local:80".into())
    );
    let b = &rewrite.backends[0];
    assert_eq!(b.backend, "web-v2.shop.svc.cluster.local:80");
    assert!(
        matches!(kinds(&b.filters)[0], FilterKind::RequestHeaderModifier(h) if h.add[0].name == "x-backend")
    );

    let redirect = r.iter().find(|r| r.rule == "1").unwrap();
    let FilterKind::RequestRedirect(rd) = kinds(&redirect.filters)[0] else {
        panic!("{:?}", redirect.filters)
    };
    assert_eq!(
        (
            rd.scheme.as_str(),
            rd.hostname.as_str(),
            rd.port,
            rd.status_code
        ),
        ("https", "example.com", 8443, 301)
    );
    assert_eq!(
        rd.path.as_ref().unwrap().kind,
        Some(path_modifier::Kind::Full("/here".into()))
    );
    assert!(redirect.backends.is_empty());
}

#[test]
fn filters_weft_cannot_apply_are_unsupported() {
    let r = rules([
        http_route("shop", "web")
            .parent("web", None)
            .rule(json!({"filters": [
                {"type": "ExtensionRef", "extensionRef": {"group": "example.com", "kind": "Limit", "name": "l"}},
                {"type": "CORS", "cors": {"allowOrigins": ["*"]}},
                {"type": "ExternalAuth", "externalAuth": {"protocol": "HTTP"}},
                {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "web-v2", "port": 80}, "percent": 10}},
                {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "gone", "port": 80}}},
                {"type": "RequestRedirect", "requestRedirect": {"statusCode": 305}},
                {"type": "RequestHeaderModifier"}
            ]}))
            .into(),
        grpc_route("shop", "greet")
            .parent("web", None)
            .rule(json!({"filters": [{"type": "URLRewrite", "urlRewrite": {"hostname": "x"}}]}))
            .into(),
    ]);
    for rule in &r {
        assert!(!rule.filters.is_empty());
        for f in kinds(&rule.filters) {
            assert!(
                matches!(f, FilterKind::Unsupported(why) if !why.is_empty()),
                "{}: {f:?}",
                rule.route
            );
        }
    }
    let http = r.iter().find(|r| r.route.starts_with("HTTPRoute")).unwrap();
    assert_eq!(http.filters.len(), 7);
}

#[test]
fn timeouts_and_retry_are_carried() {
    let r = rules([http_route("shop", "web")
        .parent("web", None)
        .rule(
            json!({"name": "slow", "timeouts": {"request": "1m", "backendRequest": "0s"},
                     "retry": {"attempts": 3, "codes": [502, 503], "backoff": "250ms"}}),
        )
        .rule(json!({"name": "defaults", "matches": [{"path": {"value": "/d"}}], "retry": {}}))
        .into()]);
    let slow = r.iter().find(|r| r.rule == "slow").unwrap();
    assert_eq!(
        (slow.request_timeout_ms, slow.backend_request_timeout_ms),
        (60_000, 0)
    );
    let retry = slow.retry.as_ref().unwrap();
    assert_eq!(
        (retry.attempts, retry.codes.as_slice(), retry.backoff_ms),
        (3, [502, 503].as_slice(), 250)
    );
    let d = r.iter().find(|r| r.rule == "defaults").unwrap();
    assert_eq!(d.request_timeout_ms, 0);
    let retry = d.retry.as_ref().unwrap();
    assert_eq!(
        (retry.attempts, retry.codes.len(), retry.backoff_ms),
        (super::flatten::DEFAULT_RETRY_ATTEMPTS, 0, 0)
    );
}
