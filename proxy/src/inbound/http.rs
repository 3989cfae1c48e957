//! Inbound HTTP: each request authorized against the port's current
//! policy, then sent to the app at the original destination in the
//! protocol the client app spoke, with the verified client id.

use super::{
    authz::{self, Decision},
    client::Client,
    policy::PortPolicy,
};
use crate::{
    detect::Protocol,
    error::ProxyError,
    http::{
        body::{Body, boxed},
        h1_pool::H1Pool,
        headers::{ORIGINAL_PROTOCOL, is_grpc, is_upgrade, strip_hop_headers},
        observe::{Exchange, count},
        pool::H2Pool,
        server::{Bounds, serve_until},
        upgrade,
    },
    limits::Limits,
    metrics::{ConnMetrics, Direction, Label, Metrics, no_label, refusal},
    path, routes,
};
use http::{HeaderValue, Request, Response, Uri, Version, header, uri::PathAndQuery};
use hyper::body::Incoming;
use std::{borrow::Cow, future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::io::{AsyncRead, AsyncWrite};
use weft_api::{
    contract::{deny_reason, headers},
    policy::InboundPolicyUpdate,
};

/// Shared by every inbound HTTP connection of the proxy.
pub struct HttpServer {
    regexes: Arc<routes::Regexes>,
    /// HTTP/1.1 to the app, pooled per original destination.
    http1: H1Pool,
    /// HTTP/2 (h2c) to the app, one connection per original destination.
    http2: H2Pool<SocketAddr>,
    connect_timeout: Duration,
    limits: Arc<Limits>,
    metrics: Metrics,
}

/// One served connection: who sent it, where it was going, its policy.
#[derive(Clone)]
pub struct Conn {
    pub client: Client,
    pub dst: SocketAddr,
    pub policy: PortPolicy,
}

/// What a connection's requests share: the connection, its client as a
/// metrics label, the metric handles its requests have used.
struct Served {
    conn: Conn,
    peer: Label,
    metrics: Arc<ConnMetrics>,
}

impl HttpServer {
    pub fn new(connect_timeout: Duration, limits: Arc<Limits>, metrics: Metrics) -> Self {
        Self {
            regexes: Arc::default(),
            http1: H1Pool::new(connect_timeout),
            http2: H2Pool::default(),
            connect_timeout,
            limits,
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
        let served = Arc::new(Served {
            peer: conn.client.label(),
            metrics: Arc::new(ConnMetrics::new(&self.metrics)),
            conn,
        });
        let server = self.clone();
        let bounds = Bounds {
            limits: &server.limits,
            metrics: &server.metrics,
            direction: Direction::Inbound,
        };
        serve_until(
            io,
            protocol,
            bounds,
            move |req| {
                let (this, served) = (self.clone(), served.clone());
                async move {
                    let start = tokio::time::Instant::now();
                    let grpc = is_grpc(req.headers());
                    let (resp, authorization) = match this.request(req, &served).await {
                        Ok(allowed) => allowed,
                        Err(e) => (e.into_response(grpc), no_label()),
                    };
                    let exchange = Exchange {
                        direction: Direction::Inbound,
                        peer: served.peer.clone(),
                        service: no_label(),
                        port: served.conn.dst.port(),
                        authorization,
                    };
                    count(&served.metrics, exchange, start, resp)
                }
            },
            revoked,
        )
        .await
    }

    /// The app's response and the authorization that allowed the request,
    /// or why the proxy answers itself (a denial, an unreachable app).
    async fn request(
        &self,
        mut req: Request<Incoming>,
        served: &Served,
    ) -> Result<(Response<Body>, Label), ProxyError> {
        let conn = &served.conn;
        // The path matched must be the path the app acts on.
        normalise_path(&mut req)?;
        if refuse_h2c(&mut req) {
            self.metrics
                .refused(Direction::Inbound, refusal::H2C_UPGRADE);
        }
        let policy = conn.policy.borrow().clone();
        let decision = match &policy {
            Some(p) => decide(p, &conn.client, &req, &self.regexes),
            None => Decision::Deny {
                reason: deny_reason::POLICY_UNAVAILABLE,
            },
        };
        served
            .metrics
            .authz(conn.dst.port(), &served.peer, decision.verdict());
        let by = match decision {
            Decision::Deny { reason } => {
                let request_id = request_id();
                tracing::info!(
                    client = ?conn.client,
                    port = conn.dst.port(),
                    method = %req.method(),
                    path = req.uri().path(),
                    reason,
                    request_id = %request_id,
                    "denied"
                );
                if let Some(p) = &policy {
                    tracing::debug!(request_id = %request_id, considered = ?authz::considered(p), "denied request");
                }
                return Err(ProxyError::Denied { reason, request_id });
            }
            Decision::Allow { by } => {
                tracing::debug!(client = ?conn.client, by = &*by, "allowed");
                // Only a verified peer: a TrafficTarget cannot name another.
                if let Client::Mesh(id) = &conn.client {
                    let (port, path) = (conn.dst.port(), req.uri().path());
                    self.metrics.observed.record(port, id, req.method(), path);
                }
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
        let dst = conn.dst;
        let mut resp = if is_upgrade(&req) {
            // An upgrade is never gRPC: its errors are plain HTTP.
            let revoked = upgrade_revoked(&req, conn, self.regexes.clone());
            match self.upgrade(req, dst, revoked).await {
                Ok(resp) => resp,
                Err(e) => app_failed(dst, e).into_response(false),
            }
        } else if req.version() < Version::HTTP_2 || (mesh && marked_http1) {
            self.to_http1(req, dst)
                .await
                .map_err(|e| app_failed(dst, e))?
        } else {
            self.to_http2(req, dst)
                .await
                .map_err(|e| app_failed(dst, e))?
        };
        // Only this proxy denies: an app's response cannot pass for a
        // denial, in the client's metrics or to the client.
        resp.headers_mut().remove(headers::DENY_REASON);
        Ok((resp, by))
    }

    async fn to_http1(
        &self,
        req: Request<Incoming>,
        dst: SocketAddr,
    ) -> Result<Response<Body>, ProxyError> {
        let (mut parts, body) = req.into_parts();
        if parts.version == Version::HTTP_2
            && let Some(a) = parts.uri.authority()
            && let Ok(host) = HeaderValue::from_str(a.as_str())
        {
            parts.headers.insert(header::HOST, host);
        }
        strip_hop_headers(&mut parts.headers);
        // Origin form: the request carries the client's own Host, and the
        // connection already goes to the original destination.
        parts.uri = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"))
            .into();
        parts.version = Version::HTTP_11;
        match self
            .http1
            .send(dst, Request::from_parts(parts, boxed(body)))
            .await
        {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_headers(&mut parts.headers);
                Ok(Response::from_parts(parts, body))
            }
            Err(e) if e.is_connect() => Err(ProxyError::Connect(e.to_string())),
            Err(e) => Err(ProxyError::Upstream(e.to_string())),
        }
    }

    async fn to_http2(
        &self,
        req: Request<Incoming>,
        dst: SocketAddr,
    ) -> Result<Response<Body>, ProxyError> {
        let (mut parts, body) = req.into_parts();
        strip_hop_headers(&mut parts.headers);
        let timeout = self.connect_timeout;
        let mut sender = self
            .http2
            .get(&dst, || crate::net::connect(dst, timeout))
            .await
            .map_err(|e| ProxyError::Connect(e.to_string()))?;
        let resp = sender
            .send_request(Request::from_parts(parts, boxed(body)))
            .await
            .map_err(|e| ProxyError::Upstream(e.to_string()))?;
        Ok(resp.map(boxed))
    }

    /// An upgrade gets its own connection to the app, sent the request's
    /// path alone.
    async fn upgrade(
        &self,
        mut req: Request<Incoming>,
        dst: SocketAddr,
        revoked: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Response<Body>, ProxyError> {
        let tcp = crate::net::connect(dst, self.connect_timeout)
            .await
            .map_err(|e| ProxyError::Connect(e.to_string()))?;
        *req.uri_mut() = Uri::try_from(req.uri().path_and_query().map_or("/", |p| p.as_str()))
            .unwrap_or_else(|_| Uri::from_static("/"));
        upgrade::forward(req.map(boxed), tcp, revoked).await
    }
}

/// The policy's decision on `req`.
fn decide<B>(
    policy: &InboundPolicyUpdate,
    client: &Client,
    req: &Request<B>,
    regexes: &routes::Regexes,
) -> Decision {
    let r = routes::Request {
        method: req.method().as_str(),
        path: req.uri().path(),
        headers: req.headers(),
    };
    authz::request(policy, client, &r, regexes)
}

/// Rewrites the request's path to its normal form ([`crate::path`]), or
/// refuses it as ambiguous.
fn normalise_path<B>(req: &mut Request<B>) -> Result<(), ProxyError> {
    let normal = match path::normalise(req.uri().path()) {
        Ok(Cow::Borrowed(_)) => return Ok(()),
        Ok(Cow::Owned(p)) => p,
        Err(e) => {
            tracing::info!(method = %req.method(), path = req.uri().path(), error = %e, "refusing an ambiguous path");
            return Err(ProxyError::BadRequest(e.to_string()));
        }
    };
    let with_query = match req.uri().query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal,
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(with_query)
            .map_err(|e| ProxyError::BadRequest(format!("the normalised path: {e}")))?,
    );
    *req.uri_mut() = Uri::from_parts(parts)
        .map_err(|e| ProxyError::BadRequest(format!("the normalised path: {e}")))?;
    Ok(())
}

/// Drops an `Upgrade: h2c` (with its `HTTP2-Settings`): switching would hand
/// the client a raw HTTP/2 session with the app, past every per-request
/// check. The request itself is served as the HTTP/1.1 it also is. Whether
/// one was dropped.
fn refuse_h2c<B>(req: &mut Request<B>) -> bool {
    let h2c = req
        .headers()
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("h2c"));
    if h2c {
        let h = req.headers_mut();
        h.remove(header::UPGRADE);
        h.remove("http2-settings");
    }
    h2c
}

/// Completes when a policy update no longer allows the upgrade request
/// `req` (its upgraded stream is then closed, as a revoked TCP connection
/// is).
fn upgrade_revoked<B>(
    req: &Request<B>,
    conn: &Conn,
    regexes: Arc<routes::Regexes>,
) -> impl Future<Output = ()> + Send + 'static {
    let policy = conn.policy.clone();
    let client = conn.client.clone();
    let port = conn.dst.port();
    let mut head = Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.headers_mut() = req.headers().clone();
    until_update(policy, move |p| match decide(p, &client, &head, &regexes) {
        Decision::Deny { reason } => {
            tracing::info!(
                ?client,
                port,
                path = head.uri().path(),
                reason,
                "access revoked; closing the upgraded stream"
            );
            true
        }
        Decision::Allow { .. } => false,
    })
}

/// Completes when a policy update leaves `client` no request it may send
/// on the port, after logging it; the connection is then drained.
async fn revoked(policy: PortPolicy, client: Client, port: u16) {
    until_update(policy, |p| {
        let revoked = !authz::may_request(p, &client);
        if revoked {
            tracing::info!(
                ?client,
                port,
                "access revoked; draining the HTTP connection"
            );
        }
        revoked
    })
    .await;
}

/// Completes at the first policy update for which `ends` is true; never,
/// once the policy stops being followed (the last one stays in force).
async fn until_update(mut policy: PortPolicy, mut ends: impl FnMut(&InboundPolicyUpdate) -> bool) {
    loop {
        if policy.changed().await.is_err() {
            return std::future::pending().await;
        }
        let latest = policy.borrow_and_update().clone();
        if latest.is_some_and(|p| ends(&p)) {
            return;
        }
    }
}

/// Logs why the app did not answer; the error becomes the response.
fn app_failed(dst: SocketAddr, e: ProxyError) -> ProxyError {
    match &e {
        ProxyError::Connect(error) => tracing::info!(%dst, %error, "the app is not reachable"),
        error => tracing::info!(%dst, %error, "the app failed the request"),
    }
    e
}

/// A short random id tying a denied request to the proxy's log line.
fn request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(method: &str, uri: &str) -> Result<String, ProxyError> {
        let mut req = Request::builder().method(method).uri(uri).body(()).unwrap();
        normalise_path(&mut req)?;
        Ok(req.uri().to_string())
    }

    #[test]
    fn the_normal_path_replaces_the_sent_one_and_the_query_stays() {
        assert_eq!(
            normalised("GET", "/a/../b/%7e?x=/../y").unwrap(),
            "/b/~?x=/../y"
        );
        assert_eq!(
            normalised("GET", "http://h:80/a//b").unwrap(),
            "http://h:80/a/b"
        );
        assert!(matches!(
            normalised("GET", "/a/..%2f"),
            Err(ProxyError::BadRequest(_))
        ));
    }

    #[test]
    fn connect_names_no_path_and_is_refused() {
        assert!(matches!(
            normalised("CONNECT", "example.com:443"),
            Err(ProxyError::BadRequest(_))
        ));
    }

    #[test]
    fn only_an_h2c_upgrade_is_dropped() {
        let mut req = Request::get("/")
            .header(header::UPGRADE, "h2c")
            .header("http2-settings", "AAMAAABkAAQCAAAAAAIAAAAA")
            .body(())
            .unwrap();
        assert!(refuse_h2c(&mut req));
        assert!(!req.headers().contains_key(header::UPGRADE));
        assert!(!req.headers().contains_key("http2-settings"));
        let mut ws = Request::get("/")
            .header(header::UPGRADE, "websocket")
            .body(())
            .unwrap();
        assert!(!refuse_h2c(&mut ws));
        assert!(ws.headers().contains_key(header::UPGRADE));
    }

    const WEB: &str = "spiffe://cluster.local/ns/shop/sa/web";
    const OTHER: &str = "spiffe://cluster.local/ns/shop/sa/other";

    /// An app answering every request with an empty 200.
    async fn app() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let ok = hyper::service::service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Empty::<
                        bytes::Bytes,
                    >::new()))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(sock), ok),
                );
            }
        });
        addr
    }

    /// Sends `GET path` from `client` through the server on a connection of
    /// its own, under a policy granting WEB and the loopback network; the
    /// status.
    async fn get(
        server: &Arc<HttpServer>,
        client: Client,
        dst: SocketAddr,
        path: &str,
    ) -> http::StatusCode {
        use weft_api::policy::{
            AllTraffic, Authorization, Clients, DefaultPolicy, authorization::Rules,
        };
        let policy = InboundPolicyUpdate {
            protocol: 0,
            default_policy: DefaultPolicy::Deny.into(),
            authorizations: vec![Authorization {
                name: "tt/web".into(),
                clients: Some(Clients {
                    identities: vec![WEB.into()],
                    unauthenticated: false,
                }),
                rules: Some(Rules::AllTraffic(AllTraffic {})),
            }],
            unauthenticated_networks: vec!["127.0.0.0/8".into()],
            targeted: true,
        };
        let (_updates, policy) = tokio::sync::watch::channel(Some(Arc::new(policy)));
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let conn = Conn {
            client,
            dst,
            policy,
        };
        tokio::spawn(server.clone().serve(theirs, Protocol::Http1, conn));
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(ours))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = Request::get(path)
            .header(header::HOST, "app")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        sender.send_request(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn only_a_mesh_peers_allowed_requests_are_observed() {
        let dst = app().await;
        let metrics = Metrics::default();
        let server = Arc::new(HttpServer::new(
            Duration::from_secs(3),
            Arc::default(),
            metrics.clone(),
        ));
        let web = Client::Mesh(WEB.parse().unwrap());
        assert_eq!(get(&server, web.clone(), dst, "/items/42").await, 200);
        // Counted under the path the policy and the app saw.
        assert_eq!(get(&server, web, dst, "/x/../items/7?q=1").await, 200);
        // Denied: not observed.
        let other = Client::Mesh(OTHER.parse().unwrap());
        assert_eq!(get(&server, other, dst, "/items/1").await, 403);
        // Allowed, but no TrafficTarget can name it: not observed.
        let anon = Client::Unauthenticated("127.0.0.1:40000".parse().unwrap());
        assert_eq!(get(&server, anon, dst, "/items/1").await, 200);

        let mut text = String::new();
        metrics.observed.encode(&mut text);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let want = format!(
            "weft_proxy_observed_requests_total{{direction=\"inbound\",peer=\"{WEB}\",port=\"{}\",method=\"GET\",route=\"/items/*\"}} 2",
            dst.port()
        );
        assert_eq!(samples, [want.as_str()], "{text}");
    }
}
