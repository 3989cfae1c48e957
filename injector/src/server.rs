//! The HTTPS server: `POST /inject` over rustls, with the serving certificate
//! rotated from its files without a restart. An explicit accept loop and a
//! function per connection, as in the proxy.

use crate::{InjectConfig, review};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Json},
    routing::post,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info_span};
use weft_runtime::{listen::Incoming, shutdown};

/// Largest AdmissionReview accepted (a pod with many containers stays well
/// below; the API server itself caps requests at 3 MiB).
const MAX_BODY: usize = 4 * 1024 * 1024;

struct AppState<N> {
    namespaces: N,
    cfg: SharedConfig,
}

/// The configuration every review reads, swapped when the trust anchors
/// rotate.
pub type SharedConfig = Arc<arc_swap::ArcSwap<InjectConfig>>;

/// The axum router; also used by tests without TLS.
pub fn router<N: review::Namespaces + 'static>(namespaces: N, cfg: SharedConfig) -> Router {
    let state = Arc::new(AppState { namespaces, cfg });
    Router::new()
        .route("/inject", post(inject::<N>))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn inject<N: review::Namespaces>(
    State(st): State<Arc<AppState<N>>>,
    body: Bytes,
) -> impl IntoResponse {
    let cfg = st.cfg.load_full();
    let answer = review::review(&body, &st.namespaces, &cfg).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer.body))
}

/// Serves `router` over TLS on `listener` until `stop`.
pub async fn serve_tls(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    router: Router,
    stop: shutdown::Signal,
) {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let mut incoming = Incoming::new(listener, stop, "webhook");
    while let Some((sock, peer)) = incoming.next().await {
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(serve_conn(sock, acceptor, router).instrument(info_span!("webhook", %peer)));
    }
}

async fn serve_conn(sock: tokio::net::TcpStream, acceptor: TlsAcceptor, router: Router) {
    let Some(tls) = weft_tls::handshake(&acceptor, sock).await else {
        return;
    };
    let svc = TowerToHyperService::new(router);
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), svc)
        .await
    {
        debug!(error = %e, "connection ended");
    }
}
