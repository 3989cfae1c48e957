//! Gateway API routes (HTTPRoute, GRPCRoute) for one destination, as the
//! client's proxy applies them to each request. Pure: the caller hands in
//! the request's head and learns where it goes, or what to answer instead.
//!
//! The controller sends one rule per (rule, match), already in Gateway API
//! precedence order, so the first that matches decides. For each request
//! [`RouteTable::decide`]:
//! 1. puts the path in its normal form ([`crate::path`]), in the request
//!    itself, before anything reads it. Routes are matched, prefixes
//!    replaced and the request forwarded on the path the destination's
//!    proxy hands its app, so `/public/../admin` (or `/public/%2e%2e/admin`)
//!    is matched as the `/admin` it is. An ambiguous path (`%2F`, `\`) is
//!    answered 400 (`bad-request`), as the destination's proxy would.
//! 2. takes the first matching rule; with none the answer is 404 (gRPC
//!    `UNIMPLEMENTED`), `no-route`.
//! 3. applies the rule's filters in order: header edits, URL rewrite,
//!    mirrors noted, a redirect answered at once.
//! 4. chooses a backendRef by weight (smooth weighted round-robin). None
//!    with a weight, or an unusable one chosen, is answered 500
//!    (`bad-route`; gRPC `UNAVAILABLE`); none with a usable endpoint, 503
//!    (`unavailable`).
//! 5. applies that backendRef's filters.
//!
//! A table is built once per discovery snapshot, compiling what the
//! request path then only compares; the rules' balancing state and compiled
//! patterns carry over to the next table for the rules that stay.

mod backends;
mod filter;
mod headers;
mod matching;
mod query;
mod redirect;
mod rewrite;

pub use self::headers::HeaderEdit;
use self::{
    backends::{Backends, NoBackend},
    filter::{Effects, Filters, Outcome},
    matching::{Regexes, RequestMatch},
};
use crate::{
    error::ProxyError,
    http::{body::Body, headers::is_grpc},
    path,
};
use http::{HeaderMap, Response, request::Parts};
use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};
use weft_api::discovery as pb;

const NO_ROUTE: &str = "no route rule matches the request";

/// One destination's routes, in precedence order.
#[derive(Debug, Default)]
pub struct RouteTable {
    rules: Vec<Arc<Rule>>,
    regexes: Regexes,
}

/// One (rule, match) of a route.
#[derive(Debug)]
pub struct Rule {
    route: String,
    rule: String,
    matcher: RequestMatch,
    filters: Filters,
    backends: Backends,
    request_timeout: Option<Duration>,
    backend_request_timeout: Option<Duration>,
    retry: Option<Retry>,
}

/// A rule's retry policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Attempts after the first.
    pub attempts: u32,
    /// Response statuses that are retried; empty: none (only failures to
    /// connect and reset streams).
    pub codes: Arc<[u16]>,
    pub backoff: Duration,
}

/// Where one request goes.
#[derive(Debug)]
pub enum Decision {
    /// Send the request, as the rule's filters left it, to `backend`.
    Forward(Forward),
    /// Answer with this instead: a redirect, or why the request cannot be
    /// routed (404, 500, 503, 400; gRPC statuses for a gRPC request).
    Respond(Response<Body>),
}

/// A request to send on.
#[derive(Debug)]
pub struct Forward {
    pub rule: Arc<Rule>,
    /// A `route_backends` name.
    pub backend: Arc<str>,
    /// For the response, in order ([`Forward::edit_response`]).
    pub response_headers: Vec<Arc<HeaderEdit>>,
    /// `route_backends` names each to get a copy of the request, whose
    /// answers are dropped.
    pub mirrors: Vec<Arc<str>>,
    /// The whole exchange, retries included.
    pub request_timeout: Option<Duration>,
    /// Each attempt.
    pub backend_request_timeout: Option<Duration>,
    pub retry: Option<Retry>,
}

impl Forward {
    /// Applies the route's ResponseHeaderModifiers to the response.
    pub fn edit_response(&self, headers: &mut HeaderMap) {
        for e in &self.response_headers {
            e.apply(headers);
        }
    }
}

impl Rule {
    /// `<kind>/<namespace>/<name>`, for logs.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The rule's name or index, for logs.
    pub fn name(&self) -> &str {
        &self.rule
    }

    fn label(&self) -> String {
        format!("{} rule {}", self.route, self.rule)
    }
}

