//! The metrics listener for weft-controller alone: the same Prometheus text
//! as the admin port's `/metrics`, over mTLS (HTTP/2), answered only when
//! the client's certificate names the controller. The admin port stays
//! plaintext for the kubelet and local tools; this one crosses the network
//! carrying who talks to whom, so it is authenticated like the mesh.
//!
//! Only here: the allowed inbound requests' shapes ([`crate::observed`]),
//! from which the controller suggests policy. They name the app's routes,
//! which other pods reaching the admin port have no need to learn.

use crate::observed::Observed;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus_client::registry::Registry;
use std::{convert::Infallible, net::SocketAddr, sync::Arc};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info_span};
use weft_runtime::{listen, shutdown};
use weft_tls::{ClientAuth, MeshTls, SpiffeId};

pub struct ScrapeServer {
    pub tls: MeshTls,
    /// The only client answered: weft-controller's id.
    pub scraper: SpiffeId,
    pub registry: Arc<Registry>,
    /// Served after the registry's families.
    pub observed: Arc<Observed>,
}

impl ScrapeServer {
    /// Accepts until `stop`; one task per connection.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: shutdown::Signal) {
        let acceptor =
            TlsAcceptor::from(self.tls.control_plane_server_config(ClientAuth::Required));
        let mut incoming = listen::Incoming::new(listener, stop, "metrics");
        while let Some((sock, peer)) = incoming.next().await {
            let this = self.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(
                async move { this.serve_conn(sock, acceptor).await }
                    .instrument(info_span!("scrape", %peer)),
            );
        }
    }

    async fn serve_conn(self: Arc<Self>, sock: TcpStream, acceptor: TlsAcceptor) {
        let Some(tls) = weft_tls::handshake(&acceptor, sock).await else {
            return;
        };
        let client = weft_tls::peer_id(tls.get_ref().1);
        if client.as_ref() != Some(&self.scraper) {
            // Same trust domain but not the controller: a workload asking
            // for another's traffic. Close without answering.
            return debug!(client = ?client.map(|c| c.to_string()), "refused: not the controller");
        }
        let service = hyper::service::service_fn(move |req| {
            let this = self.clone();
            async move { Ok::<_, Infallible>(answer(&req, &this.registry, &this.observed)) }
        });
        if let Err(e) = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(tls), service)
            .await
        {
            debug!(error = %e, "connection ended");
        }
    }
}

fn answer<B>(req: &Request<B>, registry: &Registry, observed: &Observed) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header(
                http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
            .body(Full::new(Bytes::from(body)))
            .expect("static headers are valid")
    };
    if req.method() != Method::GET || req.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "only GET /metrics\n".into());
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"));
    }
    // OpenMetrics text ends at `# EOF`: the observed families go before it.
    const EOF: &str = "# EOF\n";
    out.truncate(out.strip_suffix(EOF).map_or(out.len(), str::len));
    observed.encode(&mut out);
    out.push_str(EOF);
    reply(StatusCode::OK, out)
}

/// Binds the listener (so a taken port fails the proxy at start).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener {addr}"))
}

#[cfg(test)]
mod tests;
