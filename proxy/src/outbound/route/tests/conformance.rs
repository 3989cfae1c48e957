//! The cases the Gateway API conformance suite (v1.6.3, `tests/mesh` and
//! the filters' Gateway tests) sends, with what it expects, against the
//! rules its manifests make. The rules are flattened and put in precedence
//! order here as the controller does before sending them.

use super::*;
use std::cmp::Reverse;
use weft_api::discovery::path_match::Kind;

/// One match of a manifest: a path (`None`: the default, PathPrefix `/`),
/// headers and query parameters.
fn m(
    path: Option<pb::RouteMatch>,
    headers: &[(&str, &str)],
    query: &[(&str, &str)],
) -> pb::RouteMatch {
    let mut m = path.unwrap_or_else(|| prefix("/"));
    m.headers = headers.iter().map(|(n, v)| value(n, v)).collect();
    m.query_params = query.iter().map(|(n, v)| value(n, v)).collect();
    m
}

/// A manifest's rules, one per (rule, match), in Gateway API precedence:
/// exact paths, then longer prefixes, then a method, more headers, more
/// query parameters; the manifest's order last.
fn flatten(
    rules: Vec<(
        Vec<pb::RouteMatch>,
        Vec<pb::RouteFilter>,
        Vec<pb::RouteBackend>,
    )>,
) -> Vec<pb::RouteRule> {
    let mut flat: Vec<pb::RouteRule> = rules
        .into_iter()
        .enumerate()
        .flat_map(|(i, (matches, filters, backends))| {
            let matches = if matches.is_empty() {
                vec![prefix("/")]
            } else {
                matches
            };
            matches
                .into_iter()
                .map(move |mm| rule(i, Some(mm), filters.clone(), backends.clone()))
        })
        .collect();
    flat.sort_by_key(|r| {
        let mm = r.r#match.as_ref().expect("flattened");
        let p = mm.path.as_ref().expect("defaulted");
        (
            p.kind() != Kind::Exact,
            Reverse(p.value.len()),
            mm.method.is_empty(),
            Reverse(mm.headers.len()),
            Reverse(mm.query_params.len()),
        )
    });
    flat
}

fn one(
    path_match: pb::RouteMatch,
    filters: Vec<pb::RouteFilter>,
    backends: Vec<pb::RouteBackend>,
) -> (
    Vec<pb::RouteMatch>,
    Vec<pb::RouteFilter>,
    Vec<pb::RouteBackend>,
) {
    (vec![path_match], filters, backends)
}

/// The mesh suite's request: to the `echo` Service on port 80.
fn send(table: &RouteTable, uri: &str, headers: &[(&str, &str)]) -> (Decision, Parts) {
    let mut all = vec![("host", "echo")];
    all.extend_from_slice(headers);
    let mut req = request("GET", uri, &all);
    let d = table.decide(&mut req, 80, |_| true);
    (d, req)
}

/// A header's values as the echo server reports them.
fn header(h: &HeaderMap, name: &str) -> Option<String> {
    let all: Vec<_> = h
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    (!all.is_empty()).then(|| all.join(","))
}

#[test]
fn mesh_httproute_matching() {
    let table = RouteTable::new(
        flatten(vec![
            (
                vec![m(None, &[], &[]), m(None, &[("version", "one")], &[])],
                vec![],
                vec![to("echo-v1", 1)],
            ),
            (
                vec![
                    m(Some(prefix("/v2")), &[], &[]),
                    m(None, &[("version", "two")], &[]),
                ],
                vec![],
                vec![to("echo-v2", 1)],
            ),
        ]),
        None,
    );
    for (path, headers, backend) in [
        ("/", &[][..], "echo-v1"),
        ("/example", &[], "echo-v1"),
        ("/", &[("Version", "one")], "echo-v1"),
        ("/v2", &[], "echo-v2"),
        ("/v2/example", &[], "echo-v2"),
        ("/", &[("Version", "two")], "echo-v2"),
        ("/v2/", &[], "echo-v2"),
        ("/v2example", &[], "echo-v1"),
        ("/foo/v2/example", &[], "echo-v1"),
    ] {
        let (d, _) = send(&table, path, headers);
        assert_eq!(
            seen(&d),
            Seen::Backend(backend.into()),
            "{path} {headers:?}"
        );
    }
}

