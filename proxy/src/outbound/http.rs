//! Outbound HTTP: the app's requests to a meshed destination, each balanced
//! on its own (split, then endpoint) and carried over the pooled HTTP/2
//! mesh link to the chosen endpoint's proxy. An endpoint whose link cannot
//! be opened is marked failed and another is tried.

use super::{
    answer::Endpoint,
    budget::RetryBudget,
    connect::{Connected, connect_any},
    destination::Destination,
    dial::{Dialer, Link as MeshLink},
};
use crate::{
    detect::Protocol,
    error::ProxyError,
    http::{
        body::{Body, boxed},
        headers::{is_grpc, is_upgrade, mark_http1, strip_hop_headers},
        observe::{Exchange, count},
        pool::H2Pool,
        server::{Bounds, serve},
        upgrade,
    },
    limits::Limits,
    metrics::{ConnMetrics, Direction, Label, Metrics, no_label},
    routes,
};
use http::{
    Request, Response, Uri, Version, header,
    uri::{Authority, PathAndQuery},
};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use std::{
    net::SocketAddr,
    sync::{Arc, LazyLock},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::Semaphore,
};
use weft_tls::SpiffeId;

/// The peer label of a request no endpoint answered.
pub(super) fn no_peer() -> Label {
    static NONE: LazyLock<Label> = LazyLock::new(|| Label::from("none"));
    NONE.clone()
}

/// Which endpoints may take a request (meshed, and reachable).
pub type Usable = Arc<dyn Fn(&Endpoint) -> bool + Send + Sync>;

/// Shared by every outbound HTTP connection of the proxy.
pub struct HttpClient {
    dialer: Dialer,
    /// Longest wait for response headers; then 504.
    pub request_timeout: Option<Duration>,
    pool: H2Pool<(SocketAddr, SpiffeId)>,
    /// What routes' retries may add to the traffic.
    pub(super) budget: RetryBudget,
    /// Room for mirrored requests in flight: a slow mirror sheds copies
    /// rather than piling them up.
    pub(super) mirrors: Arc<Semaphore>,
    limits: Arc<Limits>,
    pub(super) metrics: Metrics,
}

/// Mirrored requests in flight at once, per proxy.
const MIRRORS_IN_FLIGHT: usize = 64;

