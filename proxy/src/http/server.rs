//! Serving one connection as HTTP, whichever direction it came from.

use super::body::Body;
use crate::detect::Protocol;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::{convert::Infallible, future::Future};
use tokio::io::{AsyncRead, AsyncWrite};

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