#[test]
fn mesh_httproute_query_param_matching() {
    let q = |path: Option<pb::RouteMatch>, h: &[(&str, &str)], q: &[(&str, &str)]| m(path, h, q);
    let table = RouteTable::new(
        flatten(vec![
            (
                vec![q(None, &[], &[("animal", "whale")])],
                vec![],
                vec![to("echo-v1", 1)],
            ),
            (
                vec![q(None, &[], &[("animal", "dolphin")])],
                vec![],
                vec![to("echo-v2", 1)],
            ),
            (
                vec![q(Some(prefix("/path1")), &[], &[("animal", "whale")])],
                vec![],
                vec![to("echo-v1", 1)],
            ),
            (
                vec![q(None, &[("version", "one")], &[("animal", "whale")])],
                vec![],
                vec![to("echo-v2", 1)],
            ),
            (
                vec![
                    q(Some(prefix("/path3")), &[], &[("animal", "shark")]),
                    q(
                        Some(prefix("/path4")),
                        &[("version", "three")],
                        &[("animal", "kraken")],
                    ),
                ],
                vec![],
                vec![to("echo-v1", 1)],
            ),
            (
                vec![q(Some(prefix("/path5")), &[], &[])],
                vec![],
                vec![to("echo-v1", 1)],
            ),
            (
                vec![q(None, &[], &[("animal", "hydra")])],
                vec![],
                vec![to("echo-v2", 1)],
            ),
        ]),
        None,
    );
    let backend = |b: &str| Seen::Backend(b.into());
    let missing = Seen::Status(404, Some(proxy_error::NO_ROUTE.into()));
    for (path, headers, want) in [
        ("/?animal=whale", &[][..], backend("echo-v1")),
        ("/?animal=dolphin", &[], backend("echo-v2")),
        (
            "/?animal=whale&otherparam=irrelevant",
            &[],
            backend("echo-v1"),
        ),
        ("/?animal=dolphin&color=yellow", &[], backend("echo-v2")),
        ("/?color=blue", &[], missing.clone()),
        ("/?animal=dog", &[], missing.clone()),
        ("/?animal=whaledolphin", &[], missing.clone()),
        ("/", &[], missing.clone()),
        ("/path1?animal=whale", &[], backend("echo-v1")),
        ("/?animal=whale", &[("version", "one")], backend("echo-v2")),
        ("/path3?animal=shark", &[], backend("echo-v1")),
        (
            "/path4?animal=kraken",
            &[("version", "three")],
            backend("echo-v1"),
        ),
        ("/?animal=shark", &[], missing.clone()),
        ("/path4?animal=kraken", &[], missing.clone()),
        ("/path5?animal=hydra", &[], backend("echo-v1")),
    ] {
        let (d, _) = send(&table, path, headers);
        assert_eq!(seen(&d), want, "{path} {headers:?}");
    }
}

#[test]
fn mesh_split() {
    let table = RouteTable::new(
        flatten(vec![
            one(exact("/v1"), vec![], vec![to("echo-v1", 1)]),
            one(exact("/v2"), vec![], vec![to("echo-v2", 1)]),
        ]),
        None,
    );
    assert_eq!(
        seen(&send(&table, "/v1", &[]).0),
        Seen::Backend("echo-v1".into())
    );
    assert_eq!(
        seen(&send(&table, "/v2", &[]).0),
        Seen::Backend("echo-v2".into())
    );
    assert_eq!(
        seen(&send(&table, "/v1/", &[]).0),
        Seen::Status(404, Some(proxy_error::NO_ROUTE.into()))
    );
}

