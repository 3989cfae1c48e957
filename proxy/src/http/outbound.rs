//! Outbound HTTP: the app's requests to one meshed endpoint, each carried
//! over the pooled HTTP/2 mesh link to that endpoint's proxy.

use super::{Body, H2Pool, boxed, is_grpc, is_upgrade, proxy_error, splice, strip_hop_headers};
use crate::{detect::Protocol, outbound::mesh_connect};
use http::{Request, Response, StatusCode, Uri, Version, header, uri::Authority};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::io::{AsyncRead, AsyncWrite};
use weft_api::contract::proxy_error as code;
use weft_tls::{MeshTls, SpiffeId};

/// Shared by every outbound HTTP connection of the proxy.
pub struct HttpClient {
    pub tls: MeshTls,
    pub connect_timeout: Duration,
    /// Longest wait for response headers; then 504.
    pub request_timeout: Option<Duration>,
    pool: H2Pool<(SocketAddr, SpiffeId)>,
}

/// A meshed endpoint: its proxy's address and the identity it must prove.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub id: SpiffeId,
}

impl HttpClient {
    pub fn new(tls: MeshTls, connect_timeout: Duration, request_timeout: Option<Duration>) -> Self {
        Self {
            tls,
            connect_timeout,
            request_timeout,
            pool: H2Pool::default(),
        }
    }

    /// Serves the app's connection, already detected as `protocol`, until
    /// it closes.
    pub async fn serve<IO>(
        self: Arc<Self>,
        app: IO,
        protocol: Protocol,
        to: Endpoint,
    ) -> Result<(), hyper::Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        super::serve(app, protocol, move |req| {
            let (this, to) = (self.clone(), to.clone());
            async move { this.request(req, &to).await }
        })
        .await
    }

    async fn request(&self, req: Request<Incoming>, to: &Endpoint) -> Response<Body> {
        let grpc = is_grpc(req.headers());
        if is_upgrade(&req) {
            return self.upgrade(req, to).await;
        }
        let req = match to_mesh_link(req, to.addr) {
            Ok(r) => r,
            Err(detail) => {
                return proxy_error(StatusCode::BAD_REQUEST, "bad-request", &detail, grpc);
            }
        };
        let mut sender = match self
            .pool
            .get(&(to.addr, to.id.clone()), || {
                mesh_connect(&self.tls, to.addr, &to.id, self.connect_timeout)
            })
            .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::info!(endpoint = %to.addr, id = %to.id, error = %e, "mesh link failed");
                return proxy_error(
                    StatusCode::BAD_GATEWAY,
                    code::CONNECT_FAILED,
                    &e.to_string(),
                    grpc,
                );
            }
        };
        let sent = sender.send_request(req);
        let answer = match self.request_timeout {
            Some(t) => match tokio::time::timeout(t, sent).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::info!(endpoint = %to.addr, timeout = ?t, "no response within the request timeout");
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
            Ok(resp) => resp.map(boxed),
            Err(e) => {
                tracing::info!(endpoint = %to.addr, error = %e, "request failed upstream");
                proxy_error(
                    StatusCode::BAD_GATEWAY,
                    code::UPSTREAM_FAILED,
                    &e.to_string(),
                    grpc,
                )
            }
        }
    }

    /// An upgrade gets its own mesh link speaking HTTP/1.1; after `101` the
    /// app's connection and the link are spliced into one byte stream.
    async fn upgrade(&self, mut req: Request<Incoming>, to: &Endpoint) -> Response<Body> {
        let app_side = hyper::upgrade::on(&mut req);
        let link = match mesh_connect(&self.tls, to.addr, &to.id, self.connect_timeout).await {
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
