//! Inbound HTTP: each request authorized against the port's current
//! policy, then sent to the app at the original destination in the
//! protocol the client app spoke, with the verified client id.

use super::{
    Body, H2Pool, ORIGINAL_PROTOCOL, boxed, full, grpc_trailers_only, is_grpc, is_upgrade,
    proxy_error, request_id, splice, strip_hop_headers,
};
use crate::{
    authz::{self, Decision, routes},
    detect::Protocol,
    http::observe::observe,
    inbound::Client,
    metrics::{Direction, Metrics, ResponseLabels, deny_reason, status_class},
    policy::PortPolicy,
};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{self, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::io::{AsyncRead, AsyncWrite};
use weft_api::contract::{deny_reason, headers, proxy_error as code};

/// Shared by every inbound HTTP connection of the proxy.
pub struct HttpServer {
    regexes: routes::Regexes,
    /// HTTP/1.1 to the app, pooled per original destination.
    http1: legacy::Client<HttpConnector, Body>,
    /// HTTP/2 (h2c) to the app, one connection per original destination.
    http2: H2Pool<SocketAddr>,
    connect_timeout: Duration,
    metrics: Metrics,
}

/// One served connection: who sent it, where it was going, its policy.
#[derive(Clone)]
pub struct Conn {
    pub client: Client,
    pub dst: SocketAddr,
    pub policy: PortPolicy,
}

impl HttpServer {
    pub fn new(connect_timeout: Duration, metrics: Metrics) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let http1 = legacy::Client::builder(TokioExecutor::new())
            // The request carries the client's own Host; the URI only says
            // where to connect.
            .set_host(false)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self {
            regexes: routes::Regexes::default(),
            http1,
            http2: H2Pool::default(),
            connect_timeout,
            metrics,
        }
    }

    pub async fn serve<IO>(
        self: Arc<Self>,
        io: IO,
        protocol: Protocol,
        conn: Conn,
    ) -> Result<(), hyper::Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let revoked = revoked(conn.policy.clone(), conn.client.clone(), conn.dst.port());
        super::serve_until(
            io,
            protocol,
            move |req| {
                let (this, conn) = (self.clone(), conn.clone());
                async move {
                    let start = tokio::time::Instant::now();
                    let (resp, by) = this.request(req, &conn).await;
                    this.observe(&conn, by, start, resp)
                }
            },
            revoked,
        )
        .await
    }

    /// Counts the response once its body has ended.
    fn observe(
        &self,
        conn: &Conn,
        authorization: String,
        start: tokio::time::Instant,
        resp: Response<Body>,
    ) -> Response<Body> {
        let latency = start.elapsed();
        let (parts, body) = resp.into_parts();
        let metrics = self.metrics.clone();
        let labels = ResponseLabels {
            direction: Direction::Inbound,
            peer: conn.client.label(),
            service: String::new(),
            port: conn.dst.port(),
            authorization,
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

    /// The response, and the authorization that allowed the request (empty
    /// when denied).
    async fn request(&self, req: Request<Incoming>, conn: &Conn) -> (Response<Body>, String) {
        let grpc = is_grpc(req.headers());
        let policy = conn.policy.borrow().clone();
        let decision = match &policy {
            Some(p) => authz::request(
                p,
                &conn.client,
                &routes::Request {
                    method: req.method().as_str(),
                    path: req.uri().path(),
                    headers: req.headers(),
                },
                &self.regexes,
            ),
            None => Decision::Deny {
                reason: deny_reason::POLICY_UNAVAILABLE,
            },
        };
        self.metrics
            .authz(conn.dst.port(), &conn.client.label(), &decision);
        let by = match decision {
            Decision::Deny { reason } => {
                let id = request_id();
                tracing::info!(
                    client = ?conn.client,
                    port = conn.dst.port(),
                    method = %req.method(),
                    path = req.uri().path(),
                    reason,
                    request_id = %id,
                    "denied"
                );
                if let Some(p) = &policy {
                    tracing::debug!(request_id = %id, considered = ?authz::considered(p), "denied request");
                }
                return (forbidden(reason, &id, grpc), String::new());
            }
            Decision::Allow { by } => {
                tracing::debug!(client = ?conn.client, by, "allowed");
                by
            }
        };
        let (mut parts, body) = req.into_parts();
        // Only a verified peer's proxy may say the app spoke HTTP/1; only the
        // verified identity may be named to the app.
        let marked_http1 = parts.headers.remove(ORIGINAL_PROTOCOL).is_some();
        parts.headers.remove(headers::CLIENT_ID);
        let mesh = match &conn.client {
            Client::Mesh(id) => {
                if let Ok(v) = HeaderValue::from_str(id.as_str()) {
                    parts.headers.insert(headers::CLIENT_ID, v);
                }
                true
            }
            Client::Unauthenticated(_) => false,
        };
        let req = Request::from_parts(parts, body);
        let mut resp = if is_upgrade(&req) {
            self.upgrade(req, conn.dst).await
        } else if req.version() < Version::HTTP_2 || (mesh && marked_http1) {
            self.to_http1(req, conn.dst, grpc).await
        } else {
            self.to_http2(req, conn.dst, grpc).await
        };
        // Only this proxy denies: an app's response cannot pass for a
        // denial, in the client's metrics or to the client.
        resp.headers_mut().remove(headers::DENY_REASON);
        (resp, by)
    }

    async fn to_http1(
        &self,
        req: Request<Incoming>,
        dst: SocketAddr,
        grpc: bool,
    ) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        if parts.version == Version::HTTP_2
            && let Some(a) = parts.uri.authority()
            && let Ok(host) = HeaderValue::from_str(a.as_str())
        {
            parts.headers.insert(header::HOST, host);
        }
        strip_hop_headers(&mut parts.headers);
        parts.uri = app_uri(&parts.uri, dst);
        parts.version = Version::HTTP_11;
        match self
            .http1
            .request(Request::from_parts(parts, boxed(body)))
            .await
        {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_headers(&mut parts.headers);
                Response::from_parts(parts, boxed(body))
            }
            Err(e) if e.is_connect() => app_unreachable(dst, &e, grpc),
            Err(e) => {
                tracing::info!(%dst, error = %e, "the app failed the request");
                proxy_error(
                    StatusCode::BAD_GATEWAY,
                    code::UPSTREAM_FAILED,
                    &e.to_string(),
                    grpc,
                )
            }
        }
    }

    async fn to_http2(
        &self,
        req: Request<Incoming>,
        dst: SocketAddr,
        grpc: bool,
    ) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        strip_hop_headers(&mut parts.headers);
        let timeout = self.connect_timeout;
        let mut sender = match self
            .http2
            .get(&dst, || crate::net::connect(dst, timeout))
            .await
        {
            Ok(s) => s,
            Err(e) => return app_unreachable(dst, &e, grpc),
        };
        match sender
            .send_request(Request::from_parts(parts, boxed(body)))
            .await
        {
            Ok(resp) => resp.map(boxed),
            Err(e) => {
                tracing::info!(%dst, error = %e, "the app failed the request");
                proxy_error(
                    StatusCode::BAD_GATEWAY,
                    code::UPSTREAM_FAILED,
                    &e.to_string(),
                    grpc,
                )
            }
        }
    }

    /// An upgrade gets its own connection to the app; after `101` the two
    /// become one byte stream.
    async fn upgrade(&self, mut req: Request<Incoming>, dst: SocketAddr) -> Response<Body> {
        let client_side = hyper::upgrade::on(&mut req);
        let tcp = match crate::net::connect(dst, self.connect_timeout).await {
            Ok(t) => t,
            Err(e) => return app_unreachable(dst, &e, false),
        };
        let (mut send, conn) = match hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(tcp))
            .await
        {
            Ok(c) => c,
            Err(e) => return app_unreachable(dst, &e, false),
        };
        tokio::spawn(async move {
            if let Err(error) = conn.with_upgrades().await {
                tracing::debug!(%error, "upgrade connection to the app ended");
            }
        });
        let (mut parts, body) = req.into_parts();
        parts.uri = Uri::try_from(parts.uri.path_and_query().map_or("/", |p| p.as_str()))
            .unwrap_or_else(|_| Uri::from_static("/"));
        match send
            .send_request(Request::from_parts(parts, boxed(body)))
            .await
        {
            Ok(mut resp) => {
                if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                    tokio::spawn(splice(client_side, hyper::upgrade::on(&mut resp)));
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

/// Completes when a policy update leaves `client` no request it may send
/// on the port, after logging it; the connection is then drained.
async fn revoked(mut policy: PortPolicy, client: Client, port: u16) {
    loop {
        if policy.changed().await.is_err() {
            return std::future::pending().await;
        }
        let latest = policy.borrow_and_update().clone();
        if let Some(p) = latest
            && !authz::may_request(&p, &client)
        {
            tracing::info!(
                ?client,
                port,
                "access revoked; draining the HTTP connection"
            );
            return;
        }
    }
}

/// Where the pooled HTTP/1 client connects (the original destination), with
/// the request's own path.
fn app_uri(uri: &Uri, dst: SocketAddr) -> Uri {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("http://{dst}{path}")
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"))
}

fn app_unreachable(dst: SocketAddr, e: &dyn std::fmt::Display, grpc: bool) -> Response<Body> {
    tracing::info!(%dst, error = %e, "the app is not reachable");
    proxy_error(
        StatusCode::BAD_GATEWAY,
        code::CONNECT_FAILED,
        &e.to_string(),
        grpc,
    )
}

/// `403` with the reason code and the request id (gRPC: PERMISSION_DENIED).
fn forbidden(reason: &'static str, id: &str, grpc: bool) -> Response<Body> {
    let mut r = Response::new(full(format!(
        "weft-proxy: denied: {reason} (request id {id})\n"
    )));
    *r.status_mut() = StatusCode::FORBIDDEN;
    if grpc {
        grpc_trailers_only(&mut r, 7, &format!("weft-proxy: denied: {reason}"));
    } else {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    let h = r.headers_mut();
    h.insert(headers::DENY_REASON, HeaderValue::from_static(reason));
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert(headers::REQUEST_ID, v);
    }
    r
}