#[test]
fn mesh_httproute_weight() {
    let table = RouteTable::new(
        flatten(vec![(
            vec![],
            vec![],
            vec![to("echo-v1", 70), to("echo-v2", 30)],
        )]),
        None,
    );
    let mut v1 = 0;
    for _ in 0..100 {
        if seen(&send(&table, "/", &[]).0) == Seen::Backend("echo-v1".into()) {
            v1 += 1;
        }
    }
    assert_eq!(v1, 70, "smooth WRR is exact over a whole cycle");
}

#[test]
fn mesh_httproute_named_rule() {
    let mut rules = flatten(vec![
        one(prefix("/named"), vec![], vec![to("echo-v1", 1)]),
        one(prefix("/unnamed"), vec![], vec![to("echo-v2", 1)]),
    ]);
    rules
        .iter_mut()
        .filter(|r| r.rule == "0")
        .for_each(|r| r.rule = "named-rule".into());
    let table = RouteTable::new(rules, None);
    let Decision::Forward(f) = send(&table, "/named", &[]).0 else {
        panic!("not forwarded")
    };
    assert_eq!((&*f.backend, f.rule.name()), ("echo-v1", "named-rule"));
    assert_eq!(
        seen(&send(&table, "/unnamed", &[]).0),
        Seen::Backend("echo-v2".into())
    );
}

fn redirect(r: pb::RequestRedirect) -> Vec<pb::RouteFilter> {
    vec![filter(route_filter::Kind::RequestRedirect(r))]
}

/// Each path's answer: its status and `Location`.
fn redirects(table: &RouteTable, cases: &[(&str, u16, &str)]) {
    for (path, status, location) in cases {
        let (d, _) = send(table, path, &[]);
        let Decision::Respond(r) = d else {
            panic!("{path} forwarded")
        };
        assert_eq!(r.status().as_u16(), *status, "{path}");
        assert_eq!(r.headers()[header::LOCATION], *location, "{path}");
    }
}

#[test]
fn mesh_httproute_redirect_path() {
    let r = |path, hostname: &str, status_code| {
        redirect(pb::RequestRedirect {
            hostname: hostname.into(),
            path,
            status_code,
            ..Default::default()
        })
    };
    let table = RouteTable::new(
        flatten(vec![
            one(
                prefix("/original-prefix"),
                r(replace_prefix("/replacement-prefix"), "", 0),
                vec![],
            ),
            one(
                prefix("/full"),
                r(replace_full("/full-path-replacement"), "", 0),
                vec![],
            ),
            one(
                prefix("/path-and-host"),
                r(replace_prefix("/replacement-prefix"), "example.org", 0),
                vec![],
            ),
            one(
                prefix("/path-and-status"),
                r(replace_prefix("/replacement-prefix"), "", 301),
                vec![],
            ),
            one(
                prefix("/full-path-and-host"),
                r(replace_full("/replacement-full"), "example.org", 0),
                vec![],
            ),
            one(
                prefix("/full-path-and-status"),
                r(replace_full("/replacement-full"), "", 301),
                vec![],
            ),
        ]),
        None,
    );
    redirects(
        &table,
        &[
            (
                "/original-prefix/lemon",
                302,
                "http://echo/replacement-prefix/lemon",
            ),
            (
                "/full/path/original",
                302,
                "http://echo/full-path-replacement",
            ),
            (
                "/path-and-host",
                302,
                "http://example.org/replacement-prefix",
            ),
            ("/path-and-status", 301, "http://echo/replacement-prefix"),
            (
                "/full-path-and-host",
                302,
                "http://example.org/replacement-full",
            ),
            ("/full-path-and-status", 301, "http://echo/replacement-full"),
        ],
    );
}

