//! A route's rules as the proxy's `RouteRule`s: one per (rule, match).
//!
//! - An HTTPRoute rule without matches gets the API's default, a
//!   `PathPrefix /` match; a GRPCRoute rule without matches has no match
//!   (any request). An HTTPRoute match without a path is `PathPrefix /`.
//! - A PathPrefix loses its trailing `/` (`/a/` means what `/a` means).
//! - Header names are lower-cased; of several matches on one header name
//!   (query parameter name, compared exactly) only the first counts, as
//!   Gateway API says.
//! - A GRPCRoute method match becomes a path: service and method →
//!   Exact `/service/method`; service only → PathPrefix `/service`; method
//!   only → the regex `/[^/]+/method`; `RegularExpression` → the regex
//!   `/(service)/(method)`, `[^/]+` standing in for an absent part.
//! - A match weft cannot read (an unknown type, a regex that does not
//!   compile) is left out and reported; a rule all of whose matches are
//!   left out matches nothing, never everything.
//! - A retry without `attempts` retries once.

use super::duration;
use super::precedence::{Class, Origin, Precedence};
use super::route::{Matches, Route};
use super::{Build, backends, filters};
use std::collections::BTreeSet;
use weft_api::discovery::{
    PathMatch, RouteMatch, RouteRetry, RouteRule, ValueMatch, path_match::Kind as PathKind,
};
use weft_k8s_api::gateway::grpc::GrpcRouteMatch;
use weft_k8s_api::gateway::http::{
    self as api, EXACT, HttpRouteMatch, HttpRouteRetry, PATH_EXACT, PATH_PREFIX, REGULAR_EXPRESSION,
};
use weft_k8s_api::gateway::status::conditions as c;

/// Retries when a retry stanza does not say how many (Gateway API leaves
/// it to the implementation).
pub(crate) const DEFAULT_RETRY_ATTEMPTS: u32 = 1;

/// Any one path segment, for the absent part of a gRPC method match.
const ANY_SEGMENT: &str = "[^/]+";

/// A match as the proxy's, and its precedence; or why weft cannot read it.
type Matched = Result<(Option<RouteMatch>, Precedence), String>;

/// One flattened rule, with what orders it.
pub(crate) struct Flat {
    pub precedence: Precedence,
    pub origin: Origin,
    pub rule: RouteRule,
}

pub(crate) fn route(b: &mut Build<'_>, route: Route<'_>) -> Vec<Flat> {
    let key = route.key();
    let mut out = Vec::new();
    for (i, rule) in route.rules().into_iter().enumerate() {
        let name = rule.name.map_or_else(|| i.to_string(), str::to_owned);
        let filters: Vec<_> = rule
            .filters
            .iter()
            .map(|f| filters::map(b, route, f))
            .collect();
        let backends: Vec<_> = rule
            .backend_refs
            .iter()
            .map(|r| backends::route_backend(b, route, r))
            .collect();
        let timeouts = rule.timeouts;
        let request = millis(
            b,
            &name,
            "timeouts.request",
            timeouts.and_then(|t| t.request.as_deref()),
        );
        let backend_request = millis(
            b,
            &name,
            "timeouts.backendRequest",
            timeouts.and_then(|t| t.backend_request.as_deref()),
        );
        let retries = rule.retry.map(|r| retry(b, &name, r));
        let matches: Vec<(usize, Matched)> = match rule.matches {
            Matches::Http([]) => vec![(0, http(&HttpRouteMatch::default()))],
            Matches::Http(ms) => ms.iter().map(http).enumerate().collect(),
            Matches::Grpc([]) => vec![(0, Ok((None, Precedence::grpc("", "", 0))))],
            Matches::Grpc(ms) => ms.iter().map(grpc).enumerate().collect(),
        };
        for (j, m) in matches {
            let (m, precedence) = match m {
                Ok(m) => m,
                Err(why) => {
                    b.problem(
                        c::REASON_UNSUPPORTED_VALUE,
                        format!("rule {name} match {j}: {why}; the match is left out"),
                    );
                    continue;
                }
            };
            out.push(Flat {
                precedence,
                origin: Origin {
                    created: route.meta().creation_timestamp.clone(),
                    route: format!("{}/{}", key.ns, key.name),
                    kind: route.kind().as_str(),
                    rule: i,
                    index: j,
                },
                rule: RouteRule {
                    route: route.name(),
                    rule: name.clone(),
                    r#match: m,
                    filters: filters.clone(),
                    backends: backends.clone(),
                    request_timeout_ms: request,
                    backend_request_timeout_ms: backend_request,
                    retry: retries.clone(),
                },
            });
        }
    }
    out
}

