//! HTTPRouteGroup matching for one request.
//!
//! The controller sends the SMI regexes as written; they are compiled here
//! once and cached, since the same few patterns are checked on every
//! request. A pattern that does not compile matches nothing (fail closed).

use http::HeaderMap;
use regex::Regex;
use std::{collections::HashMap, sync::Mutex};
use weft_api::policy::HttpRoute;

/// What a route can match on.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path without the query.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
}

/// Compiled patterns, keyed by their anchored source.
#[derive(Default)]
pub struct Regexes {
    cache: Mutex<HashMap<String, Option<Regex>>>,
}

/// Policies name a handful of patterns; a flood of distinct ones (policy
/// churn over a long life) is cleared rather than kept.
const MAX_CACHED: usize = 1024;

impl Regexes {
    /// Whether `req` matches every condition `route` sets.
    pub fn matches(&self, route: &HttpRoute, req: &Request<'_>) -> bool {
        let method_ok = route.methods.is_empty()
            || route
                .methods
                .iter()
                .any(|m| m == "*" || m.eq_ignore_ascii_case(req.method));
        // The path is anchored at its start only: `/api` covers `/api/x`,
        // as SMI's pathRegex examples expect.
        let path_ok = route.path_regex.is_empty()
            || self.is_match(&format!("^(?:{})", route.path_regex), req.path);
        method_ok
            && path_ok
            && route.headers.iter().all(|h| {
                let re = format!("^(?:{})$", h.value_regex);
                joined(req.headers, &h.name).is_some_and(|v| self.is_match(&re, &v))
            })
    }

    fn is_match(&self, anchored: &str, text: &str) -> bool {
        let mut cache = self.cache.lock().expect("regex cache lock");
        if cache.len() >= MAX_CACHED && !cache.contains_key(anchored) {
            cache.clear();
        }
        cache
            .entry(anchored.to_string())
            .or_insert_with(|| {
                Regex::new(anchored)
                    .inspect_err(|error| tracing::warn!(%error, "an HTTP route's regex does not compile; it matches nothing"))
                    .ok()
            })
            .as_ref()
            .is_some_and(|re| re.is_match(text))
    }
}

/// A header's value as HTTP combines repeated fields (RFC 9110 §5.3): all
/// of them, in order, joined by ", ". Matching each value on its own would
/// let a request pass with one honest value beside any other; the joined
/// value is what a single header carrying both would say. `None` when the
/// header is absent or a value is not visible ASCII (no pattern can vouch
/// for bytes it cannot see).
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?.to_str().ok()?;
    let mut all = first.to_string();
    for v in values {
        all.push_str(", ");
        all.push_str(v.to_str().ok()?);
    }
    Some(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_api::policy::HeaderMatch;

    fn route(path: &str, methods: &[&str], headers: &[(&str, &str)]) -> HttpRoute {
        HttpRoute {
            name: "r".into(),
            path_regex: path.into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            headers: headers
                .iter()
                .map(|(n, v)| HeaderMatch {
                    name: n.to_string(),
                    value_regex: v.to_string(),
                })
                .collect(),
        }
    }

    fn matches(route: &HttpRoute, method: &str, path: &str, headers: &[(&str, &str)]) -> bool {
        let mut h = HeaderMap::new();
        for (n, v) in headers {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Regexes::default().matches(
            route,
            &Request {
                method,
                path,
                headers: &h,
            },
        )
    }

    #[test]
    fn path_is_anchored_at_its_start_only() {
        let r = route("/api", &[], &[]);
        assert!(matches(&r, "GET", "/api", &[]));
        assert!(matches(&r, "GET", "/api/v1/items", &[]));
        assert!(!matches(&r, "GET", "/v2/api", &[]));
        let r = route("/items/[0-9]+$", &[], &[]);
        assert!(matches(&r, "GET", "/items/42", &[]));
        assert!(!matches(&r, "GET", "/items/42/edit", &[]));
    }

    #[test]
    fn methods_any_of_or_wildcard() {
        let r = route("", &["GET", "HEAD"], &[]);
        assert!(matches(&r, "GET", "/", &[]));
        assert!(!matches(&r, "POST", "/", &[]));
        assert!(matches(&route("", &["*"], &[]), "DELETE", "/", &[]));
        assert!(matches(&route("", &[], &[]), "PATCH", "/", &[]));
    }

    #[test]
    fn headers_must_be_present_and_match_whole() {
        let r = route("", &[], &[("x-tenant", "blue|green")]);
        assert!(matches(&r, "GET", "/", &[("x-tenant", "blue")]));
        assert!(!matches(&r, "GET", "/", &[("x-tenant", "bluey")]));
        assert!(!matches(&r, "GET", "/", &[]));
    }

    #[test]
    fn repeated_headers_match_as_their_joined_value() {
        let r = route("", &[], &[("x-tenant", "acme")]);
        for values in [&["evil", "acme"][..], &["acme", "evil"], &["acme", "acme"]] {
            let h: Vec<_> = values.iter().map(|v| ("x-tenant", *v)).collect();
            assert!(!matches(&r, "GET", "/", &h), "{values:?}");
        }
        assert!(matches(&r, "GET", "/", &[("x-tenant", "acme")]));
        // A pattern written for a list still matches the list.
        let list = route("", &[], &[("accept", "a/b, c/d")]);
        assert!(matches(
            &list,
            "GET",
            "/",
            &[("accept", "a/b"), ("accept", "c/d")]
        ));
        // A value that is not visible ASCII matches nothing.
        let any = route("", &[], &[("x-tenant", ".*")]);
        let mut h = HeaderMap::new();
        h.append(
            "x-tenant",
            http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert!(!Regexes::default().matches(
            &any,
            &Request {
                method: "GET",
                path: "/",
                headers: &h
            }
        ));
    }

    #[test]
    fn a_broken_pattern_matches_nothing() {
        assert!(!matches(
            &route("/(unclosed", &[], &[]),
            "GET",
            "/(unclosed",
            &[]
        ));
    }
}
