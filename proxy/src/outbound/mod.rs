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
    http::{HttpClient, Usable},
    resolve::{Resolution, Resolve},
};
use crate::{
    detect::{self, Detected},
    error::ProxyError,
    http::{
        Io,
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
use bytes::{Bytes, BytesMut};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
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
        let first = if d.opaque {
            Detected::opaque()
        } else {
            let first = detect::read(&mut app, detect::TIMEOUT, detect::Mode::Detect).await?;
            if first.silent() {
                self.metrics.detect_timed_out(dst.port());
            }
            first
        };
        let dialer = self.dialer.clone();
        let http_usable: Usable =
            Arc::new(move |e: &answer::Endpoint| e.id.is_some() && dialer.reaches(e.addr));
        // HTTP needs a meshed endpoint; when there is none, the connection
        // is carried as TCP.
        if first.protocol.is_http() && d.has_endpoint(&*http_usable) {
            return self
                .serve_http(app, first, d, http_usable, dst.port())
                .await;
        }
        let silent = first.silent();
        let (mut up, peer, service, endpoint) =
            match connect_any(&d, None, |_| true, |e| self.upstream(e)).await {
                Ok(Connected::Endpoint(e, up)) => {
                    let (up, peer): (Box<dyn Io>, _) = match up {
                        Upstream::Mesh(link, id) => (link, Some(id)),
                        Upstream::Plain(tcp) => (Box::new(tcp), None),
                    };
                    (up, peer, d.service(), Some(e))
                }
                Ok(Connected::Passthrough) => {
                    let up: Box<dyn Io> = Box::new(self.connect(dst).await?);
                    (up, None, no_label(), None)
                }
                Err(ProxyError::Unavailable(reason)) => {
                    tracing::info!(%reason, "no endpoint; closing");
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
        // In flight for as long as the connection lasts.
        let _busy = endpoint.as_ref().map(|e| e.load.start());
        let mut prefix = first.prefix;
        if silent {
            let Ok(word) =
                tokio::time::timeout(self.limits.tcp_idle, first_word(&mut app, &mut up)).await
            else {
                tracing::info!(port = dst.port(), "idle past the TCP idle timeout; closing");
                self.metrics.refused(Direction::Outbound, refusal::TCP_IDLE);
                return Ok(());
            };
            match word? {
                FirstWord::Server(greeting) => app.write_all(&greeting).await?,
                FirstWord::Client(late)
                    if late.protocol.is_http() && d.has_endpoint(&*http_usable) =>
                {
                    tracing::debug!(protocol = ?late.protocol, "HTTP after detection timed out");
                    drop(up);
                    return self.serve_http(app, late, d, http_usable, dst.port()).await;
                }
                FirstWord::Client(late) => prefix = late.prefix,
            }
        }
        let peer = peer.as_ref().map_or("none", SpiffeId::as_str);
        let mut app = Prefixed::new(prefix, app);
        self.copy(&mut app, &mut up, peer, service, dst.port())
            .await
    }

    async fn serve_http(
        &self,
        app: TcpStream,
        first: Detected,
        d: Destination,
        usable: Usable,
        port: u16,
    ) -> Result<(), ProxyError> {
        tracing::debug!(protocol = ?first.protocol, "HTTP to a meshed destination");
        let app = Prefixed::new(first.prefix, app);
        Ok(self
            .http
            .clone()
            .serve(app, first.protocol, d, usable, port)
            .await?)
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

/// Who spoke first on a connection whose app was silent through detection.
enum FirstWord {
    /// The server's first bytes (none when it closed).
    Server(Bytes),
    /// The app's first bytes, detected.
    Client(Detected),
}

/// The app said nothing within detection, so `up` was connected in case
/// the server speaks first (SMTP, MySQL). Whichever side speaks first
/// decides: a server's greeting means bytes are carried; the app's late
/// bytes are detected again, so a client that opened its connection early
/// (a pool warming up) and sent HTTP later is served as HTTP. `up` has had
/// nothing written to it, and an HTTP server never speaks first, so
/// nothing is lost by dropping it then.
async fn first_word(app: &mut TcpStream, up: &mut Box<dyn Io>) -> std::io::Result<FirstWord> {
    let mut greeting = BytesMut::with_capacity(GREETING);
    // Both are cancel-safe: whichever loses has consumed nothing.
    tokio::select! {
        r = up.read_buf(&mut greeting) => {
            r?;
            Ok(FirstWord::Server(greeting.freeze()))
        }
        r = app.readable() => {
            r?;
            Ok(FirstWord::Client(
                detect::read(app, detect::TIMEOUT, detect::Mode::Detect).await?,
            ))
        }
    }
}

/// Room for a server's first read.
const GREETING: usize = 16 * 1024;
