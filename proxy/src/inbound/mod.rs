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
    detect,
    error::ProxyError,
    mesh,
    metrics::{Direction, Metrics, PeerLabels},
    net::original_dst,
    prefixed::Prefixed,
    sniff::offers,
    tracker::Tracker,
};
use bytes::Bytes;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
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
    pub policies: Arc<Policies>,
    /// How long a connection waits for its port's first policy before it is
    /// refused (`policy-unavailable`).
    pub policy_wait: Duration,
    pub connect_timeout: Duration,
    pub tracker: Tracker,
    pub http: Arc<HttpServer>,
    pub metrics: Metrics,
}

impl Inbound {
    /// Accepts until `stop` (new connections stop; open ones continue).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: shutdown::Signal) {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let mut incoming = Incoming::new(listener, stop, "inbound");
        while let Some((sock, peer)) = incoming.next().await {
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
                if dst.port() == port {
                    // Dialled at the proxy's own port: forwarding would loop.
                    tracing::debug!(%peer, "a direct connection to the inbound port; closing");
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
        mut sock: TcpStream,
        peer: SocketAddr,
        dst: SocketAddr,
    ) -> Result<(), ProxyError> {
        let _ = sock.set_nodelay(true);
        let mut policy = self.policies.watch(dst.port());
        let current = first_policy(&mut policy, self.policy_wait).await;
        // Opaque ports are never inspected past telling mesh TLS apart.
        let opaque = current
            .as_ref()
            .is_some_and(|p| p.protocol() == Protocol::Opaque);
        let first = detect::read(&mut sock, detect::TIMEOUT, opaque).await?;
        if first.protocol == detect::Protocol::Tls && offers(&first.prefix, alpn::MESH) {
            let link = Prefixed::new(first.prefix, sock);
            let (mut tls, id) =
                mesh::accept(&self.tls, link, self.connect_timeout, &self.metrics).await?;
            let client = Client::Mesh(id);
            tracing::debug!(?client, "inbound mesh connection");
            let (protocol, inner) = if opaque {
                (detect::Protocol::Opaque, Bytes::new())
            } else {
                let d = detect::read(&mut tls, detect::TIMEOUT, false).await?;
                (d.protocol, d.prefix)
            };
            self.dispatch(
                client,
                dst,
                Prefixed::new(inner, tls),
                protocol,
                current,
                policy,
            )
            .await
        } else {
            let client = Client::Unauthenticated(peer);
            tracing::debug!(?client, "inbound connection");
            let stream = Prefixed::new(first.prefix, sock);
            self.dispatch(client, dst, stream, first.protocol, current, policy)
                .await
        }
    }

    /// HTTP is served request by request; everything else is authorized
    /// once and forwarded as bytes.
    async fn dispatch<S>(
        &self,
        client: Client,
        dst: SocketAddr,
        stream: S,
        protocol: detect::Protocol,
        current: Option<Arc<InboundPolicyUpdate>>,
        policy: PortPolicy,
    ) -> Result<(), ProxyError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        if protocol.is_http() {
            tracing::debug!(?client, ?protocol, "serving HTTP");
            let conn = Conn {
                client,
                dst,
                policy,
            };
            return Ok(self.http.clone().serve(stream, protocol, conn).await?);
        }
        Ok(self.forward(client, dst, stream, current, policy).await?)
    }

    /// Authorizes, then forwards to the original destination until either
    /// side closes or a policy update revokes the access.
    async fn forward<S>(
        &self,
        client: Client,
        dst: SocketAddr,
        mut down: S,
        current: Option<Arc<InboundPolicyUpdate>>,
        mut policy: PortPolicy,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
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
            Decision::Allow { by } => tracing::debug!(?client, by, "allowed"),
        }
        let mut app = self.connect(dst).await?;
        let tcp = self.metrics.tcp(PeerLabels {
            direction: Direction::Inbound,
            peer: client.label(),
            service: String::new(),
            port: dst.port(),
        });
        let copy = tokio::io::copy_bidirectional(&mut down, &mut app);
        tokio::pin!(copy);
        let mut watching = true;
        loop {
            tokio::select! {
                r = &mut copy => {
                    let (received, sent) = r?;
                    tcp.bytes(received, sent);
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

/// The port's policy, waiting up to `wait` for the controller's first
/// answer.
async fn first_policy(rx: &mut PortPolicy, wait: Duration) -> Option<Arc<InboundPolicyUpdate>> {
    match tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await {
        Ok(Ok(v)) => v.clone(),
        _ => None,
    }
}
