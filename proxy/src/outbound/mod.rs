//! The outbound path: the app's connections, redirected to the loopback
//! listener, carried to their destination — inside mesh mTLS when the
//! destination is meshed, as they are when it is not, refused when it is
//! unknown inside the cluster (never plaintext towards a meshed pod).
//!
//! Towards a meshed destination the app's first bytes are read (within
//! [`detect::TIMEOUT`], unless discovery says the port is opaque): HTTP
//! takes the HTTP path ([`http`]); anything else, the app's own TLS
//! included, travels opaquely inside the mesh link.

pub mod answer;
pub mod balance;
pub mod budget;
pub mod connect;
pub mod destination;
pub mod dial;
pub mod discovery;
pub mod http;
pub mod resolve;
pub mod route;
pub mod routed;

use self::{
    connect::{Connected, connect_any},
    destination::Destination,
    dial::{Dialer, Link},
    http::HttpClient,
    resolve::{Resolution, Resolve},
};
use crate::{
    detect::{self, Protocol},
    error::ProxyError,
    http::{
        headers::is_grpc,
        server::{Bounds, serve},
    },
    idle::{Activity, Watched},
    limits::Limits,
    metrics::{Direction, Label, Metrics, PeerLabels, no_label, refusal},
    net::original_dst,
    prefixed::Prefixed,
    tracker::Tracker,
};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tracing::Instrument as _;
use weft_runtime::{listen::Incoming, shutdown};
use weft_tls::SpiffeId;

pub struct Outbound<R> {
    pub resolver: Arc<R>,
    /// Mesh links, this pod's own endpoints included.
    pub dialer: Dialer,
    /// For connections outside the mesh.
    pub connect_timeout: Duration,
    pub tracker: Tracker,
    pub http: Arc<HttpClient>,
    pub limits: Arc<Limits>,
    /// Room for [`Limits::max_connections_outbound`] connections, shared by
    /// every listener of this direction.
    pub room: Arc<Semaphore>,
    pub metrics: Metrics,
}

