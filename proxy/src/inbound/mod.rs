//! The inbound path: connections to the pod, redirected to the inbound
//! listener. Mesh mTLS (recognised by its ALPN id) is terminated and its
//! client identity read; an app's own TLS and plaintext are unauthenticated
//! and pass as they came. Either way the bytes go to the **original
//! destination address** (the pod IP and port), dialled from the proxy's
//! UID so they are not redirected again, and never to localhost, so a
//! loopback-only listener stays private.
//!
//! HTTP (detected inside the mesh link or on a plaintext connection, unless
//! the port is opaque) is served request by request ([`http`]):
//! each request is authorized on its own, and the app receives the verified
//! client id. Anything else is authorized once per connection ([`authz`])
//! before anything reaches the app, and closed if a later policy update
//! revokes the access.

pub mod authz;
pub mod client;
pub mod http;
pub mod policy;

use self::{
    authz::Decision,
    client::Client,
    http::{Conn, HttpServer},
    policy::{Policies, PortPolicy},
};
use crate::{
    detect::{self, Detected, late},
    error::ProxyError,
    idle::{Activity, Watched},
    limits::Limits,
    local::LocalInbound,
    mesh,
    metrics::{Direction, Metrics, PeerLabels, no_label, refusal},
    net::original_dst,
    prefixed::Prefixed,
    sniff::offers,
    tracker::Tracker,
};
use bytes::Bytes;
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, DuplexStream},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tracing::Instrument as _;
use weft_api::{
    contract::{alpn, deny_reason},
    policy::{InboundPolicyUpdate, Protocol},
};
use weft_runtime::{listen::Incoming, shutdown};
use weft_tls::MeshTls;

pub struct Inbound {
    pub tls: MeshTls,
    /// This pod's addresses (`status.podIPs`): the only original
    /// destinations the inbound side dials.
    pub own_ips: Vec<IpAddr>,
    pub policies: Arc<Policies>,
    /// How long a connection waits for its port's first policy before it is
    /// refused (`policy-unavailable`).
    pub policy_wait: Duration,
    pub connect_timeout: Duration,
    pub tracker: Tracker,
    pub http: Arc<HttpServer>,
    pub limits: Arc<Limits>,
    /// Room for [`Limits::max_connections_inbound`] connections, shared by
    /// every listener of this direction.
    pub room: Arc<Semaphore>,
    pub metrics: Metrics,
}