#[test]
fn mesh_httproute_redirect_port() {
    let r = |hostname: &str, status_code| {
        redirect(pb::RequestRedirect {
            hostname: hostname.into(),
            port: 8083,
            status_code,
            ..Default::default()
        })
    };
    let table = RouteTable::new(
        flatten(vec![
            one(prefix("/port"), r("", 0), vec![]),
            one(prefix("/port-and-host"), r("example.org", 0), vec![]),
            one(prefix("/port-and-status"), r("", 301), vec![]),
            one(
                prefix("/port-and-host-and-status"),
                r("example.org", 302),
                vec![],
            ),
        ]),
        None,
    );
    redirects(
        &table,
        &[
            ("/port", 302, "http://echo:8083/port"),
            (
                "/port-and-host",
                302,
                "http://example.org:8083/port-and-host",
            ),
            ("/port-and-status", 301, "http://echo:8083/port-and-status"),
            (
                "/port-and-host-and-status",
                302,
                "http://example.org:8083/port-and-host-and-status",
            ),
        ],
    );
}

#[test]
fn mesh_httproute_redirect_scheme() {
    let r = |hostname: &str, status_code| {
        redirect(pb::RequestRedirect {
            scheme: "https".into(),
            hostname: hostname.into(),
            status_code,
            ..Default::default()
        })
    };
    let table = RouteTable::new(
        flatten(vec![
            one(prefix("/scheme"), r("", 0), vec![]),
            one(prefix("/scheme-and-host"), r("example.org", 0), vec![]),
            one(prefix("/scheme-and-status"), r("", 301), vec![]),
            one(
                prefix("/scheme-and-host-and-status"),
                r("example.org", 302),
                vec![],
            ),
        ]),
        None,
    );
    redirects(
        &table,
        &[
            ("/scheme", 302, "https://echo/scheme"),
            (
                "/scheme-and-host",
                302,
                "https://example.org/scheme-and-host",
            ),
            ("/scheme-and-status", 301, "https://echo/scheme-and-status"),
            (
                "/scheme-and-host-and-status",
                302,
                "https://example.org/scheme-and-host-and-status",
            ),
        ],
    );
}

#[test]
fn mesh_httproute_redirect_host_and_status_and_303_307_308() {
    let r = |hostname: &str, status_code| {
        redirect(pb::RequestRedirect {
            hostname: hostname.into(),
            status_code,
            ..Default::default()
        })
    };
    let table = RouteTable::new(
        flatten(vec![
            one(prefix("/hostname-redirect"), r("example.org", 0), vec![]),
            one(prefix("/host-and-status"), r("example.org", 301), vec![]),
            one(prefix("/redirect"), r("", 303), vec![]),
            one(prefix("/temporary"), r("", 307), vec![]),
            one(prefix("/permanent"), r("", 308), vec![]),
        ]),
        None,
    );
    redirects(
        &table,
        &[
            (
                "/hostname-redirect",
                302,
                "http://example.org/hostname-redirect",
            ),
            (
                "/host-and-status",
                301,
                "http://example.org/host-and-status",
            ),
            ("/redirect", 303, "http://echo/redirect"),
            ("/temporary", 307, "http://echo/temporary"),
            ("/permanent", 308, "http://echo/permanent"),
        ],
    );
}

fn rewrite(path: Option<pb::PathModifier>, hostname: &str) -> pb::RouteFilter {
    filter(route_filter::Kind::UrlRewrite(pb::UrlRewrite {
        hostname: hostname.into(),
        path,
    }))
}

fn modify_headers() -> pb::RouteFilter {
    filter(route_filter::Kind::RequestHeaderModifier(header_modifier(
        &[("X-Header-Set", "set-overwrites-values")],
        &[
            ("X-Header-Add", "header-val-1"),
            ("X-Header-Add-Append", "header-val-2"),
        ],
        &["X-Header-Remove"],
    )))
}

