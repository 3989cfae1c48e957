//! Serving one connection as HTTP, whichever direction it came from, within
//! the proxy's [`Limits`].

use super::{Io, body::Body};
use crate::{
    detect::Protocol,
    idle::{Activity, Watched},
    limits::{H2_MAX_ERROR_RESETS, H2_MAX_PENDING_RESETS, Limits},
    metrics::{Direction, Metrics, refusal},
};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::{convert::Infallible, future::Future, pin::Pin, sync::Arc};
use tokio::io::{AsyncRead, AsyncWrite};

/// The limits a served connection is held to, and where hitting one is
/// counted.
#[derive(Clone, Copy)]
pub struct Bounds<'a> {
    pub limits: &'a Limits,
    pub metrics: &'a Metrics,
    pub direction: Direction,
}

/// Serves one connection as HTTP/1 (with upgrades) or HTTP/2, calling
/// `handle` for each request, until the connection ends.
pub async fn serve<IO, F, Fut>(
    io: IO,
    protocol: Protocol,
    bounds: Bounds<'_>,
    handle: F,
) -> Result<(), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    serve_until(io, protocol, bounds, handle, std::future::pending()).await
}

/// As [`serve`], but once `drain` completes, or no bytes have moved for
/// the HTTP idle timeout, the connection is shut down gracefully: HTTP/2
/// sends GOAWAY and finishes the streams in flight; HTTP/1 closes after
/// the current response.
pub async fn serve_until<IO, F, Fut>(
    io: IO,
    protocol: Protocol,
    bounds: Bounds<'_>,
    handle: F,
    drain: impl Future<Output = ()> + Send,
) -> Result<(), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    // Compiled once for every stream type and handler ([`Io`]).
    let handle: Handler = Arc::new(move |req| Box::pin(handle(req)));
    let r = serve_bounded(Box::new(io), protocol, bounds, handle, Box::pin(drain)).await;
    if let Err(e) = &r
        && let Some(reason) = limit_hit(e)
    {
        tracing::info!(error = %e, reason, "a limit closed an HTTP connection");
        bounds.metrics.refused(bounds.direction, reason);
    }
    r
}

/// Answers one request. The answer is boxed anyway: HTTP/2 spawns a task
/// per stream, which moves the future into the task and its output back
/// out, and an unboxed future is as large as the largest state of
/// everything the request may await (several KiB).
type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync,
>;

async fn serve_bounded(
    io: Box<dyn Io>,
    protocol: Protocol,
    bounds: Bounds<'_>,
    handle: Handler,
    drain: Pin<Box<dyn Future<Output = ()> + Send + '_>>,
) -> Result<(), hyper::Error> {
    let limits = bounds.limits;
    let svc = hyper::service::service_fn(move |req| {
        let answer = handle(req);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let activity = Activity::new();
    let idle = activity.clone().idle_for(limits.http_idle);
    let io = TokioIo::new(Watched::new(io, activity));
    let drain = async {
        tokio::select! {
            () = drain => {}
            () = idle => {
                tracing::debug!("HTTP connection idle; draining");
                bounds.metrics.refused(bounds.direction, refusal::HTTP_IDLE);
            }
        }
    };
    tokio::pin!(drain);
    if protocol == Protocol::Http2 {
        let header_list = u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX);
        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.h2_max_streams)
            .max_header_list_size(header_list)
            .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
            .max_local_error_reset_streams(H2_MAX_ERROR_RESETS)
            .serve_connection(io, svc);
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => return r,
            () = &mut drain => conn.as_mut().graceful_shutdown(),
        }
        conn.await
    } else {
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_header_size(limits.max_header_bytes)
            .max_headers(limits.max_headers)
            .serve_connection(io, svc)
            .with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => return r,
            () = &mut drain => conn.as_mut().graceful_shutdown(),
        }
        conn.await
    }
}

/// Why a served connection ended, when a limit ended it: the reason code
/// for `weft_proxy_refused_connections`.
fn limit_hit(e: &hyper::Error) -> Option<&'static str> {
    if e.is_timeout() {
        return Some(refusal::HEADER_TIMEOUT);
    }
    if e.is_parse_too_large() {
        return Some(refusal::HEADER_LIMIT);
    }
    let h2 = std::error::Error::source(e)?.downcast_ref::<h2::Error>()?;
    // h2 answers floods (rapid reset, CONTINUATION, too many error resets)
    // with GOAWAY ENHANCE_YOUR_CALM.
    (h2.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM)).then_some(refusal::H2_ABUSE)
}
