//! `weft_proxy::path::normalise` and `weft_proxy::routes`: the request path
//! and headers an inbound request is authorized on. Any client controls
//! both.
//!
//! Beyond "no panic":
//! - a normal path is a fixed point: normalising it again changes nothing;
//! - it holds no `//`, no `.` or `..` segment, no `\`, no encoded `/` or
//!   `\`, and each escape is upper-case hex of a byte that is not
//!   unreserved, so no two spellings of one path reach a route;
//! - a route matches a request exactly as it matches the same request with
//!   its repeated header values joined into one.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use weft_api::policy::{HeaderMatch, HttpRoute};
use weft_proxy::{
    path::normalise,
    routes::{Regexes, Request},
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, header_values) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(normal) = normalise(path) {
        check_normal(&normal);
        assert_eq!(
            normalise(&normal).as_deref(),
            Ok(&*normal),
            "not a fixed point"
        );
        match_routes(&normal, header_values);
    } else {
        assert!(path != "/" && path != "*", "{path:?} refused");
    }
});

fn check_normal(p: &str) {
    if p == "*" {
        return;
    }
    assert!(p.starts_with('/'), "{p:?}");
    assert!(!p.contains("//"), "{p:?}");
    assert!(!p.contains('\\'), "{p:?}");
    for seg in p.split('/') {
        assert!(seg != "." && seg != "..", "{p:?}");
    }
    let b = p.as_bytes();
    for (i, _) in p.match_indices('%') {
        let hex = &b[i + 1..i + 3];
        assert!(
            hex.iter()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)),
            "{p:?}"
        );
        let v = u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap();
        assert!(
            !(v.is_ascii_alphanumeric() || b"-._~/\\".contains(&v)),
            "{p:?} keeps an escape it should have decoded or refused"
        );
    }
}

fn match_routes(path: &str, header_values: &str) {
    let regexes = Regexes::default();
    let routes = [
        route("/public", "acme"),
        route("/api/v[0-9]+/items$", "a|b"),
        route("", "acme, evil"),
    ];
    let mut repeated = HeaderMap::new();
    for v in header_values.split('\n').take(8) {
        if let Ok(v) = HeaderValue::from_str(v) {
            repeated.append(HeaderName::from_static("x-tenant"), v);
        }
    }
    let joined_value: Vec<&str> = repeated
        .get_all("x-tenant")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut joined = HeaderMap::new();
    if !joined_value.is_empty() && joined_value.len() == repeated.get_all("x-tenant").iter().count()
    {
        if let Ok(v) = HeaderValue::from_str(&joined_value.join(", ")) {
            joined.insert(HeaderName::from_static("x-tenant"), v);
        }
    }
    for r in &routes {
        let one = regexes.matches(
            r,
            &Request {
                method: "GET",
                path,
                headers: &repeated,
            },
        );
        if !joined.is_empty() {
            let other = regexes.matches(
                r,
                &Request {
                    method: "GET",
                    path,
                    headers: &joined,
                },
            );
            assert_eq!(
                one, other,
                "repeated {repeated:?} and joined {joined:?} disagree"
            );
        }
    }
}

fn route(path: &str, tenant: &str) -> HttpRoute {
    HttpRoute {
        name: "r".into(),
        path_regex: path.into(),
        methods: vec!["GET".into()],
        headers: vec![HeaderMatch {
            name: "x-tenant".into(),
            value_regex: tenant.into(),
        }],
    }
}
