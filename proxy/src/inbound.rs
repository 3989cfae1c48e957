//! The inbound path: connections to the pod, redirected to the inbound
//! listener. Mesh mTLS (recognised by its ALPN id) is terminated and its
//! client identity read; an app's own TLS and plaintext are unauthenticated
//! and pass as they came. Either way the bytes go to the **original
//! destination address** (the pod IP and port), dialled from the proxy's
//! UID so they are not redirected again, and never to localhost, so a
//! loopback-only listener stays private.

use crate::{
    net::original_dst,
    prefixed::Prefixed,
    sniff::{MAX_HELLO, Sniff, sniff},
    tracker::Tracker,
};
use bytes::{Bytes, BytesMut};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::AsyncReadExt as _,
    net::{TcpListener, TcpStream},
};
use tracing::Instrument as _;
use weft_api::contract::alpn;
use weft_runtime::shutdown;
use weft_tls::MeshTls;

/// How long a client may take to send its first bytes before the connection
/// is treated as a protocol the server speaks first.
pub const DETECT_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Inbound {
    pub tls: MeshTls,
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
        let first = read_hello(&mut sock).await?;
        if matches!(sniff(&first), Sniff::ClientHello { ref alpn } if alpn.iter().any(|p| p == alpn::MESH))
        {
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
            let mut app = self.connect(dst).await?;
            tokio::io::copy_bidirectional(&mut tls, &mut app).await?;
        } else {
            let client = Client::Unauthenticated(peer);
            tracing::debug!(?client, "inbound connection");
            let mut app = self.connect(dst).await?;
            let mut sock = Prefixed::new(first, sock);
            tokio::io::copy_bidirectional(&mut sock, &mut app).await?;
        }
        Ok(())
    }

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::other(format!("connecting to {addr} timed out")))??;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }
}

/// Reads until the first bytes can be classified, the client goes quiet
/// for [`DETECT_TIMEOUT`] (a server-speaks-first protocol), or a whole
/// ClientHello record is in.
async fn read_hello(sock: &mut TcpStream) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + DETECT_TIMEOUT;
    while sniff(&buf) == Sniff::NeedMore && buf.len() < MAX_HELLO {
        match tokio::time::timeout_at(deadline, sock.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(buf.freeze())
}
