//! The HTTP path: requests the proxy understands rather than copies.
//!
//! Outbound, an app's HTTP/1 or HTTP/2 connection to a meshed destination
//! is served here and each request carried over one pooled, multiplexed
//! HTTP/2 connection inside mesh mTLS ([`outbound`]). Inbound, HTTP from a
//! mesh link or from an unauthenticated client is served here too, so
//! every request is authorized on its own and the app receives the verified
//! client id ([`inbound`]). Each request reaches the app in the protocol
//! the client app spoke.
//!
//! An upgrade (WebSocket) is not multiplexed: it gets its own mesh link and
//! HTTP/1.1 end to end, then becomes a byte stream on both sides.

pub mod inbound;
pub mod observe;
pub mod outbound;
pub mod pool;

pub use pool::H2Pool;

use crate::detect::Protocol;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::{convert::Infallible, future::Future};
use tokio::io::{AsyncRead, AsyncWrite};
use weft_api::contract::headers;

/// Every body the proxy handles: the peer's, streamed, or its own.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// Between proxies only: set by the client's proxy on a request the app
/// sent as HTTP/1, so the server's proxy restores HTTP/1.1 towards its app.
/// Trusted only on a verified mesh link; removed from every request.
pub const ORIGINAL_PROTOCOL: HeaderName = HeaderName::from_static("weft-original-protocol");
const HTTP1: HeaderValue = HeaderValue::from_static("http/1.1");

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub fn boxed(body: Incoming) -> Body {
    body.boxed()
}

pub fn is_grpc(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// An HTTP/1 request asking to switch protocols (WebSocket and the like).
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.version() < http::Version::HTTP_2
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes what belongs to one hop: the connection options and the headers
/// they name, which HTTP/2 forbids and which must not leak to the next hop.
pub fn strip_hop_headers(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        h.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        h.remove(name);
    }
    // `te: trailers` is the one TE value HTTP/2 carries (gRPC needs it).
    if h.get(header::TE).is_some_and(|v| v != "trailers") {
        h.remove(header::TE);
    }
}

/// A response the proxy makes itself when it cannot get one from upstream:
/// the status, a reason code in [`headers::PROXY_ERROR`], a one-line body.
/// gRPC clients read the status from `grpc-status`, so they get it there.
pub fn proxy_error(
    status: StatusCode,
    code: &'static str,
    detail: &str,
    grpc: bool,
) -> Response<Body> {
    let mut r = Response::new(full(format!("weft-proxy: {code}: {detail}\n")));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(headers::PROXY_ERROR, HeaderValue::from_static(code));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if grpc {
        grpc_trailers_only(
            &mut r,
            grpc_code_for(status),
            &format!("weft-proxy: {code}"),
        );
    }
    r
}

/// `503`: discovery has nowhere to send `req`.
pub fn unavailable<B>(req: &Request<B>, reason: &str) -> Response<Body> {
    proxy_error(
        StatusCode::SERVICE_UNAVAILABLE,
        weft_api::contract::proxy_error::UNAVAILABLE,
        reason,
        is_grpc(req.headers()),
    )
}

/// gRPC's code for a proxy-made HTTP status.
fn grpc_code_for(status: StatusCode) -> u8 {
    match status {
        StatusCode::FORBIDDEN => 7,       // PERMISSION_DENIED
        StatusCode::GATEWAY_TIMEOUT => 4, // DEADLINE_EXCEEDED
        _ => 14,                          // UNAVAILABLE
    }
}

/// Turns `r` into a gRPC trailers-only response: 200, the status in headers,
/// no body.
pub(crate) fn grpc_trailers_only(r: &mut Response<Body>, code: u8, message: &str) {
    *r.status_mut() = StatusCode::OK;
    *r.body_mut() = full(Bytes::new());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(u16::from(code)));
    if let Ok(v) = HeaderValue::from_str(message) {
        h.insert("grpc-message", v);
    }
}

/// Serves one connection as HTTP/1 (with upgrades) or HTTP/2, calling
/// `handle` for each request, until the connection ends.
pub async fn serve<IO, F, Fut>(io: IO, protocol: Protocol, handle: F) -> Result<(), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    serve_until(io, protocol, handle, std::future::pending()).await
}

/// As [`serve`], but once `drain` completes the connection is shut down
/// gracefully: HTTP/2 sends GOAWAY and finishes the streams in flight;
/// HTTP/1 closes after the current response.
pub async fn serve_until<IO, F, Fut>(
    io: IO,
    protocol: Protocol,
    handle: F,
    drain: impl Future<Output = ()>,
) -> Result<(), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let handle = handle.clone();
        async move { Ok::<_, Infallible>(handle(req).await) }
    });
    let io = TokioIo::new(io);
    tokio::pin!(drain);
    if protocol == Protocol::Http2 {
        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
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

/// Once both sides of an upgrade have switched, copies bytes between them
/// until either closes.
pub async fn splice(a: hyper::upgrade::OnUpgrade, b: hyper::upgrade::OnUpgrade) {
    let (a, b) = tokio::join!(a, b);
    match (a, b) {
        (Ok(a), Ok(b)) => {
            let (mut a, mut b) = (TokioIo::new(a), TokioIo::new(b));
            if let Err(error) = tokio::io::copy_bidirectional(&mut a, &mut b).await {
                tracing::debug!(%error, "upgraded stream ended");
            }
        }
        (a, b) => tracing::debug!(a = a.is_ok(), b = b.is_ok(), "an upgrade did not complete"),
    }
}

/// A short random id tying a denied request to the proxy's log line.
pub fn request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The original protocol marker for a request the app sent as HTTP/1.
pub fn mark_http1(h: &mut HeaderMap) {
    h.insert(ORIGINAL_PROTOCOL, HTTP1);
}
