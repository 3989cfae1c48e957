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
                req.headers
                    .get_all(h.name.as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .any(|v| self.is_match(&re, v))
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
        // Any one of repeated values may match.
        assert!(matches(
            &r,
            "GET",
            "/",
            &[("x-tenant", "red"), ("x-tenant", "green")]
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
