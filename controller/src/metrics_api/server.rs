//! The HTTPS listener the kube-apiserver proxies `metrics.smi-spec.io` to:
//! one task per connection, each request authorised for the end user
//! before it is answered.

use super::aggregate::{self, Answer, Inputs, Scraped};
use super::authn::{self, FrontProxy, User};
use super::discovery;
use super::routes::{self, Route, RouteError};
use super::scraper::fetch_any;
use crate::index::SharedIndex;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument as _, debug, info_span, warn};
use weft_runtime::{listen, shutdown};
use weft_tls::{ClientAuth, MeshTls, ServingCert, SpiffeId};

/// How often the front-proxy trust is re-read (the API server's CA can
/// rotate).
const TRUST_REFRESH: Duration = Duration::from_secs(60);

/// The front proxy's trust, with the TLS config built from it.
pub struct Trust {
    pub proxy: FrontProxy,
    pub tls: Arc<rustls::ServerConfig>,
}

pub struct ApiServer {
    pub client: kube::Client,
    pub index: SharedIndex,
    pub scraped: watch::Receiver<Arc<Scraped>>,
    pub trust: watch::Receiver<Option<Arc<Trust>>>,
    /// Named in 503s: the Lease whose holder scrapes.
    pub lease: String,
    /// How a replica that does not scrape reaches the one that does.
    pub peers: Peers,
}

/// Replicas talk to each other over mTLS with the controller's identity:
/// a replica without figures forwards an authorised query to the Lease
/// holder's peer listener, which answers it from its own.
#[derive(Clone)]
pub struct Peers {
    pub tls: MeshTls,
    /// The controller's id: the only client and server accepted.
    pub id: SpiffeId,
    /// The current holder's peer listener (`ip:port`), from the Lease.
    pub holder: watch::Receiver<Option<String>>,
}

