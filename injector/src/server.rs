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
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info_span};
use weft_runtime::shutdown;

/// Largest AdmissionReview accepted (a pod with many containers stays well
/// below; the API server itself caps requests at 3 MiB).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

struct AppState<N> {
    namespaces: N,
    cfg: InjectConfig,
}

/// The axum router; also used by tests without TLS.
pub fn router<N: review::Namespaces + 'static>(namespaces: N, cfg: InjectConfig) -> Router {
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
    let answer = review::review(&body, &st.namespaces, &st.cfg).await;
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
    let stop_fut = stop.wait();
    tokio::pin!(stop_fut);
    loop {
        let (sock, peer) = tokio::select! {
            _ = &mut stop_fut => return,
            res = listener.accept() => match res {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(
            serve_conn(sock, peer, acceptor, router).instrument(info_span!("webhook", %peer)),
        );
    }
}

async fn serve_conn(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => return debug!(%peer, "TLS handshake timed out"),
    };
    let svc = TowerToHyperService::new(router);
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), svc)
        .await
    {
        debug!(error = %e, "connection ended");
    }
}
