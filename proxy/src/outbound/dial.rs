//! Opening mesh links, this pod's own endpoints included.
//!
//! Kubernetes balances a Service over every ready endpoint, the caller's
//! own pod among them, and so does weft. That endpoint cannot be dialled:
//! the proxy's own connections skip the pod's redirect rules, so its own
//! address would reach the app directly and bypass the pod's inbound
//! policy. Instead the link runs over an in-memory pipe whose far end this
//! proxy's inbound side accepts like any mesh connection: mesh TLS, the
//! port's authorization and the verified client id all apply, and nothing
//! is redirected, so nothing can loop.

use crate::{
    local::LocalInbound,
    mesh::{self, LinkError},
    metrics::Metrics,
};
use std::{
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::client::TlsStream;
use weft_tls::{MeshTls, SpiffeId};

/// Bytes a pipe to ourselves holds in each direction before a writer waits
/// (a TCP socket's buffer is of the same order).
const PIPE_BUFFER: usize = 64 * 1024;

/// What a mesh link runs over.
#[derive(Debug)]
pub enum Transport {
    Tcp(TcpStream),
    /// To this pod's own inbound side.
    Pipe(DuplexStream),
}

/// A mesh link.
pub type Link = TlsStream<Transport>;

/// Opens mesh links, to other pods over TCP and to this one over a pipe.
#[derive(Clone)]
pub struct Dialer {
    pub tls: MeshTls,
    /// The pod's own addresses.
    pub own_ips: Arc<[IpAddr]>,
    /// `None` only where no inbound side runs (benchmarks, some tests): an
    /// own endpoint then cannot be reached.
    pub local: Option<Arc<dyn LocalInbound>>,
    /// For the TCP connect and for the handshake, each.
    pub timeout: Duration,
    pub metrics: Metrics,
}

impl Dialer {
    /// Whether `addr` is this pod.
    pub fn is_own(&self, addr: SocketAddr) -> bool {
        self.own_ips.contains(&addr.ip())
    }

    /// Whether a meshed endpoint at `addr` can be linked to.
    pub fn reaches(&self, addr: SocketAddr) -> bool {
        self.local.is_some() || !self.is_own(addr)
    }

    /// A mesh link to the proxy at `addr`, which must prove `id`.
    pub async fn mesh(&self, addr: SocketAddr, id: &SpiffeId) -> Result<Link, LinkError> {
        let io = match (&self.local, self.is_own(addr)) {
            (Some(local), true) => {
                let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
                local.clone().accept(theirs, addr);
                Transport::Pipe(ours)
            }
            (None, true) => {
                return Err(LinkError::Connect(io::Error::other(format!(
                    "{addr} is this pod, and no inbound side runs here"
                ))));
            }
            (_, false) => Transport::Tcp(
                crate::net::connect(addr, self.timeout)
                    .await
                    .map_err(LinkError::Connect)?,
            ),
        };
        mesh::handshake(&self.tls, io, addr, id, self.timeout, &self.metrics).await
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Pipe(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Pipe(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Pipe(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(s) => s.is_write_vectored(),
            Transport::Pipe(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Pipe(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Pipe(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
