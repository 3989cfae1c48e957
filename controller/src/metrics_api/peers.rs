//! Replicas talk to each other over mTLS with the controller's identity:
//! a replica without figures forwards an authorised query to the Lease
//! holder's peer listener, which answers it from its own.

use super::handler::ApiServer;
use super::response::status;
use super::routes::{self, Route};
use super::scraper::fetch_any;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{convert::Infallible, net::SocketAddr, sync::Arc};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument as _, debug, info_span, warn};
use weft_runtime::{listen, shutdown};
use weft_tls::{ClientAuth, MeshTls, SpiffeId};

/// How this replica reaches the Lease holder, and is reached as one.
#[derive(Clone)]
pub struct Peers {
    pub tls: MeshTls,
    /// The controller's id: the only client and server accepted.
    pub id: SpiffeId,
    /// The current holder's peer listener (`ip:port`), from the Lease.
    pub holder: watch::Receiver<Option<String>>,
}

impl ApiServer {
    /// Answers from this replica's figures, or forwards `path_and_query`
    /// to the Lease holder when this replica has none.
    pub(super) async fn metrics_or_forward(
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
}
