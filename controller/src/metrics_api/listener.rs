//! The HTTPS listener the kube-apiserver proxies `metrics.smi-spec.io` to:
//! one task per connection, which must present the front proxy's client
//! certificate ([`super::trust`]); each request on it is then handled by
//! [`ApiServer::handle`].

use super::handler::ApiServer;
use super::trust::Trust;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{convert::Infallible, sync::Arc};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument as _, debug, info_span, warn};
use weft_runtime::{listen, shutdown};

impl ApiServer {
    /// Serves the API on `listener` until `stop`.
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
}
