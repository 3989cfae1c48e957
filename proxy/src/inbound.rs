//! The inbound path: connections to the pod, redirected to the inbound
//! listener. Mesh mTLS (recognised by its ALPN id) is terminated and its
//! client identity read; an app's own TLS and plaintext are unauthenticated
//! and pass as they came. Either way the bytes go to the **original
//! destination address** (the pod IP and port), dialled from the proxy's
//! UID so they are not redirected again, and never to localhost, so a
//! loopback-only listener stays private.
//!
//! Each connection is authorized against its port's policy ([`authz`])
//! before anything reaches the app, and closed if a later policy update
//! revokes the access.

use crate::{
    authz::{self, Decision, looks_like_http},
    net::original_dst,
    policy::{Policies, PortPolicy},
    prefixed::Prefixed,
    sniff::{MAX_HELLO, Sniff, sniff},
    tracker::Tracker,
};
use bytes::{Bytes, BytesMut};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite},
    net::{TcpListener, TcpStream},
};
use tracing::Instrument as _;
use weft_api::{
    contract::{alpn, deny_reason},
    policy::{InboundPolicyUpdate, Protocol},
};
use weft_runtime::shutdown;
use weft_tls::MeshTls;

/// How long a client may take to send its first bytes before the connection
/// is treated as a protocol the server speaks first.
pub const DETECT_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Inbound {
    pub tls: MeshTls,
    pub policies: Arc<Policies>,
    /// How long a connection waits for its port's first policy before it is
    /// refused (`policy-unavailable`).
    pub policy_wait: Duration,
    pub connect_timeout: Duration,
    pub tracker: Tracker,
}

/// Who is on the other end of an inbound connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Client {
    Mesh(weft_tls::SpiffeId),
    Unauthenticated(SocketAddr),
}

impl Inbound {
    /// Accepts until `stop` (new connections stop; open ones continue).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: shutdown::Signal) {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let stopped = stop.wait();
        tokio::pin!(stopped);
        loop {
            let (sock, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(error) => {
                        tracing::warn!(%error, "inbound accept failed");
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
    ) -> std::io::Result<()> {
        let _ = sock.set_nodelay(true);
        let mut policy = self.policies.watch(dst.port());
        let current = first_policy(&mut policy, self.policy_wait).await;
        // Opaque ports are never inspected past telling mesh TLS apart.
        let opaque = current
            .as_ref()
            .is_some_and(|p| p.protocol() == Protocol::Opaque);
        let first = read_first(&mut sock, opaque).await?;
        let offers_mesh = matches!(sniff(&first), Sniff::ClientHello { ref alpn } if alpn.iter().any(|p| p == alpn::MESH));
        if offers_mesh {
            let acceptor = tokio_rustls::TlsAcceptor::from(self.tls.mesh_server_config());
            let mut tls = tokio::time::timeout(
                self.connect_timeout,
                acceptor.accept(Prefixed::new(first, sock)),
            )
            .await
            .map_err(|_| std::io::Error::other("mesh TLS handshake timed out"))??;
            let client = weft_tls::peer_id(tls.get_ref().1)
                .map(Client::Mesh)
                .ok_or_else(|| std::io::Error::other("mesh client without a SPIFFE id"))?;
            tracing::debug!(?client, "inbound mesh connection");
            let inner = if opaque {
                Bytes::new()
            } else {
                read_app_bytes(&mut tls).await?
            };
            let http = looks_like_http(&inner);
            self.forward(
                client,
                dst,
                Prefixed::new(inner, tls),
                http,
                current,
                policy,
            )
            .await
        } else {
            let client = Client::Unauthenticated(peer);
            tracing::debug!(?client, "inbound connection");
            let http = looks_like_http(&first);
            self.forward(
                client,
                dst,
                Prefixed::new(first, sock),
                http,
                current,
                policy,
            )
            .await
        }
    }

    /// Authorizes, then forwards to the original destination until either
    /// side closes or a policy update revokes the access.
    async fn forward<S>(
        &self,
        client: Client,
        dst: SocketAddr,
        mut down: S,
        http: bool,
        current: Option<Arc<InboundPolicyUpdate>>,
        mut policy: PortPolicy,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let decision = match &current {
            Some(p) => authz::connection(p, &client, http),
            None => Decision::Deny {
                reason: deny_reason::POLICY_UNAVAILABLE,
            },
        };
        match &decision {
            Decision::Deny { reason } => {
                tracing::info!(?client, port = dst.port(), reason, "denied");
                return Ok(());
            }
            Decision::Allow { by } => tracing::debug!(?client, by, "allowed"),
        }
        let mut app = self.connect(dst).await?;
        let copy = tokio::io::copy_bidirectional(&mut down, &mut app);
        tokio::pin!(copy);
        let mut watching = true;
        loop {
            tokio::select! {
                r = &mut copy => {
                    r?;
                    return Ok(());
                }
                changed = policy.changed(), if watching => {
                    if changed.is_err() {
                        watching = false;
                        continue;
                    }
                    let latest = policy.borrow_and_update().clone();
                    if let Some(p) = latest
                        && let Decision::Deny { reason } = authz::connection(&p, &client, http)
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

/// Enough of an HTTP request line to recognise one.
const HTTP_SNIFF: usize = 16;

/// Reads a connection's first bytes: a whole ClientHello record when it is
/// TLS; otherwise, unless the port is opaque, enough to recognise HTTP (a
/// request line split over segments must not pass for "not HTTP"). Stops
/// at [`DETECT_TIMEOUT`] for protocols where the server speaks first.
async fn read_first(sock: &mut TcpStream, opaque: bool) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + DETECT_TIMEOUT;
    loop {
        let enough = match sniff(&buf) {
            Sniff::NeedMore => false,
            Sniff::ClientHello { .. } => true,
            Sniff::NotTls => opaque || buf.len() >= HTTP_SNIFF || buf.contains(&b'\n'),
        };
        if enough || buf.len() >= MAX_HELLO {
            break;
        }
        match tokio::time::timeout_at(deadline, sock.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(buf.freeze())
}

/// The first bytes inside a mesh link, enough to recognise HTTP.
async fn read_app_bytes<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(256);
    let deadline = tokio::time::Instant::now() + DETECT_TIMEOUT;
    while buf.len() < HTTP_SNIFF && !buf.contains(&b'\n') {
        match tokio::time::timeout_at(deadline, s.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(buf.freeze())
}
