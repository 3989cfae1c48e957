//! The server side of a TLS handshake as every weft listener does it:
//! bounded in time, a failure logged for the operator and the connection
//! dropped, never an error that ends the accept loop.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, server::TlsStream};

/// How long a client may take to complete the TLS handshake; a client that
/// opens a connection and says nothing holds it no longer than this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The handshake with `io`, or `None` (logged at debug, in the caller's
/// span) when it fails or takes longer than [`HANDSHAKE_TIMEOUT`].
pub async fn handshake<IO>(acceptor: &TlsAcceptor, io: IO) -> Option<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out");
            None
        }
    }
}