impl<R: Resolve> Outbound<R> {
    /// Accepts until `stop`; each connection is served on its own task.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: shutdown::Signal) {
        let local = listener.local_addr().ok();
        let mut incoming = Incoming::new(listener, stop, "outbound");
        while let Some((sock, peer)) = incoming.next().await {
            let Ok(permit) = self.room.clone().try_acquire_owned() else {
                tracing::debug!(%peer, "outbound connection limit reached; closing");
                self.metrics
                    .refused(Direction::Outbound, refusal::CONNECTION_LIMIT);
                continue;
            };
            let this = self.clone();
            let guard = self.tracker.track();
            tokio::spawn(async move {
                let _guard = (guard, permit);
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

    async fn proxy(&self, mut app: TcpStream, dst: SocketAddr) -> Result<(), ProxyError> {
        let _ = app.set_nodelay(true);
        match self.resolver.resolve(dst).await {
            Resolution::Mesh(d) => self.meshed(app, dst, d).await,
            Resolution::Passthrough => {
                let mut up = self.connect(dst).await?;
                self.copy(&mut app, &mut up, "none", no_label(), dst.port())
                    .await
            }
            Resolution::Refuse(reason) => {
                tracing::info!(%reason, "refusing an outbound connection");
                // HTTP gets an answer saying why rather than a bare close.
                let d = detect::read(&mut app, detect::TIMEOUT, detect::Mode::Detect).await?;
                if d.protocol.is_http() {
                    let bounds = Bounds {
                        limits: &self.limits,
                        metrics: &self.metrics,
                        direction: Direction::Outbound,
                    };
                    serve(
                        Prefixed::new(d.prefix, app),
                        d.protocol,
                        bounds,
                        move |req| {
                            let error = ProxyError::Unavailable(reason.clone());
                            async move { error.into_response(is_grpc(req.headers())) }
                        },
                    )
                    .await?;
                }
                Ok(())
            }
        }
    }

    /// A meshed destination: HTTP is balanced per request; anything else
    /// per connection.
    async fn meshed(
        &self,
        mut app: TcpStream,
        dst: SocketAddr,
        d: Destination,
    ) -> Result<(), ProxyError> {
        let (protocol, prefix) = if d.opaque {
            (Protocol::Opaque, Default::default())
        } else {
            let first = detect::read(&mut app, detect::TIMEOUT, detect::Mode::Detect).await?;
            if first.silent() {
                self.metrics.detect_timed_out(dst.port());
            }
            (first.protocol, first.prefix)
        };
        let mut app = Prefixed::new(prefix, app);
        let dialer = self.dialer.clone();
        let http_usable = move |e: &answer::Endpoint| e.id.is_some() && dialer.reaches(e.addr);
        // HTTP needs a meshed endpoint; when there is none, the connection
        // is carried as TCP.
        if protocol.is_http() && d.has_endpoint(&http_usable) {
            tracing::debug!(?protocol, "HTTP to a meshed destination");
            return Ok(self
                .http
                .clone()
                .serve(app, protocol, d, Arc::new(http_usable), dst.port())
                .await?);
        }
        let connected = connect_any(&d, None, |_| true, |e| self.upstream(e)).await;
        match connected {
            Ok(Connected::Endpoint(e, up)) => {
                // In flight for as long as the connection lasts.
                let _busy = e.load.start();
                match up {
                    Upstream::Mesh(mut tls, id) => {
                        self.copy(&mut app, &mut tls, id.as_str(), d.service(), dst.port())
                            .await
                    }
                    Upstream::Plain(mut tcp) => {
                        self.copy(&mut app, &mut tcp, "none", d.service(), dst.port())
                            .await
                    }
                }
            }
            Ok(Connected::Passthrough) => {
                let mut up = self.connect(dst).await?;
                self.copy(&mut app, &mut up, "none", no_label(), dst.port())
                    .await
            }
            Err(ProxyError::Unavailable(reason)) => {
                tracing::info!(%reason, "no endpoint; closing");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A connection to endpoint `e`, for a TCP connection to carry; its
    /// latency is learnt for balancing.
    async fn upstream(&self, e: Arc<answer::Endpoint>) -> Result<Upstream, ProxyError> {
        let connecting = e.load.start();
        let up = match &e.id {
            // Meshed: inside mesh mTLS (to this pod too, through its
            // inbound side).
            Some(id) if self.dialer.reaches(e.addr) => {
                let link = self.dialer.mesh(e.addr, id).await?;
                tracing::debug!(addr = %e.addr, %id, "mesh link up");
                Upstream::Mesh(Box::new(link), id.clone())
            }
            // A pod outside the mesh, or ourselves where no inbound side
            // runs: as it is.
            _ => Upstream::Plain(
                self.connect(e.addr)
                    .await
                    .map_err(|e| ProxyError::Connect(e.to_string()))?,
            ),
        };
        connecting.done();
        Ok(up)
    }

    /// Forwards bytes both ways until either side closes, counted.
    async fn copy<A, B>(
        &self,
        app: &mut A,
        up: &mut B,
        peer: &str,
        service: Label,
        port: u16,
    ) -> Result<(), ProxyError>
    where
        A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let tcp = self.metrics.tcp(PeerLabels {
            direction: Direction::Outbound,
            peer: peer.into(),
            service,
            port,
        });
        let activity = Activity::new();
        let mut app = Watched::new(app, activity.clone());
        tokio::select! {
            r = crate::copy::bidirectional(&mut app, up) => {
                let (from_app, to_app) = r?;
                tcp.bytes(from_app, to_app);
            }
            () = activity.idle_for(self.limits.tcp_idle) => {
                tracing::info!(port, "idle past the TCP idle timeout; closing");
                self.metrics.refused(Direction::Outbound, refusal::TCP_IDLE);
            }
        }
        Ok(())
    }

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        crate::net::connect(addr, self.connect_timeout).await
    }
}

/// What a TCP connection to a meshed destination was carried on.
enum Upstream {
    /// A mesh link to the endpoint's proxy, which proved this id.
    Mesh(Box<Link>, SpiffeId),
    /// The endpoint itself (a pod outside the mesh).
    Plain(TcpStream),
}