impl HttpClient {
    pub fn new(
        dialer: Dialer,
        request_timeout: Option<Duration>,
        limits: Arc<Limits>,
        metrics: Metrics,
    ) -> Self {
        Self {
            dialer,
            request_timeout,
            pool: H2Pool::default(),
            budget: RetryBudget::default(),
            mirrors: Arc::new(Semaphore::new(MIRRORS_IN_FLIGHT)),
            limits,
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
        let client = self.clone();
        let counted = Arc::new(ConnMetrics::new(&self.metrics));
        let bounds = Bounds {
            limits: &client.limits,
            metrics: &client.metrics,
            direction: Direction::Outbound,
        };
        serve(app, protocol, bounds, move |req| {
            let (this, to, usable) = (self.clone(), to.clone(), usable.clone());
            let counted = counted.clone();
            async move {
                let start = tokio::time::Instant::now();
                let (resp, peer) = this.request(req, &to, &usable, port).await;
                let exchange = Exchange {
                    direction: Direction::Outbound,
                    peer,
                    service: to.service(),
                    port,
                    authorization: no_label(),
                };
                count(&counted, exchange, start, resp)
            }
        })
        .await
    }

    /// The response, and the peer it came from (`none` when no endpoint
    /// was reached).
    async fn request(
        self: &Arc<Self>,
        req: Request<Incoming>,
        to: &Destination,
        usable: &Usable,
        port: u16,
    ) -> (Response<Body>, Label) {
        if let Some(m) = to.routed() {
            return self.routed(req, &m, usable, port).await;
        }
        let grpc = is_grpc(req.headers());
        let upgrade = is_upgrade(&req);
        let connected = {
            let route = routes::Request {
                method: req.method().as_str(),
                path: req.uri().path(),
                headers: req.headers(),
            };
            connect_any(to, Some(&route), |e| usable(e), |e| self.link(e, upgrade)).await
        };
        let (e, link) = match connected {
            Ok(Connected::Endpoint(e, link)) => (e, link),
            Ok(Connected::Passthrough) => {
                let why = "the destination left the mesh; reconnect";
                let resp = ProxyError::Unavailable(why.into()).into_response(grpc);
                return (resp, no_peer());
            }
            Err(error) => return (error.into_response(grpc), no_peer()),
        };
        let (answer, peer) = self
            .over(req.map(boxed), &e, link, self.request_timeout)
            .await;
        // An upgrade is never gRPC: its errors are plain HTTP.
        let resp = answer.unwrap_or_else(|e| e.into_response(grpc && !upgrade));
        (resp, peer.shared_str())
    }

    /// Sends `req` to endpoint `e` over `link`, waiting at most `timeout`
    /// for the response's headers: the answer, and the id the endpoint
    /// proved.
    pub(super) async fn over(
        &self,
        req: Request<Body>,
        e: &Endpoint,
        link: Link,
        timeout: Option<Duration>,
    ) -> (Result<Response<Body>, ProxyError>, SpiffeId) {
        match link {
            Link::Upgrade(tls, id) => {
                (upgrade::forward(req, tls, std::future::pending()).await, id)
            }
            Link::Pooled(sender, id) => (self.send(sender, req, e, timeout).await, id),
        }
    }

    /// The way to an endpoint's proxy: the pooled HTTP/2 link, or for an
    /// upgrade a link of its own speaking HTTP/1.1.
    pub(super) async fn link(&self, e: Arc<Endpoint>, upgrade: bool) -> Result<Link, ProxyError> {
        let Some(id) = e.id.clone() else {
            return Err(ProxyError::Unavailable("no meshed endpoint".into()));
        };
        let connect = || self.dialer.mesh(e.addr, &id);
        if upgrade {
            return Ok(Link::Upgrade(Box::new(connect().await?), id));
        }
        match self.pool.get(&(e.addr, id.clone()), connect).await {
            Ok(sender) => Ok(Link::Pooled(sender, id)),
            Err(error) => Err(ProxyError::Connect(error.to_string())),
        }
    }

    async fn send(
        &self,
        mut sender: SendRequest<Body>,
        req: Request<Body>,
        e: &Endpoint,
        timeout: Option<Duration>,
    ) -> Result<Response<Body>, ProxyError> {
        let req = to_mesh_link(req, e.addr).map_err(ProxyError::BadRequest)?;
        let busy = e.load.start();
        let sent = sender.send_request(req);
        let answer = match timeout {
            Some(t) => tokio::time::timeout(t, sent).await.map_err(|_| {
                tracing::info!(endpoint = %e.addr, timeout = ?t, "no response within the request timeout");
                ProxyError::Timeout(t)
            })?,
            None => sent.await,
        };
        match answer {
            Ok(resp) => {
                busy.done();
                Ok(resp.map(boxed))
            }
            Err(err) => {
                tracing::info!(endpoint = %e.addr, error = %err, "request failed upstream");
                Err(ProxyError::Upstream(err.to_string()))
            }
        }
    }
}

/// A reached endpoint's proxy, and the id it proved.
pub(super) enum Link {
    Pooled(SendRequest<Body>, SpiffeId),
    Upgrade(Box<MeshLink>, SpiffeId),
}

/// Rewrites the app's request for the HTTP/2 link: an HTTP/1 request's Host
/// becomes the authority (and it is marked for restoring on the far side);
/// hop-by-hop headers go; `Expect` was already answered to the app by the
/// HTTP/1 server here.
fn to_mesh_link(req: Request<Body>, dst: SocketAddr) -> Result<Request<Body>, String> {
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
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
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
        mark_http1(&mut parts.headers);
        parts.headers.remove(header::EXPECT);
    }
    strip_hop_headers(&mut parts.headers);
    parts.version = Version::HTTP_2;
    Ok(Request::from_parts(parts, body))
}
