//! Upgrades (WebSocket and the like) are not multiplexed: each gets its own
//! connection onward, speaking HTTP/1.1 end to end, and after `101` the two
//! sides become one byte stream. Both directions use this one handshake;
//! they differ only in what they connect to.

use super::{
    Io,
    body::{Body, boxed},
};
use crate::error::ProxyError;
use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite};

/// Sends the upgrade request `req` over `io`, already connected to the next
/// hop; on `101`, splices the requester's side and the next hop's until
/// either closes or `revoked` completes.
pub async fn forward<IO>(
    mut req: Request<Body>,
    io: IO,
    revoked: impl Future<Output = ()> + Send + 'static,
) -> Result<Response<Body>, ProxyError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let requester = hyper::upgrade::on(&mut req);
    let io: Box<dyn Io> = Box::new(io);
    let (mut send, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| ProxyError::Connect(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(error) = conn.with_upgrades().await {
            tracing::debug!(%error, "upgrade connection ended");
        }
    });
    let mut resp = send
        .send_request(req)
        .await
        .map_err(|e| ProxyError::Upstream(e.to_string()))?;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        tokio::spawn(splice(requester, hyper::upgrade::on(&mut resp), revoked));
    }
    Ok(resp.map(boxed))
}

/// Once both sides of an upgrade have switched, copies bytes between them
/// until either closes or `revoked` completes (both are then dropped,
/// closing them).
async fn splice(
    a: hyper::upgrade::OnUpgrade,
    b: hyper::upgrade::OnUpgrade,
    revoked: impl Future<Output = ()>,
) {
    let (a, b) = tokio::join!(a, b);
    match (a, b) {
        (Ok(a), Ok(b)) => {
            let (mut a, mut b) = (TokioIo::new(a), TokioIo::new(b));
            tokio::select! {
                r = crate::copy::bidirectional(&mut a, &mut b) => {
                    if let Err(error) = r {
                        tracing::debug!(%error, "upgraded stream ended");
                    }
                }
                () = revoked => {}
            }
        }
        (a, b) => tracing::debug!(a = a.is_ok(), b = b.is_ok(), "an upgrade did not complete"),
    }
}
