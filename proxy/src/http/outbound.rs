//! Outbound HTTP: the app's requests to a meshed destination, each balanced
//! on its own (split, then endpoint) and carried over the pooled HTTP/2
//! mesh link to the chosen endpoint's proxy. An endpoint whose link cannot
//! be opened is marked failed and another is tried.

use super::{Body, H2Pool, boxed, is_grpc, is_upgrade, proxy_error, splice, strip_hop_headers};
use crate::{
    authz::routes,
    detect::Protocol,
    discovery::{Destination, Pick, state::Endpoint},
    http::observe::observe,
    metrics::{Direction, Metrics, ResponseLabels, deny_reason, status_class},
    outbound::{CONNECT_ATTEMPTS, mesh_connect},
};
use http::{Request, Response, StatusCode, Uri, Version, header, uri::Authority};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::TokioIo;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::io::{AsyncRead, AsyncWrite};
use weft_api::contract::proxy_error as code;
use weft_tls::{MeshTls, SpiffeId};

/// Which endpoints may take a request (meshed, and not this pod).
pub type Usable = Arc<dyn Fn(&Endpoint) -> bool + Send + Sync>;

/// Shared by every outbound HTTP connection of the proxy.
pub struct HttpClient {
    pub tls: MeshTls,
    pub connect_timeout: Duration,
    /// Longest wait for response headers; then 504.
    pub request_timeout: Option<Duration>,
    pool: H2Pool<(SocketAddr, SpiffeId)>,
    metrics: Metrics,
}

impl HttpClient {
    pub fn new(
        tls: MeshTls,
        connect_timeout: Duration,
        request_timeout: Option<Duration>,
        metrics: Metrics,
    ) -> Self {
        Self {
            tls,
            connect_timeout,
            request_timeout,
            pool: H2Pool::default(),
            metrics,
        }
    }