#[test]
fn mesh_httproute_rewrite_path() {
    let v1 = || vec![to("echo-v1", 1)];
    let table = RouteTable::new(
        flatten(vec![
            one(
                prefix("/prefix/one"),
                vec![rewrite(replace_prefix("/one"), "")],
                v1(),
            ),
            one(
                prefix("/strip-prefix"),
                vec![rewrite(replace_prefix("/"), "")],
                v1(),
            ),
            one(
                prefix("/full/one"),
                vec![rewrite(replace_full("/one"), "")],
                v1(),
            ),
            one(
                prefix("/full/rewrite-path-and-modify-headers"),
                vec![rewrite(replace_full("/test"), ""), modify_headers()],
                v1(),
            ),
            one(
                prefix("/prefix/rewrite-path-and-modify-headers"),
                vec![rewrite(replace_prefix("/prefix"), ""), modify_headers()],
                v1(),
            ),
        ]),
        None,
    );
    for (path, want) in [
        ("/prefix/one/two", "/one/two"),
        ("/strip-prefix/three", "/three"),
        ("/strip-prefix", "/"),
        ("/full/one/two", "/one"),
    ] {
        let (d, req) = send(&table, path, &[]);
        assert_eq!(seen(&d), Seen::Backend("echo-v1".into()), "{path}");
        assert_eq!(req.uri.path(), want, "{path}");
    }
    let sent = [
        ("X-Header-Remove", "remove-val"),
        ("X-Header-Add-Append", "append-val-1"),
        ("X-Header-Set", "set-val"),
    ];
    for (path, want) in [
        ("/full/rewrite-path-and-modify-headers/test", "/test"),
        ("/prefix/rewrite-path-and-modify-headers/one", "/prefix/one"),
    ] {
        let (d, req) = send(&table, path, &sent);
        assert_eq!(seen(&d), Seen::Backend("echo-v1".into()), "{path}");
        assert_eq!(req.uri.path(), want, "{path}");
        let h = &req.headers;
        assert_eq!(header(h, "x-header-add").as_deref(), Some("header-val-1"));
        assert_eq!(
            header(h, "x-header-add-append").as_deref(),
            Some("append-val-1,header-val-2")
        );
        assert_eq!(
            header(h, "x-header-set").as_deref(),
            Some("set-overwrites-values")
        );
        assert_eq!(header(h, "x-header-remove"), None);
    }
}

#[test]
fn httproute_rewrite_host() {
    let table = RouteTable::new(
        flatten(vec![
            one(
                prefix("/one"),
                vec![rewrite(None, "one.example.org")],
                vec![to("v1", 1)],
            ),
            (
                vec![],
                vec![rewrite(None, "example.org")],
                vec![to("v2", 1)],
            ),
            one(
                prefix("/rewrite-host-and-modify-headers"),
                vec![rewrite(None, "test.example.org"), modify_headers()],
                vec![to("v2", 1)],
            ),
        ]),
        None,
    );
    for (path, host) in [
        ("/one", "one.example.org"),
        ("/two", "example.org"),
        ("/rewrite-host-and-modify-headers", "test.example.org"),
    ] {
        let mut req = request(
            "GET",
            path,
            &[
                ("host", "rewrite.example"),
                ("x-header-remove", "remove-val"),
            ],
        );
        assert!(matches!(
            table.decide(&mut req, 80, |_| true),
            Decision::Forward(_)
        ));
        assert_eq!(req.headers[header::HOST], host, "{path}");
        assert_eq!(req.uri.path(), path, "the path is left alone");
    }
    // HTTP/2 carries the host in the URI's authority.
    let mut req = Request::builder()
        .version(http::Version::HTTP_2)
        .uri("http://rewrite.example:8080/one?x=1")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert!(matches!(
        table.decide(&mut req, 80, |_| true),
        Decision::Forward(_)
    ));
    assert_eq!(req.uri, "http://one.example.org/one?x=1");
    assert!(
        !req.headers.contains_key(header::HOST),
        "none is added beside the authority"
    );
}