fn http(m: &HttpRouteMatch) -> Matched {
    let path = m.path.clone().unwrap_or_default();
    let value = path.value.unwrap_or_else(|| "/".into());
    let (kind, value, class) = match path.type_.as_deref().unwrap_or(PATH_PREFIX) {
        PATH_EXACT => (PathKind::Exact, value, Class::Exact),
        PATH_PREFIX => {
            let trimmed = value.trim_end_matches('/');
            let value = if trimmed.is_empty() { "/" } else { trimmed };
            (PathKind::Prefix, value.to_owned(), Class::Prefix)
        }
        REGULAR_EXPRESSION => {
            compiles(&value).map_err(|e| format!("path: {e}"))?;
            (PathKind::Regex, value, Class::Regex)
        }
        other => return Err(format!("path match type {other:?}")),
    };
    let headers = values(&m.headers, |n| n.to_ascii_lowercase(), "header")?;
    let query_params = values(&m.query_params, str::to_owned, "query parameter")?;
    let method = m.method.as_deref().unwrap_or("").to_ascii_uppercase();
    let precedence = Precedence::http(
        class,
        &value,
        !method.is_empty(),
        headers.len(),
        query_params.len(),
    );
    let m = RouteMatch {
        path: Some(PathMatch {
            kind: kind.into(),
            value,
        }),
        headers,
        query_params,
        method,
    };
    Ok((Some(m), precedence))
}

fn grpc(m: &GrpcRouteMatch) -> Matched {
    let headers = values(&m.headers, |n| n.to_ascii_lowercase(), "header")?;
    let part = |p: &Option<String>| p.clone().filter(|s| !s.is_empty());
    let (service, method) = m
        .method
        .as_ref()
        .map(|mm| (part(&mm.service), part(&mm.method)))
        .unwrap_or_default();
    let exact = match m.method.as_ref().and_then(|mm| mm.type_.as_deref()) {
        None | Some(EXACT) => true,
        Some(REGULAR_EXPRESSION) => false,
        Some(other) => return Err(format!("method match type {other:?}")),
    };
    let path = match (&service, &method) {
        (None, None) => None,
        (Some(s), Some(m)) if exact => Some((PathKind::Exact, format!("/{s}/{m}"))),
        (Some(s), None) if exact => Some((PathKind::Prefix, format!("/{s}"))),
        (None, Some(m)) if exact => Some((
            PathKind::Regex,
            format!("/{ANY_SEGMENT}/{}", regex::escape(m)),
        )),
        (s, m) => {
            for p in [s, m].into_iter().flatten() {
                compiles(p).map_err(|e| format!("method: {e}"))?;
            }
            let s = s.as_deref().unwrap_or(ANY_SEGMENT);
            let m = m.as_deref().unwrap_or(ANY_SEGMENT);
            Some((PathKind::Regex, format!("/({s})/({m})")))
        }
    };
    let precedence = Precedence::grpc(
        service.as_deref().unwrap_or(""),
        method.as_deref().unwrap_or(""),
        headers.len(),
    );
    let m = RouteMatch {
        path: path.map(|(kind, value)| PathMatch {
            kind: kind.into(),
            value,
        }),
        headers,
        query_params: Vec::new(),
        method: String::new(),
    };
    Ok((Some(m), precedence))
}

/// Header or query parameter matches; only the first of one name counts.
fn values(
    ms: &[api::ValueMatch],
    name: impl Fn(&str) -> String,
    what: &str,
) -> Result<Vec<ValueMatch>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for m in ms {
        let n = name(&m.name);
        if !seen.insert(n.clone()) {
            continue;
        }
        let regex = match m.type_.as_deref() {
            None | Some(EXACT) => false,
            Some(REGULAR_EXPRESSION) => {
                compiles(&m.value).map_err(|e| format!("{what} {n}: {e}"))?;
                true
            }
            Some(other) => return Err(format!("{what} {n}: match type {other:?}")),
        };
        out.push(ValueMatch {
            name: n,
            regex,
            value: m.value.clone(),
        });
    }
    Ok(out)
}

/// Whether the proxy can compile a regex (it uses the same crate).
fn compiles(re: &str) -> Result<(), String> {
    regex::Regex::new(re)
        .map(drop)
        .map_err(|e| format!("invalid regex {re:?}: {e}"))
}

fn millis(b: &mut Build<'_>, rule: &str, field: &str, value: Option<&str>) -> u32 {
    let Some(v) = value else { return 0 };
    duration::millis(v).unwrap_or_else(|e| {
        b.problem(
            c::REASON_UNSUPPORTED_VALUE,
            format!("rule {rule} {field}: {e}; ignored"),
        );
        0
    })
}

fn retry(b: &mut Build<'_>, rule: &str, r: &HttpRouteRetry) -> RouteRetry {
    RouteRetry {
        attempts: r
            .attempts
            .map_or(DEFAULT_RETRY_ATTEMPTS, |a| u32::try_from(a).unwrap_or(0)),
        codes: r
            .codes
            .iter()
            .filter_map(|c| u32::try_from(*c).ok())
            .collect(),
        backoff_ms: millis(b, rule, "retry.backoff", r.backoff.as_deref()),
    }
}
