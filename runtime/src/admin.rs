//! The admin HTTP server every weft binary runs.
//!
//! Read-only endpoints answer anyone who can reach the port (the kubelet's
//! probes, Prometheus); endpoints that change the process answer only
//! connections from loopback, so another pod can never change a proxy's log
//! level or shut it down.
//!
//! | method | path         | who      | what |
//! |--------|--------------|----------|------|
//! | GET    | `/live`      | anyone   | 200 while the process runs |
//! | GET    | `/ready`     | anyone   | 200 when every readiness condition holds, else 503 listing the pending ones |
//! | GET    | `/metrics`   | anyone   | Prometheus text format |
//! | GET    | `/log-level` | anyone   | the current filter |
//! | PUT    | `/log-level` | loopback | replace the filter with the body |
//! | POST   | `/shutdown`  | loopback | start a graceful shutdown |
//! | GET    | `/probe/<name>` | anyone | the proxy runs an app probe the injector moved to it: 200 or 503 |

use crate::{listen::Incoming, readiness::Readiness, shutdown, telemetry::LogLevel};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus_client::registry::Registry;
use std::{net::SocketAddr, pin::Pin, sync::Arc};
use tokio::net::TcpListener;
use tracing::{Instrument, debug, info_span};

/// What the admin endpoints read and change.
#[derive(Clone, Debug)]
pub struct State {
    pub readiness: Readiness,
    pub metrics: Arc<Registry>,
    pub log_level: Option<LogLevel>,
    pub shutdown: Option<shutdown::Trigger>,
    /// Only the proxy runs app probes.
    pub app_probes: Option<Arc<dyn AppProbes>>,
}

/// The result of an app probe: `Err` says why it failed.
pub type ProbeResult = Result<(), String>;

/// App probes run on the kubelet's behalf (`GET /probe/<name>`).
pub trait AppProbes: Send + Sync + std::fmt::Debug {
    /// Runs the probe called `name`; `None` when there is none by that name.
    fn run(&self, name: &str) -> Option<Pin<Box<dyn Future<Output = ProbeResult> + Send>>>;
}

/// A bound, not yet serving, admin server.
#[derive(Debug)]
pub struct Admin {
    listener: TcpListener,
    state: State,
}

const MAX_BODY: usize = 4096;

impl Admin {
    pub async fn bind(addr: SocketAddr, state: State) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` resolves.
    pub async fn serve(self, stop: shutdown::Signal) {
        let mut incoming = Incoming::new(self.listener, stop, "admin");
        while let Some((sock, peer)) = incoming.next().await {
            let state = self.state.clone();
            tokio::spawn(
                async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(req, peer, &state).await) }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    if let Err(e) = builder.serve_connection(TokioIo::new(sock), svc).await {
                        debug!(error = %e, "admin connection ended");
                    }
                }
                .instrument(info_span!("admin", %peer)),
            );
        }
    }
}

/// Answers one admin request from `peer`.
pub async fn handle<B>(req: Request<B>, peer: SocketAddr, state: &State) -> Response<Full<Bytes>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mutating = matches!(
        (req.method(), req.uri().path()),
        (&Method::PUT, "/log-level") | (&Method::POST, "/shutdown")
    );
    if mutating && !peer.ip().to_canonical().is_loopback() {
        return text(
            StatusCode::FORBIDDEN,
            "this endpoint answers only on loopback\n",
        );
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/live") => text(StatusCode::OK, "live\n"),
        (&Method::GET, "/ready") => {
            let pending = state.readiness.pending();
            if pending.is_empty() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {}\n", pending.join(", ")),
                )
            }
        }
        (&Method::GET, "/metrics") => {
            let mut out = String::new();
            match prometheus_client::encoding::text::encode(&mut out, &state.metrics) {
                Ok(()) => Response::builder()
                    .header(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )
                    .body(Full::new(Bytes::from(out)))
                    .expect("static response parts are valid"),
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("encoding metrics: {e}\n"),
                ),
            }
        }
        (&Method::GET, "/log-level") => match &state.log_level {
            Some(l) => text(StatusCode::OK, format!("{}\n", l.current())),
            None => text(
                StatusCode::NOT_FOUND,
                "log level is fixed in this process\n",
            ),
        },
        (&Method::PUT, "/log-level") => {
            let Some(level) = &state.log_level else {
                return text(
                    StatusCode::NOT_FOUND,
                    "log level is fixed in this process\n",
                );
            };
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return text(StatusCode::BAD_REQUEST, format!("reading body: {e}\n")),
            };
            let Ok(filter) = std::str::from_utf8(&body) else {
                return text(StatusCode::BAD_REQUEST, "the filter must be UTF-8\n");
            };
            match level.set(filter.trim()) {
                Ok(()) => {
                    tracing::info!(filter = filter.trim(), "log level changed");
                    text(StatusCode::OK, format!("{}\n", level.current()))
                }
                Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
            }
        }
        (&Method::GET, path) if path.starts_with(weft_api::probes::PATH_PREFIX) => {
            let name = &path[weft_api::probes::PATH_PREFIX.len()..];
            match state.app_probes.as_ref().and_then(|p| p.run(name)) {
                None => text(StatusCode::NOT_FOUND, format!("no app probe {name:?}\n")),
                Some(check) => match check.await {
                    Ok(()) => text(StatusCode::OK, "ok\n"),
                    Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
                },
            }
        }
        (&Method::POST, "/shutdown") => match &state.shutdown {
            Some(t) => {
                t.trigger();
                text(StatusCode::ACCEPTED, "shutting down\n")
            }
            None => text(StatusCode::NOT_FOUND, "shutdown is not available\n"),
        },
        (_, "/live" | "/ready" | "/metrics" | "/log-level" | "/shutdown") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests;
