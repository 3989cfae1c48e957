//! gRPC channels to the control plane, and retries with backoff.
//!
//! Channels are lazy: they connect on first use and reconnect on demand, so a
//! control-plane restart never needs a process restart. The connector decides
//! how bytes reach the server; weft passes one that does mesh TLS and checks
//! the server's SPIFFE id (see weft-tls), so this module has no TLS of its own.

use crate::{backoff::Backoff, shutdown};
use http::Uri;
use std::{future::Future, time::Duration};
use tonic::transport::{Channel, Endpoint};

/// Timeouts and keep-alives for a control-plane channel.
#[derive(Clone, Debug)]
pub struct ChannelConfig {
    pub connect_timeout: Duration,
    /// HTTP/2 PINGs detect a dead server behind a silent network.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid control-plane address {addr:?}: {reason}")]
    Address { addr: String, reason: String },
}

/// A lazily connecting channel to `addr` (`host:port`) through `connector`.
pub fn lazy_channel<C>(addr: &str, cfg: &ChannelConfig, connector: C) -> Result<Channel, Error>
where
    C: tower::Service<Uri> + Send + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Send + Unpin,
    C::Future: Send,
    C::Error: std::error::Error + Send + Sync + 'static,
{
    // The scheme only tells tonic how to frame requests; the connector does
    // the TLS, so `http` here does not mean plaintext on the wire.
    let uri = format!("http://{addr}");
    let endpoint = Endpoint::from_shared(uri).map_err(|e| Error::Address {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    Ok(endpoint
        .connect_timeout(cfg.connect_timeout)
        .http2_keep_alive_interval(cfg.keepalive_interval)
        .keep_alive_timeout(cfg.keepalive_timeout)
        .keep_alive_while_idle(true)
        .connect_with_connector_lazy(connector))
}

/// Calls `attempt` until it succeeds or shutdown starts, waiting with
/// jittered exponential backoff between failures. Returns `None` on shutdown.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    backoff: &Backoff,
    stop: &shutdown::Signal,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut attempts = backoff.start();
    loop {
        if stop.is_triggered() {
            return None;
        }
        match attempt().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(%what, error = %e, attempt = attempts.attempt() + 1, "failed; retrying");
                tokio::select! {
                    _ = attempts.wait() => {}
                    _ = stop.clone().wait() => return None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retry_backs_off_until_success() {
        let (_t, stop) = shutdown::channel();
        let calls = AtomicU32::new(0);
        let b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.0,
        };
        let t0 = tokio::time::Instant::now();
        let v = retry("test", &b, &stop, || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < 3 { Err("not yet") } else { Ok(n) }
        })
        .await;
        assert_eq!(v, Some(3));
        // 100 + 200 + 400 ms of backoff before the fourth call.
        assert_eq!(t0.elapsed(), Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_gives_up_on_shutdown() {
        let (trigger, stop) = shutdown::channel();
        let b = Backoff::default();
        let task = tokio::spawn(async move {
            retry("test", &b, &stop, || async { Err::<(), _>("down") }).await
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        trigger.trigger();
        assert_eq!(task.await.unwrap(), None);
    }

    #[tokio::test]
    async fn bad_addresses_are_refused_with_the_address() {
        let connector = tower::service_fn(|_: Uri| async {
            Err::<hyper_util::rt::TokioIo<tokio::net::TcpStream>, std::io::Error>(
                std::io::Error::other("unused"),
            )
        });
        let err = lazy_channel("bad host:x", &ChannelConfig::default(), connector).unwrap_err();
        assert!(err.to_string().contains("bad host:x"), "{err}");
    }
}
