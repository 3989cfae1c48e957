//! The mesh link: mTLS between two proxies, with ALPN `weft/1` and the exact
//! SPIFFE id each side must prove. The client's proxy opens it
//! ([`connect`]); the server's proxy accepts it ([`accept`]) and learns who
//! the client is from its verified certificate, never from what it says.

use crate::metrics::{Direction, Metrics};
use std::{io, net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_rustls::{client, server};
use weft_tls::{MeshTls, SpiffeId};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The TCP connection (the message says which address and why).
    #[error(transparent)]
    Connect(io::Error),
    #[error("mesh TLS handshake timed out")]
    Timeout,
    #[error(transparent)]
    Handshake(io::Error),
    #[error("mesh client without a SPIFFE id")]
    NoPeerId,
}

/// A mesh link to the proxy at `addr`, which must prove `id`; the connect
/// and the handshake each get `timeout`.
pub async fn connect(
    tls: &MeshTls,
    addr: SocketAddr,
    id: &SpiffeId,
    timeout: Duration,
    metrics: &Metrics,
) -> Result<client::TlsStream<TcpStream>, LinkError> {
    let tcp = crate::net::connect(addr, timeout)
        .await
        .map_err(LinkError::Connect)?;
    handshake(tls, tcp, addr, id, timeout, metrics).await
}

/// The client side of a mesh link to the proxy at `addr` over `io`, which
/// must prove `id`; the handshake gets `timeout`.
pub async fn handshake<IO>(
    tls: &MeshTls,
    io: IO,
    addr: SocketAddr,
    id: &SpiffeId,
    timeout: Duration,
    metrics: &Metrics,
) -> Result<client::TlsStream<IO>, LinkError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let handshake = tokio_rustls::TlsConnector::from(tls.mesh_client_config(id)).connect(name, io);
    finish(tokio::time::timeout(timeout, handshake).await)
        .inspect_err(|_| metrics.tls_failed(Direction::Outbound))
}

/// The server side of a mesh link on `io` (whose first bytes, the
/// ClientHello, were already read and are replayed by `io`), with the
/// client's verified id; the handshake gets `timeout`.
pub async fn accept<IO>(
    tls: &MeshTls,
    io: IO,
    timeout: Duration,
    metrics: &Metrics,
) -> Result<(server::TlsStream<IO>, SpiffeId), LinkError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.mesh_server_config());
    let stream = finish(tokio::time::timeout(timeout, acceptor.accept(io)).await)
        .inspect_err(|_| metrics.tls_failed(Direction::Inbound))?;
    let id = weft_tls::peer_id(stream.get_ref().1).ok_or(LinkError::NoPeerId)?;
    Ok((stream, id))
}

fn finish<T>(r: Result<io::Result<T>, tokio::time::error::Elapsed>) -> Result<T, LinkError> {
    match r {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(LinkError::Handshake(e)),
        Err(_) => Err(LinkError::Timeout),
    }
}