impl RouteTable {
    /// The table for `rules`, which replaces `prev` (if any): rules that
    /// stay keep their balancing state, patterns stay compiled.
    pub fn new(rules: Vec<pb::RouteRule>, prev: Option<&RouteTable>) -> Self {
        let mut regexes = prev.map(|p| Regexes::after(&p.regexes)).unwrap_or_default();
        // A rule is the same rule when its route and name are; one with
        // several matches is several, told apart by their order.
        let mut states: HashMap<&str, HashMap<&str, VecDeque<_>>> = HashMap::new();
        for r in prev.map_or(&[][..], |p| &p.rules[..]) {
            states
                .entry(&r.route)
                .or_default()
                .entry(&r.rule)
                .or_default()
                .push_back(r.backends.state());
        }
        let rules = rules
            .into_iter()
            .map(|r| {
                let state = states
                    .get_mut(r.route.as_str())
                    .and_then(|rules| rules.get_mut(r.rule.as_str()))
                    .and_then(VecDeque::pop_front)
                    .cloned()
                    .unwrap_or_default();
                let matcher = RequestMatch::new(r.r#match.as_ref(), &mut regexes);
                let prefix = matcher.prefix();
                let ms = |ms: u32| (ms > 0).then(|| Duration::from_millis(u64::from(ms)));
                Arc::new(Rule {
                    filters: Filters::new(&r.filters, prefix),
                    backends: Backends::new(&r.backends, prefix, state),
                    matcher,
                    request_timeout: ms(r.request_timeout_ms),
                    backend_request_timeout: ms(r.backend_request_timeout_ms),
                    retry: r.retry.map(|r| Retry {
                        attempts: r.attempts,
                        codes: r
                            .codes
                            .iter()
                            .filter_map(|&c| u16::try_from(c).ok())
                            .collect(),
                        backoff: Duration::from_millis(u64::from(r.backoff_ms)),
                    }),
                    route: r.route,
                    rule: r.rule,
                })
            })
            .collect();
        Self {
            rules,
            regexes: regexes.done(),
        }
    }

    /// Whether there are no routes (the destination is not routed by them).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Where `req` goes, sent by the app to `port` (the Service port, a
    /// redirect's default). `req`'s path is left in normal form and the
    /// filters applied to it. `usable` says whether a `route_backends`
    /// name has an endpoint that can take the request now.
    pub fn decide(&self, req: &mut Parts, port: u16, usable: impl Fn(&str) -> bool) -> Decision {
        match self.route(req, port, usable) {
            Ok(d) => d,
            Err(error) => {
                match &error {
                    ProxyError::NoRoute(_) | ProxyError::Unavailable(_) => {
                        tracing::debug!(method = %req.method, path = req.uri.path(), %error, "not routed")
                    }
                    _ => {
                        tracing::info!(method = %req.method, path = req.uri.path(), %error, "not routed")
                    }
                }
                Decision::Respond(error.into_response(is_grpc(&req.headers)))
            }
        }
    }

    fn route(
        &self,
        req: &mut Parts,
        port: u16,
        usable: impl Fn(&str) -> bool,
    ) -> Result<Decision, ProxyError> {
        path::normalise_uri(&mut req.uri).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
        let rule = self
            .find(req)
            .ok_or_else(|| ProxyError::NoRoute(NO_ROUTE.into()))?;
        let in_rule = |e: ProxyError| match e {
            ProxyError::BadRoute(why) => ProxyError::BadRoute(format!("{}: {why}", rule.label())),
            other => other,
        };
        let mut effects = Effects::default();
        let respond = |mut resp: Response<Body>, effects: Effects| {
            for e in &effects.response {
                e.apply(resp.headers_mut());
            }
            Ok(Decision::Respond(resp))
        };
        if let Outcome::Respond(resp) =
            rule.filters.run(req, &mut effects, port).map_err(in_rule)?
        {
            return respond(resp, effects);
        }
        let backend = rule.backends.choose(usable).map_err(|e| match e {
            NoBackend::NoEndpoint => ProxyError::Unavailable(format!("{}: {e}", rule.label())),
            NoBackend::NoneWeighted | NoBackend::Invalid => {
                ProxyError::BadRoute(format!("{}: {e}", rule.label()))
            }
        })?;
        if let Outcome::Respond(resp) = backend
            .filters
            .run(req, &mut effects, port)
            .map_err(in_rule)?
        {
            return respond(resp, effects);
        }
        tracing::debug!(route = %rule.route, rule = %rule.rule, backend = %backend.name, "routed");
        Ok(Decision::Forward(Forward {
            rule: rule.clone(),
            backend: backend.name.clone(),
            response_headers: effects.response,
            mirrors: effects.mirrors,
            request_timeout: rule.request_timeout,
            backend_request_timeout: rule.backend_request_timeout,
            retry: rule.retry.clone(),
        }))
    }

    /// The first rule `req` (its path normal) matches.
    fn find(&self, req: &Parts) -> Option<&Arc<Rule>> {
        self.rules.iter().find(|r| r.matcher.matches(req))
    }
}

/// The answer to a request no rule matches: 404, or for gRPC (`grpc`)
/// `UNIMPLEMENTED`, as HTTPRoute and GRPCRoute ask.
pub fn no_route(grpc: bool) -> Response<Body> {
    ProxyError::NoRoute(NO_ROUTE.into()).into_response(grpc)
}

#[cfg(test)]
mod tests;