impl ApiServer {
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: shutdown::Signal) {
        let mut incoming = listen::Incoming::new(listener, stop, "metrics API");
        while let Some((sock, peer)) = incoming.next().await {
            let Some(trust) = self.trust.borrow().clone() else {
                warn!(%peer, "metrics API: refusing a connection before the front-proxy CA is known");
                continue;
            };
            let this = self.clone();
            tokio::spawn(
                async move { this.serve_conn(sock, trust).await }
                    .instrument(info_span!("metrics_api", %peer)),
            );
        }
    }

    async fn serve_conn(self: Arc<Self>, sock: TcpStream, trust: Arc<Trust>) {
        let acceptor = TlsAcceptor::from(trust.tls.clone());
        let Some(tls) = weft_tls::handshake(&acceptor, sock).await else {
            return;
        };
        let cn = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(weft_tls::common_name);
        if !trust.proxy.allows(cn.as_deref()) {
            return warn!(client = ?cn, "metrics API: client certificate is not the API server's front proxy");
        }
        let service = hyper::service::service_fn(move |req| {
            let (this, trust) = (self.clone(), trust.clone());
            async move { Ok::<_, Infallible>(this.handle(req, &trust.proxy).await) }
        });
        if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(tls), service)
            .await
        {
            debug!(error = %e, "connection ended");
        }
    }

    async fn handle(&self, req: Request<Incoming>, proxy: &FrontProxy) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let span = info_span!("request", %path, user = tracing::field::Empty);
        async {
            if req.method() != Method::GET {
                return status(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    "only get and list are served",
                );
            }
            let Some(user) = proxy.user(req.headers()) else {
                return status(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "no user named by the front proxy",
                );
            };
            tracing::Span::current().record("user", user.name.as_str());
            let route = match routes::route(&path, req.uri().query()) {
                Ok(r) => r,
                Err(RouteError::NotFound(p)) => {
                    return status(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        &format!("the server could not find {p}"),
                    );
                }
                Err(e @ RouteError::Selector(_)) => {
                    return status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string());
                }
            };
            let (spec, what) = review(&user, &path, &route);
            match self.authorize(spec).await {
                Ok(true) => {}
                Ok(false) => {
                    debug!("forbidden");
                    return status(
                        StatusCode::FORBIDDEN,
                        "Forbidden",
                        &format!("user {:?} cannot {what}", user.name),
                    );
                }
                Err(e) => {
                    warn!(error = %e, "SubjectAccessReview failed");
                    return status(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        &format!("cannot check authorization: {e}"),
                    );
                }
            }
            match route {
                Route::GroupList => json(&discovery::group_list()),
                Route::Group => json(&discovery::group()),
                Route::ResourceList => json(&discovery::resource_list()),
                Route::Metrics(q) => {
                    let pq = req
                        .uri()
                        .path_and_query()
                        .map_or(path.as_str(), |p| p.as_str());
                    self.metrics_or_forward(&q, pq).await
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Answers from this replica's figures, or forwards `path_and_query`
    /// to the Lease holder when this replica has none.
    async fn metrics_or_forward(
        &self,
        q: &routes::Query,
        path_and_query: &str,
    ) -> Response<Full<Bytes>> {
        let have = self.scraped.borrow().at.is_some();
        let holder = self.peers.holder.borrow().clone();
        match holder.and_then(|h| h.parse::<SocketAddr>().ok()) {
            Some(addr) if !have => self.forward(addr, path_and_query).await,
            _ => self.metrics(q),
        }
    }

    async fn forward(&self, addr: SocketAddr, path_and_query: &str) -> Response<Full<Bytes>> {
        let tls = self.peers.tls.control_plane_client_config(&self.peers.id);
        match fetch_any(tls, addr, path_and_query).await {
            Ok((code, body)) => Response::builder()
                .status(code)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body))
                .expect("static headers are valid"),
            Err(e) => {
                warn!(holder = %addr, error = format!("{e:#}"), "cannot reach the metrics Lease holder");
                status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    &format!(
                        "the replica holding Lease {} ({addr}) does not answer: {e:#}",
                        self.lease
                    ),
                )
            }
        }
    }

    /// The peer listener: the same queries, already authorised by the
    /// replica that forwards them, answered from this replica's figures.
    pub async fn serve_peers(self: Arc<Self>, listener: TcpListener, stop: shutdown::Signal) {
        let acceptor = TlsAcceptor::from(
            self.peers
                .tls
                .control_plane_server_config(ClientAuth::Required),
        );
        let mut incoming = listen::Incoming::new(listener, stop, "metrics peer");
        while let Some((sock, peer)) = incoming.next().await {
            let (this, acceptor) = (self.clone(), acceptor.clone());
            tokio::spawn(
                async move { this.serve_peer_conn(sock, acceptor).await }
                    .instrument(info_span!("metrics_peer", %peer)),
            );
        }
    }

    async fn serve_peer_conn(self: Arc<Self>, sock: TcpStream, acceptor: TlsAcceptor) {
        let Some(tls) = weft_tls::handshake(&acceptor, sock).await else {
            return;
        };
        if weft_tls::peer_id(tls.get_ref().1).as_ref() != Some(&self.peers.id) {
            return warn!("metrics peer listener: refused a client that is not weft-controller");
        }
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let this = self.clone();
            async move {
                let answer = match routes::route(req.uri().path(), req.uri().query()) {
                    Ok(Route::Metrics(q)) => this.metrics(&q),
                    _ => status(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        "peers ask for metrics only",
                    ),
                };
                Ok::<_, Infallible>(answer)
            }
        });
        if let Err(e) = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(tls), service)
            .await
        {
            debug!(error = %e, "peer connection ended");
        }
    }

    fn metrics(&self, q: &routes::Query) -> Response<Full<Bytes>> {
        let scraped = self.scraped.borrow().clone();
        if scraped.at.is_none() {
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                &format!(
                    "no metrics collected yet: the controller replica holding Lease {} scrapes the proxies \
                     (it may be starting, or this replica may not hold it)",
                    self.lease
                ),
            );
        }
        let (pods, namespaces, splits) = {
            let index = self.index.lock().expect("index lock");
            let splits = if q.kind == routes::Kind::TrafficSplit {
                index.split_backends()
            } else {
                Default::default()
            };
            (index.meshed_pods(), index.namespace_labels(), splits)
        };
        let inputs = Inputs {
            scraped: &scraped,
            pods: &pods,
            namespaces: &namespaces,
            splits: &splits,
        };
        match aggregate::answer(q, &inputs) {
            Answer::One(m) => json(&m),
            Answer::List(l) => json(&l),
            Answer::NotFound(msg) => status(StatusCode::NOT_FOUND, "NotFound", &msg),
        }
    }

    async fn authorize(&self, spec: SubjectAccessReviewSpec) -> Result<bool, kube::Error> {
        let sar = SubjectAccessReview {
            spec,
            ..Default::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = api.create(&PostParams::default(), &sar).await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

/// The SubjectAccessReview for a request, and how a denial reads.
fn review(user: &User, path: &str, route: &Route) -> (SubjectAccessReviewSpec, String) {
    let mut spec = SubjectAccessReviewSpec {
        user: Some(user.name.clone()),
        groups: Some(user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
        ..Default::default()
    };
    let what = match route {
        Route::Metrics(q) => {
            let subresource = q.edges.then(|| "edges".to_string());
            let resource = match &subresource {
                Some(s) => format!("{}/{s}", q.kind.plural()),
                None => q.kind.plural().to_string(),
            };
            let what = match &q.namespace {
                Some(ns) => format!(
                    "{} resource {resource:?} in API group \"metrics.smi-spec.io\" in the namespace {ns:?}",
                    q.verb()
                ),
                None => format!(
                    "{} resource {resource:?} in API group \"metrics.smi-spec.io\"",
                    q.verb()
                ),
            };
            spec.resource_attributes = Some(ResourceAttributes {
                group: Some(weft_k8s_api::metrics::GROUP.into()),
                version: Some(weft_k8s_api::metrics::VERSION.into()),
                resource: Some(q.kind.plural().into()),
                subresource,
                namespace: q.namespace.clone(),
                name: q.name.clone(),
                verb: Some(q.verb().into()),
                ..Default::default()
            });
            what
        }
        _ => {
            spec.non_resource_attributes = Some(NonResourceAttributes {
                path: Some(path.to_string()),
                verb: Some("get".into()),
            });
            format!("get path {path:?}")
        }
    };
    (spec, what)
}

fn json<T: serde::Serialize>(v: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(v) {
        Ok(body) => Response::builder()
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("static headers are valid"),
        Err(e) => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        ),
    }
}

/// A Kubernetes `Status` failure, which kubectl and clients print.
fn status(code: StatusCode, reason: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static headers are valid")
}

/// Keeps `tx` holding the front proxy's trust from the
/// `extension-apiserver-authentication` ConfigMap, re-read every minute.
pub async fn keep_trust(
    client: kube::Client,
    serving: Arc<ServingCert>,
    tx: watch::Sender<Option<Arc<Trust>>>,
    stop: shutdown::Signal,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, authn::CONFIG_MAP_NAMESPACE);
    let mut ticker = tokio::time::interval(TRUST_REFRESH);
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            _ = ticker.tick() => {}
        }
        let data = match api.get(authn::CONFIG_MAP_NAME).await {
            Ok(cm) => cm.data.unwrap_or_default(),
            Err(error) => {
                warn!(%error, "metrics API: cannot read {}/{}", authn::CONFIG_MAP_NAMESPACE, authn::CONFIG_MAP_NAME);
                continue;
            }
        };
        let proxy = match FrontProxy::from_config_map(&data) {
            Ok(p) => p,
            Err(error) => {
                warn!(%error, "metrics API: no usable front-proxy trust");
                continue;
            }
        };
        if tx.borrow().as_ref().is_some_and(|t| t.proxy == proxy) {
            continue;
        }
        match serving
            .server_config_verifying_clients(proxy.client_ca.as_bytes(), &[b"h2", b"http/1.1"])
        {
            Ok(cfg) => {
                tracing::info!(allowed_names = ?proxy.allowed_names, "metrics API: front-proxy trust loaded");
                tx.send_replace(Some(Arc::new(Trust {
                    proxy,
                    tls: Arc::new(cfg),
                })));
            }
            Err(error) => warn!(%error, "metrics API: the front-proxy CA is unusable"),
        }
    }
}