impl Inbound {
    /// Accepts until `stop` (new connections stop; open ones continue).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: shutdown::Signal) {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let mut incoming = Incoming::new(listener, stop, "inbound");
        while let Some((sock, peer)) = incoming.next().await {
            let Ok(permit) = self.room.clone().try_acquire_owned() else {
                tracing::debug!(%peer, "inbound connection limit reached; closing");
                self.metrics
                    .refused(Direction::Inbound, refusal::CONNECTION_LIMIT);
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
                if dst.port() == port {
                    // Dialled at the proxy's own port: forwarding would loop.
                    tracing::debug!(%peer, "a direct connection to the inbound port; closing");
                    return;
                }
                if !this.own_ips.contains(&dst.ip()) {
                    // Routed here for another host: dialling it would lend
                    // the pod's address to whoever sent it.
                    tracing::info!(%peer, %dst, "the original destination is not this pod; closing");
                    this.metrics
                        .refused(Direction::Inbound, refusal::NOT_THIS_POD);
                    return;
                }
                let span = tracing::debug_span!("inbound", %peer, %dst);
                if let Err(error) = this.proxy(sock, peer, dst).instrument(span.clone()).await {
                    span.in_scope(|| tracing::info!(%error, "inbound connection failed"));
                }
            });
        }
    }

    async fn proxy(
        &self,
        sock: TcpStream,
        peer: SocketAddr,
        dst: SocketAddr,
    ) -> Result<(), ProxyError> {
        let _ = sock.set_nodelay(true);
        if !self.policies.is_declared(dst.port()) && closes_silently(&sock).await {
            // A port scanner's knock: no policy is fetched for it.
            tracing::debug!("closed before sending anything");
            return Ok(());
        }
        self.handle(sock, peer, dst).await
    }

    /// One connection to `dst`, from the network or from this pod's own
    /// outbound side.
    async fn handle<S>(
        &self,
        mut sock: S,
        peer: SocketAddr,
        dst: SocketAddr,
    ) -> Result<(), ProxyError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut policy = self.policies.watch(dst.port());
        let current = first_policy(&mut policy, self.policy_wait).await;
        let mode = match current.as_ref().map(|p| p.protocol()) {
            // Opaque ports are never inspected past telling mesh TLS apart.
            Some(Protocol::Opaque) => detect::Mode::Opaque,
            Some(Protocol::Http) => detect::Mode::Http,
            Some(Protocol::Detect) | None => detect::Mode::Detect,
        };
        let first = detect::read(&mut sock, detect::TIMEOUT, mode).await?;
        if first.protocol == detect::Protocol::Tls && offers(&first.prefix, alpn::MESH) {
            let link = Prefixed::new(first.prefix, sock);
            let (mut tls, id) =
                mesh::accept(&self.tls, link, self.connect_timeout, &self.metrics).await?;
            let client = Client::Mesh(id);
            tracing::debug!(?client, "inbound mesh connection");
            let inner = if mode == detect::Mode::Opaque {
                Detected {
                    protocol: detect::Protocol::Opaque,
                    prefix: Bytes::new(),
                    checked: false,
                }
            } else {
                detect::read(&mut tls, detect::TIMEOUT, mode).await?
            };
            let conn = Conn {
                client,
                dst,
                policy,
            };
            self.dispatch(conn, tls, inner, mode, current).await
        } else {
            let client = Client::Unauthenticated(peer);
            tracing::debug!(?client, "inbound connection");
            let conn = Conn {
                client,
                dst,
                policy,
            };
            self.dispatch(conn, sock, first, mode, current).await
        }
    }

    /// HTTP is served request by request; everything else is authorized
    /// once and forwarded as bytes.
    async fn dispatch<S>(
        &self,
        conn: Conn,
        stream: S,
        first: Detected,
        mode: detect::Mode,
        current: Option<Arc<InboundPolicyUpdate>>,
    ) -> Result<(), ProxyError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // A port declared HTTP is never carried as bytes: what is not HTTP
        // (an app's own TLS included) meets the HTTP parser and its 400.
        let protocol = match first.protocol {
            p if p.is_http() => p,
            _ if mode == detect::Mode::Http => detect::Protocol::Http1,
            p => p,
        };
        if protocol.is_http() {
            tracing::debug!(client = ?conn.client, ?protocol, "serving HTTP");
            let stream = Prefixed::new(first.prefix, stream);
            return Ok(self.http.clone().serve(stream, protocol, conn).await?);
        }
        if first.checked {
            // Detection could not rule HTTP out: the client's bytes are
            // watched on their way to the app.
            let stream = late::Checked::new(first.prefix, stream);
            return Ok(self.forward(conn, stream, current).await?);
        }
        let stream = Prefixed::new(first.prefix, stream);
        Ok(self.forward(conn, stream, current).await?)
    }

    /// Authorizes, then forwards to the original destination until either
    /// side closes or a policy update revokes the access.
    async fn forward<S>(
        &self,
        conn: Conn,
        down: S,
        current: Option<Arc<InboundPolicyUpdate>>,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Conn {
            client,
            dst,
            mut policy,
        } = conn;
        let decision = match &current {
            Some(p) => authz::connection(p, &client, false),
            None => Decision::Deny {
                reason: deny_reason::POLICY_UNAVAILABLE,
            },
        };
        self.metrics
            .authz(dst.port(), &client.label(), decision.verdict());
        match &decision {
            Decision::Deny { reason } => {
                tracing::info!(?client, port = dst.port(), reason, "denied");
                if let Some(p) = &current {
                    tracing::debug!(considered = ?authz::considered(p), "denied connection");
                }
                return Ok(());
            }
            Decision::Allow { by } => tracing::debug!(?client, by = &**by, "allowed"),
        }
        let mut app = self.connect(dst).await?;
        let tcp = self.metrics.tcp(PeerLabels {
            direction: Direction::Inbound,
            peer: client.label(),
            service: no_label(),
            port: dst.port(),
        });
        let activity = Activity::new();
        let mut down = Watched::new(down, activity.clone());
        let idle = activity.idle_for(self.limits.tcp_idle);
        tokio::pin!(idle);
        let copy = crate::copy::bidirectional(&mut down, &mut app);
        tokio::pin!(copy);
        let mut watching = true;
        loop {
            tokio::select! {
                r = &mut copy => {
                    return match r {
                        Ok((received, sent)) => {
                            tcp.bytes(received, sent);
                            Ok(())
                        }
                        Err(e) if late::LateHttp::is(&e) => {
                            tracing::info!(?client, port = dst.port(), "{e}");
                            self.metrics.refused(Direction::Inbound, refusal::LATE_HTTP);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    };
                }
                () = &mut idle => {
                    tracing::info!(?client, port = dst.port(), "idle past the TCP idle timeout; closing");
                    self.metrics.refused(Direction::Inbound, refusal::TCP_IDLE);
                    return Ok(());
                }
                changed = policy.changed(), if watching => {
                    if changed.is_err() {
                        watching = false;
                        continue;
                    }
                    let latest = policy.borrow_and_update().clone();
                    if let Some(p) = latest
                        && let Decision::Deny { reason } = authz::connection(&p, &client, false)
                    {
                        tracing::info!(?client, port = dst.port(), reason, "access revoked; closing");
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        crate::net::connect(addr, self.connect_timeout).await
    }
}

/// This pod's calls to itself through a Service, from the outbound side
/// ([`crate::outbound::dial`]): served like a connection from the network,
/// within the same connection limit.
impl LocalInbound for Inbound {
    fn accept(self: Arc<Self>, io: DuplexStream, dst: SocketAddr) {
        let Ok(permit) = self.room.clone().try_acquire_owned() else {
            tracing::debug!(%dst, "inbound connection limit reached; closing a call to ourselves");
            self.metrics
                .refused(Direction::Inbound, refusal::CONNECTION_LIMIT);
            return;
        };
        let guard = self.tracker.track();
        tokio::spawn(async move {
            let _guard = (guard, permit);
            // The pod calls itself: its own address is the peer's too.
            let peer = SocketAddr::new(dst.ip(), 0);
            let span = tracing::debug_span!("inbound", %peer, %dst, local = true);
            if let Err(error) = self.handle(io, peer, dst).instrument(span.clone()).await {
                span.in_scope(|| tracing::info!(%error, "inbound connection failed"));
            }
        });
    }
}

/// Whether the client closes without sending a byte within the detection
/// timeout (data, or silence, mean the connection goes on).
async fn closes_silently(sock: &TcpStream) -> bool {
    let mut one = [0u8; 1];
    matches!(
        tokio::time::timeout(detect::TIMEOUT, sock.peek(&mut one)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// The port's policy, waiting up to `wait` for the controller's first
/// answer.
async fn first_policy(rx: &mut PortPolicy, wait: Duration) -> Option<Arc<InboundPolicyUpdate>> {
    match tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await {
        Ok(Ok(v)) => v.clone(),
        _ => None,
    }
}
