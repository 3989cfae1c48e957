//! Outbound HTTP through Gateway API routes: the route table decides where
//! one request goes (or answers it), then the request is sent to an
//! endpoint of the chosen backend within the rule's timeouts, retried as
//! its retry policy and the proxy's [`RetryBudget`] allow, and mirrored.
//!
//! Only a request without a body is retried or mirrored: the body streams
//! to the first endpoint and is never buffered, so there is nothing to send
//! again.
//!
//! [`RetryBudget`]: super::budget::RetryBudget

use super::{
    answer::Meshed,
    connect::{Connected, connect_with},
    destination::pick_in,
    http::{HttpClient, Usable, no_peer},
    route::{Decision, Forward},
};
use crate::{
    error::ProxyError,
    http::{
        body::{Body, boxed, full},
        headers::{is_grpc, is_upgrade},
    },
    metrics::Label,
};
use http::{Request, Response, request::Parts};
use hyper::body::{Body as _, Incoming};
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;

/// Longest wait for a mirror's answer, which nobody reads.
const MIRROR_TIMEOUT: Duration = Duration::from_secs(10);

// A method of the client, so that `http` (which calls it) names nothing
// here: the arrow runs one way, from this module to `http`.
impl HttpClient {
    /// Serves `req` by the routes of `m`: the response and the peer that
    /// gave it (`none` when the proxy answered itself).
    pub(super) async fn routed(
        self: &Arc<Self>,
        req: Request<Incoming>,
        m: &Arc<Meshed>,
        usable: &Usable,
        port: u16,
    ) -> (Response<Body>, Label) {
        request(self, req, m, usable, port).await
    }
}

async fn request(
    client: &Arc<HttpClient>,
    req: Request<Incoming>,
    m: &Arc<Meshed>,
    usable: &Usable,
    port: u16,
) -> (Response<Body>, Label) {
    let grpc = is_grpc(req.headers());
    let upgrade = is_upgrade(&req);
    let (mut parts, body) = req.into_parts();
    let has_endpoint = |name: &str| {
        m.route_backend(name)
            .is_some_and(|b| b.endpoints.iter().any(|e| usable(e)))
    };
    let fwd = match m.routes.decide(&mut parts, port, has_endpoint) {
        Decision::Respond(resp) => return (resp, no_peer()),
        Decision::Forward(f) => f,
    };
    tracing::debug!(route = fwd.rule.route(), rule = fwd.rule.name(), backend = %fwd.backend, "routed");
    // An upgrade becomes a byte stream: it can be neither copied nor
    // sent twice.
    let repeatable = body.is_end_stream() && !upgrade;
    if repeatable {
        for name in &fwd.mirrors {
            mirror(client, m, usable, name, &parts);
        }
    } else if !fwd.mirrors.is_empty() {
        tracing::debug!("a request with a body is not mirrored");
    }
    let again = (repeatable && fwd.retry.is_some()).then(|| copy_head(&parts));
    let first = Request::from_parts(parts, boxed(body));
    let attempts = attempts(client, first, again, m, usable, &fwd, grpc);
    let (mut resp, peer) = match fwd.request_timeout {
        Some(t) => tokio::time::timeout(t, attempts).await.unwrap_or_else(|_| {
            tracing::info!(route = fwd.rule.route(), timeout = ?t, "no response within the route's request timeout");
            (ProxyError::Timeout(t).into_response(grpc), no_peer())
        }),
        None => attempts.await,
    };
    fwd.edit_response(resp.headers_mut());
    (resp, peer)
}