/// The suite's request header modifier cases, on the rule or on its
/// backendRef (`mesh-httproute-request-header-modifier-backend.yaml`).
fn request_header_modifier(on_backend: bool) {
    let rule_with = |p: &str, m: pb::HeaderModifier| {
        let f = vec![filter(route_filter::Kind::RequestHeaderModifier(m))];
        let mut b = to("echo-v1", 1);
        if on_backend {
            b.filters = f;
            one(prefix(p), vec![], vec![b])
        } else {
            one(prefix(p), f, vec![b])
        }
    };
    let table = RouteTable::new(
        flatten(vec![
            rule_with(
                "/set",
                header_modifier(&[("X-Header-Set", "set-overwrites-values")], &[], &[]),
            ),
            rule_with(
                "/add",
                header_modifier(&[], &[("X-Header-Add", "add-appends-values")], &[]),
            ),
            rule_with("/remove", header_modifier(&[], &[], &["X-Header-Remove"])),
            rule_with(
                "/multiple",
                header_modifier(
                    &[
                        ("X-Header-Set-1", "header-set-1"),
                        ("X-Header-Set-2", "header-set-2"),
                    ],
                    &[
                        ("X-Header-Add-1", "header-add-1"),
                        ("X-Header-Add-2", "header-add-2"),
                        ("X-Header-Add-3", "header-add-3"),
                    ],
                    &["X-Header-Remove-1", "X-Header-Remove-2"],
                ),
            ),
            rule_with(
                "/case-insensitivity",
                header_modifier(
                    &[("X-Header-Set", "header-set")],
                    &[("X-Header-Add", "header-add")],
                    &["X-Header-Remove"],
                ),
            ),
        ]),
        None,
    );
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a [(&'a str, &'a str)],
        &'a [&'a str],
    );
    let cases: [Case<'_>; 7] = [
        (
            "/set",
            &[("Some-Other-Header", "val")],
            &[
                ("Some-Other-Header", "val"),
                ("X-Header-Set", "set-overwrites-values"),
            ],
            &[],
        ),
        (
            "/set",
            &[
                ("Some-Other-Header", "val"),
                ("X-Header-Set", "some-other-value"),
            ],
            &[
                ("Some-Other-Header", "val"),
                ("X-Header-Set", "set-overwrites-values"),
            ],
            &[],
        ),
        (
            "/add",
            &[("Some-Other-Header", "val")],
            &[
                ("Some-Other-Header", "val"),
                ("X-Header-Add", "add-appends-values"),
            ],
            &[],
        ),
        (
            "/add",
            &[
                ("Some-Other-Header", "val"),
                ("X-Header-Add", "some-other-value"),
            ],
            &[
                ("Some-Other-Header", "val"),
                ("X-Header-Add", "some-other-value,add-appends-values"),
            ],
            &[],
        ),
        (
            "/remove",
            &[("X-Header-Remove", "val")],
            &[],
            &["X-Header-Remove"],
        ),
        (
            "/multiple",
            &[
                ("X-Header-Set-2", "set-val-2"),
                ("X-Header-Add-2", "add-val-2"),
                ("X-Header-Remove-2", "remove-val-2"),
                ("Another-Header", "another-header-val"),
            ],
            &[
                ("X-Header-Set-1", "header-set-1"),
                ("X-Header-Set-2", "header-set-2"),
                ("X-Header-Add-1", "header-add-1"),
                ("X-Header-Add-2", "add-val-2,header-add-2"),
                ("X-Header-Add-3", "header-add-3"),
                ("Another-Header", "another-header-val"),
            ],
            &["X-Header-Remove-1", "X-Header-Remove-2"],
        ),
        (
            "/case-insensitivity",
            &[
                ("x-header-set", "original-val-set"),
                ("x-header-add", "original-val-add"),
                ("x-header-remove", "original-val-remove"),
                ("Another-Header", "another-header-val"),
            ],
            &[
                ("X-Header-Set", "header-set"),
                ("X-Header-Add", "original-val-add,header-add"),
                ("Another-Header", "another-header-val"),
            ],
            &["x-header-remove", "X-Header-Remove"],
        ),
    ];
    for (path, sent, want, absent) in cases {
        let (d, req) = send(&table, path, sent);
        assert_eq!(seen(&d), Seen::Backend("echo-v1".into()), "{path}");
        for (n, v) in want {
            assert_eq!(header(&req.headers, n).as_deref(), Some(*v), "{path} {n}");
        }
        for n in absent {
            assert_eq!(header(&req.headers, n), None, "{path} {n}");
        }
    }
}

