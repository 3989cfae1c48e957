//! The outbound path: the app's connections, redirected to the loopback
//! listener, carried to their destination — inside mesh mTLS when the
//! destination is meshed, as they are when it is not, refused when it is
//! unknown inside the cluster (never plaintext towards a meshed pod).
//!
//! Towards a meshed destination the app's first bytes are read (within
//! [`detect::TIMEOUT`], unless discovery says the port is opaque): HTTP
//! takes the HTTP path ([`crate::http::outbound`]); anything else, the app's
//! own TLS included, travels opaquely inside the mesh link.

use crate::{
    detect::{self, Protocol},
    http::outbound::{Endpoint, HttpClient},
    metrics::Metrics,
    net::original_dst,
    prefixed::Prefixed,
    resolve::{Resolution, Resolve},
    tracker::Tracker,
};
use std::{net::IpAddr, net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tracing::Instrument as _;
use weft_runtime::shutdown;
use weft_tls::{MeshTls, SpiffeId};

pub struct Outbound<R> {
    pub resolver: Arc<R>,
    pub tls: MeshTls,
    /// The pod's own addresses: a meshed endpoint that is this pod is
    /// reached directly, without mesh TLS to ourselves.
    pub own_ips: Vec<IpAddr>,
    pub connect_timeout: Duration,
    pub tracker: Tracker,
    pub http: Arc<HttpClient>,
    pub metrics: Metrics,
}

impl<R: Resolve> Outbound<R> {
    /// Accepts until `stop`; each connection is served on its own task.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: shutdown::Signal) {
        let local = listener.local_addr().ok();
        let stopped = stop.wait();
        tokio::pin!(stopped);
        loop {
            let (sock, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(error) => {
                        tracing::warn!(%error, "outbound accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                () = &mut stopped => return,
            };
            let this = self.clone();
            let guard = self.tracker.track();
            tokio::spawn(async move {
                let _guard = guard;
                let dst = match original_dst(&sock) {
                    Ok(d) => d,
                    Err(error) => {
                        tracing::warn!(%peer, %error, "no original destination; closing");
                        return;
                    }
                };
                if Some(dst) == local {
                    // Dialled directly, not redirected: forwarding would loop.
                    tracing::debug!(%peer, "a direct connection to the outbound port; closing");
                    return;
                }
                let span = tracing::debug_span!("outbound", %peer, %dst);
                if let Err(error) = this.proxy(sock, dst).instrument(span.clone()).await {
                    span.in_scope(|| tracing::info!(%error, "outbound connection failed"));
                }
            });
        }
    }

    async fn proxy(&self, mut app: TcpStream, dst: SocketAddr) -> std::io::Result<()> {
        let _ = app.set_nodelay(true);
        match self.resolver.resolve(dst).await {
            Resolution::Mesh { addr, id, opaque } if !self.own_ips.contains(&addr.ip()) => {
                let first = if opaque {
                    None
                } else {
                    Some(detect::read(&mut app, detect::TIMEOUT, false).await?)
                };
                let (protocol, prefix) = match first {
                    Some(d) => {
                        if d.timed_out {
                            self.metrics.detect_timed_out(dst.port());
                        }
                        (d.protocol, d.prefix)
                    }
                    None => (Protocol::Opaque, Default::default()),
                };
                let app = Prefixed::new(prefix, app);
                if protocol.is_http() {
                    tracing::debug!(%addr, %id, ?protocol, "HTTP to a meshed endpoint");
                    return self
                        .http
                        .clone()
                        .serve(app, protocol, Endpoint { addr, id })
                        .await
                        .map_err(std::io::Error::other);
                }
                let mut tls = mesh_connect(&self.tls, addr, &id, self.connect_timeout).await?;
                tracing::debug!(%addr, %id, "mesh link up");
                let mut app = app;
                tokio::io::copy_bidirectional(&mut app, &mut tls).await?;
            }
            // Ourselves, or outside the mesh: as it is.
            Resolution::Mesh { addr, .. } => {
                let mut up = self.connect(addr).await?;
                tokio::io::copy_bidirectional(&mut app, &mut up).await?;
            }
            Resolution::Passthrough => {
                let mut up = self.connect(dst).await?;
                tokio::io::copy_bidirectional(&mut app, &mut up).await?;
            }
            Resolution::Refuse(reason) => {
                tracing::info!(%reason, "refusing an outbound connection");
                // HTTP gets an answer saying why rather than a bare close.
                let d = detect::read(&mut app, detect::TIMEOUT, false).await?;
                if d.protocol.is_http() {
                    let reason: Arc<str> = reason.into();
                    crate::http::serve(Prefixed::new(d.prefix, app), d.protocol, move |req| {
                        let reason = reason.clone();
                        async move { crate::http::unavailable(&req, &reason) }
                    })
                    .await
                    .map_err(std::io::Error::other)?;
                }
            }
        }
        Ok(())
    }

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        crate::net::connect(addr, self.connect_timeout).await
    }
}

/// A mesh link to the proxy at `addr`, which must prove `id`; the connect
/// and the handshake each get `timeout`.
pub async fn mesh_connect(
    tls: &MeshTls,
    addr: SocketAddr,
    id: &SpiffeId,
    timeout: Duration,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = crate::net::connect(addr, timeout).await?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    tokio::time::timeout(
        timeout,
        tokio_rustls::TlsConnector::from(tls.mesh_client_config(id)).connect(name, tcp),
    )
    .await
    .map_err(|_| std::io::Error::other("mesh TLS handshake timed out"))?
}