/// The first attempt, then retries of `again` (a copy of the request, when
/// it may be sent again) while the rule's policy and the budget allow.
async fn attempts(
    client: &HttpClient,
    first: Request<Body>,
    again: Option<Request<()>>,
    m: &Meshed,
    usable: &Usable,
    fwd: &Forward,
    grpc: bool,
) -> (Response<Body>, Label) {
    client.budget.deposit(Instant::now());
    let retry = again.as_ref().and(fwd.retry.as_ref());
    let mut left = retry.map_or(0, |r| r.attempts);
    let mut req = first;
    loop {
        let (answer, peer) = attempt(client, req, m, usable, fwd).await;
        let retryable = match &answer {
            Ok(resp) => retry.is_some_and(|r| r.codes.contains(&resp.status().as_u16())),
            Err(e) => matches!(
                e,
                ProxyError::Connect(_) | ProxyError::Upstream(_) | ProxyError::Timeout(_)
            ),
        };
        let (Some(r), Some(head)) = (retry, &again) else {
            return finish(answer, peer, grpc);
        };
        if !retryable || left == 0 {
            return finish(answer, peer, grpc);
        }
        if !client.budget.withdraw(Instant::now()) {
            tracing::info!(
                route = fwd.rule.route(),
                "the retry budget is spent; not retried"
            );
            client.metrics.retry(false);
            return finish(answer, peer, grpc);
        }
        left -= 1;
        client.metrics.retry(true);
        tracing::debug!(route = fwd.rule.route(), left, "retrying");
        if !r.backoff.is_zero() {
            tokio::time::sleep(r.backoff).await;
        }
        req = rebuild(head);
    }
}

fn finish(
    answer: Result<Response<Body>, ProxyError>,
    peer: Label,
    grpc: bool,
) -> (Response<Body>, Label) {
    match answer {
        Ok(resp) => (resp, peer),
        Err(e) => (e.into_response(grpc), peer),
    }
}

/// One attempt: an endpoint of the chosen backend, the request over its
/// link within the rule's backend timeout (else the proxy's).
async fn attempt(
    client: &HttpClient,
    req: Request<Body>,
    m: &Meshed,
    usable: &Usable,
    fwd: &Forward,
) -> (Result<Response<Body>, ProxyError>, Label) {
    let Some(backend) = m.route_backend(&fwd.backend) else {
        let why = format!("{} is not in the routes' backends", fwd.backend);
        return (Err(ProxyError::Unavailable(why)), no_peer());
    };
    let upgrade = is_upgrade(&req);
    let connected = connect_with(
        || pick_in(backend, |e| usable(e)),
        |e| client.link(e, upgrade),
    )
    .await;
    let (e, link) = match connected {
        Ok(Connected::Endpoint(e, link)) => (e, link),
        Ok(Connected::Passthrough) => {
            let why = "a route backend left the mesh".to_string();
            return (Err(ProxyError::Unavailable(why)), no_peer());
        }
        Err(error) => return (Err(error), no_peer()),
    };
    let timeout = fwd.backend_request_timeout.or(client.request_timeout);
    let (answer, id) = client.over(req, &e, link, timeout).await;
    (answer, id.shared_str())
}

/// Sends a copy of the request to backend `name` and drops its answer.
fn mirror(client: &Arc<HttpClient>, m: &Arc<Meshed>, usable: &Usable, name: &str, parts: &Parts) {
    let Ok(permit) = client.mirrors.clone().try_acquire_owned() else {
        tracing::debug!(
            mirror = name,
            "too many mirrored requests in flight; not mirrored"
        );
        return;
    };
    let (client, m, usable) = (client.clone(), m.clone(), usable.clone());
    let (name, req) = (name.to_string(), rebuild(&copy_head(parts)));
    tokio::spawn(async move {
        let _permit = permit;
        let Some(backend) = m.route_backend(&name) else {
            return;
        };
        let connected = connect_with(
            || pick_in(backend, |e| usable(e)),
            |e| client.link(e, false),
        )
        .await;
        if let Ok(Connected::Endpoint(e, link)) = connected {
            let (answer, _) = client.over(req, &e, link, Some(MIRROR_TIMEOUT)).await;
            if let Err(error) = answer {
                tracing::debug!(mirror = name, %error, "the mirror did not answer");
            }
        }
    });
}

/// The request's head, to send again.
fn copy_head(parts: &Parts) -> Request<()> {
    let mut req = Request::new(());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req
}

fn rebuild(head: &Request<()>) -> Request<Body> {
    let mut req = Request::new(full(bytes::Bytes::new()));
    *req.method_mut() = head.method().clone();
    *req.uri_mut() = head.uri().clone();
    *req.version_mut() = head.version();
    *req.headers_mut() = head.headers().clone();
    req
}