#[test]
fn mesh_httproute_request_header_modifier() {
    request_header_modifier(false);
}

#[test]
fn mesh_httproute_request_header_modifier_backend() {
    request_header_modifier(true);
}

#[test]
fn httproute_response_header_modifier() {
    let rule_with = |p: &str, m: pb::HeaderModifier| {
        one(
            prefix(p),
            vec![filter(route_filter::Kind::ResponseHeaderModifier(m))],
            vec![to("v1", 1)],
        )
    };
    let table = RouteTable::new(
        flatten(vec![
            rule_with(
                "/set",
                header_modifier(&[("X-Header-Set", "set-overwrites-values")], &[], &[]),
            ),
            rule_with(
                "/add",
                header_modifier(&[], &[("X-Header-Add", "add-appends-values")], &[]),
            ),
            rule_with("/remove", header_modifier(&[], &[], &["X-Header-Remove"])),
            rule_with(
                "/case-insensitivity",
                header_modifier(
                    &[("X-Header-Set", "header-set")],
                    &[
                        ("X-Header-Add", "header-add"),
                        ("x-lowercase-add", "lowercase-add"),
                        ("x-Mixedcase-ADD-1", "mixedcase-add-1"),
                        ("X-UPPERCASE-ADD", "uppercase-add"),
                    ],
                    &["X-Header-Remove"],
                ),
            ),
        ]),
        None,
    );
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a [(&'a str, &'a str)],
        &'a [&'a str],
    );
    let cases: [Case<'_>; 5] = [
        (
            "/set",
            &[
                ("Some-Other-Header", "val"),
                ("X-Header-Set", "some-other-value"),
            ],
            &[
                ("Some-Other-Header", "val"),
                ("X-Header-Set", "set-overwrites-values"),
            ],
            &[],
        ),
        (
            "/add",
            &[("Some-Other-Header", "val")],
            &[("X-Header-Add", "add-appends-values")],
            &[],
        ),
        (
            "/add",
            &[("X-Header-Add", "some-other-value")],
            &[("X-Header-Add", "some-other-value,add-appends-values")],
            &[],
        ),
        (
            "/remove",
            &[("X-Header-Remove", "val")],
            &[],
            &["X-Header-Remove"],
        ),
        (
            "/case-insensitivity",
            &[
                ("x-header-set", "original-val-set"),
                ("x-header-add", "original-val-add"),
                ("x-header-remove", "original-val-remove"),
                ("Another-Header", "another-header-val"),
            ],
            &[
                ("X-Header-Set", "header-set"),
                ("X-Header-Add", "original-val-add,header-add"),
                ("X-Lowercase-Add", "lowercase-add"),
                ("X-Mixedcase-Add-1", "mixedcase-add-1"),
                ("X-Uppercase-Add", "uppercase-add"),
                ("Another-Header", "another-header-val"),
            ],
            &["x-header-remove"],
        ),
    ];
    for (path, backend_sets, want, absent) in cases {
        let (d, _) = send(&table, path, &[]);
        let Decision::Forward(f) = d else {
            panic!("{path} not forwarded")
        };
        let mut h = HeaderMap::new();
        for (n, v) in backend_sets {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        f.edit_response(&mut h);
        for (n, v) in want {
            assert_eq!(header(&h, n).as_deref(), Some(*v), "{path} {n}");
        }
        for n in absent {
            assert_eq!(header(&h, n), None, "{path} {n}");
        }
    }
}