    /// Serves the app's connection, already detected as `protocol`, until
    /// it closes; each request picks its own endpoint of `to`.
    pub async fn serve<IO>(
        self: Arc<Self>,
        app: IO,
        protocol: Protocol,
        to: Destination,
        usable: Usable,
        port: u16,
    ) -> Result<(), hyper::Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        super::serve(app, protocol, move |req| {
            let (this, to, usable) = (self.clone(), to.clone(), usable.clone());
            async move {
                let start = tokio::time::Instant::now();
                let (resp, peer) = this.request(req, &to, &usable).await;
                this.observe(peer, to.service(), port, start, resp)
            }
        })
        .await
    }

    /// Counts the response once its body has ended.
    fn observe(
        &self,
        peer: String,
        service: String,
        port: u16,
        start: tokio::time::Instant,
        resp: Response<Body>,
    ) -> Response<Body> {
        let latency = start.elapsed();
        let (parts, body) = resp.into_parts();
        let metrics = self.metrics.clone();
        let labels = ResponseLabels {
            direction: Direction::Outbound,
            peer,
            service,
            port,
            authorization: String::new(),
            status_class: status_class(parts.status),
            grpc_status: String::new(),
            deny_reason: deny_reason(&parts.headers),
        };
        let body = observe(
            &parts.headers,
            body,
            Box::new(move |grpc| {
                metrics.response(
                    ResponseLabels {
                        grpc_status: grpc.unwrap_or_default(),
                        ..labels
                    },
                    latency,
                )
            }),
        );
        Response::from_parts(parts, body)
    }

    async fn request(
        &self,
        req: Request<Incoming>,
        to: &Destination,
        usable: &Usable,
    ) -> (Response<Body>, String) {
        let grpc = is_grpc(req.headers());
        let mut last_error = String::new();
        for _ in 0..CONNECT_ATTEMPTS {
            let pick = to.pick(
                Some(&routes::Request {
                    method: req.method().as_str(),
                    path: req.uri().path(),
                    headers: req.headers(),
                }),
                |e| usable(e),
            );
            let e = match pick {
                Pick::Endpoint(e) => e,
                Pick::Unavailable(reason) => {
                    return (super::unavailable(&req, &reason), "none".into());
                }
                Pick::Passthrough => {
                    let why = "the destination left the mesh; reconnect";
                    return (super::unavailable(&req, why), "none".into());
                }
            };
            let Some(id) = e.id.clone() else {
                return (
                    super::unavailable(&req, "no meshed endpoint"),
                    "none".into(),
                );
            };
            if is_upgrade(&req) {
                return (self.upgrade(req, &e.addr, &id).await, id.to_string());
            }
            let connect =
                || mesh_connect(&self.tls, e.addr, &id, self.connect_timeout, &self.metrics);
            match self.pool.get(&(e.addr, id.clone()), connect).await {
                Ok(sender) => return (self.send(sender, req, &e, grpc).await, id.to_string()),
                Err(error) => {
                    e.load.failed();
                    tracing::info!(endpoint = %e.addr, %id, %error, "mesh link failed");
                    last_error = error.to_string();
                }
            }
        }
        let failed = proxy_error(
            StatusCode::BAD_GATEWAY,
            code::CONNECT_FAILED,
            &last_error,
            grpc,
        );
        (failed, "none".into())
    }

    async fn send(
        &self,
        mut sender: SendRequest<Body>,
        req: Request<Incoming>,
        e: &Endpoint,
        grpc: bool,
    ) -> Response<Body> {
        let req = match to_mesh_link(req, e.addr) {
            Ok(r) => r,
            Err(detail) => {
                return proxy_error(StatusCode::BAD_REQUEST, "bad-request", &detail, grpc);
            }
        };
        let busy = e.load.start();
        let sent = sender.send_request(req);
        let answer = match self.request_timeout {
            Some(t) => match tokio::time::timeout(t, sent).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::info!(endpoint = %e.addr, timeout = ?t, "no response within the request timeout");
                    return proxy_error(
                        StatusCode::GATEWAY_TIMEOUT,
                        code::TIMEOUT,
                        &format!("no response within {t:?}"),
                        grpc,
                    );
                }
            },
            None => sent.await,
        };
        match answer {
            Ok(resp) => {
                busy.done();
                resp.map(boxed)
            }
            Err(err) => {
                tracing::info!(endpoint = %e.addr, error = %err, "request failed upstream");
                proxy_error(
                    StatusCode::BAD_GATEWAY,
                    code::UPSTREAM_FAILED,
                    &err.to_string(),
                    grpc,
                )
            }
        }
    }

    /// An upgrade gets its own mesh link speaking HTTP/1.1; after `101` the
    /// app's connection and the link are spliced into one byte stream.
    async fn upgrade(
        &self,
        mut req: Request<Incoming>,
        addr: &SocketAddr,
        id: &SpiffeId,
    ) -> Response<Body> {
        let app_side = hyper::upgrade::on(&mut req);
        let link =
            match mesh_connect(&self.tls, *addr, id, self.connect_timeout, &self.metrics).await {
                Ok(l) => l,
                Err(e) => {
                    return proxy_error(
                        StatusCode::BAD_GATEWAY,
                        code::CONNECT_FAILED,
                        &e.to_string(),
                        false,
                    );
                }
            };
        let (mut send, conn) = match hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(link))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                return proxy_error(
                    StatusCode::BAD_GATEWAY,
                    code::CONNECT_FAILED,
                    &e.to_string(),
                    false,
                );
            }
        };
        tokio::spawn(async move {
            if let Err(error) = conn.with_upgrades().await {
                tracing::debug!(%error, "upgrade link ended");
            }
        });
        match send.send_request(req.map(boxed)).await {
            Ok(mut resp) => {
                if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                    tokio::spawn(splice(app_side, hyper::upgrade::on(&mut resp)));
                }
                resp.map(boxed)
            }
            Err(e) => proxy_error(
                StatusCode::BAD_GATEWAY,
                code::UPSTREAM_FAILED,
                &e.to_string(),
                false,
            ),
        }
    }
}

/// Rewrites the app's request for the HTTP/2 link: an HTTP/1 request's Host
/// becomes the authority (and it is marked for restoring on the far side);
/// hop-by-hop headers go; `Expect` was already answered to the app by the
/// HTTP/1 server here.
fn to_mesh_link(req: Request<Incoming>, dst: SocketAddr) -> Result<Request<Body>, String> {
    let (mut parts, body) = req.into_parts();
    if parts.version < Version::HTTP_2 {
        let authority = match parts.headers.remove(header::HOST) {
            Some(h) => Authority::try_from(h.as_bytes())
                .map_err(|e| format!("invalid Host header: {e}"))?,
            None => match parts.uri.authority() {
                Some(a) => a.clone(),
                None => Authority::try_from(dst.to_string().as_str()).map_err(|e| e.to_string())?,
            },
        };
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        parts.uri = Uri::builder()
            .scheme(
                parts
                    .uri
                    .scheme()
                    .cloned()
                    .unwrap_or(http::uri::Scheme::HTTP),
            )
            .authority(authority)
            .path_and_query(path)
            .build()
            .map_err(|e| e.to_string())?;
        super::mark_http1(&mut parts.headers);
        parts.headers.remove(header::EXPECT);
    }
    strip_hop_headers(&mut parts.headers);
    parts.version = Version::HTTP_2;
    Ok(Request::from_parts(parts, boxed(body)))
}
