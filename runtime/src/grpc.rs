//! gRPC channels to the control plane, and following a server stream
//! through failures with backoff.
//!
//! Channels are lazy: they connect on first use and reconnect on demand, so a
//! control-plane restart never needs a process restart. The connector decides
//! how bytes reach the server; weft passes one that does mesh TLS and checks
//! the server's SPIFFE id (see weft-tls), so this module has no TLS of its own.

use crate::backoff::Backoff;
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

/// What a stream's follower does after a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Read the next message.
    Continue,
    /// The message cannot be applied: subscribe again (for a fresh snapshot).
    Resubscribe,
    /// Nobody needs the stream any more.
    Stop,
}

/// A server stream's messages: tonic's `Streaming`, or a test's script.
pub trait Messages<M> {
    fn message(&mut self) -> impl Future<Output = Result<Option<M>, tonic::Status>> + Send;
}

impl<M: Send + 'static> Messages<M> for tonic::Streaming<M> {
    fn message(&mut self) -> impl Future<Output = Result<Option<M>, tonic::Status>> + Send {
        tonic::Streaming::message(self)
    }
}

/// Follows a server stream for as long as it is needed: subscribes with
/// `subscribe`, hands each message to `on_message`, and subscribes again
/// after the stream ends or fails (or `on_message` asks), waiting with
/// backoff between attempts; a message that is applied resets the backoff.
/// Returns when `on_message` says [`Next::Stop`]; to stop it from outside,
/// drop the future. Logs in the caller's span.
pub async fn follow<M, S, F, Fut>(
    backoff: Backoff,
    mut subscribe: F,
    mut on_message: impl FnMut(M) -> Next,
) where
    S: Messages<M>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<S, tonic::Status>>,
{
    let mut attempts = backoff.start();
    loop {
        match subscribe().await {
            Ok(mut stream) => loop {
                match stream.message().await {
                    Ok(Some(msg)) => match on_message(msg) {
                        Next::Continue => attempts.reset(),
                        Next::Resubscribe => break,
                        Next::Stop => return,
                    },
                    Ok(None) => {
                        tracing::info!("the stream ended; subscribing again");
                        break;
                    }
                    Err(status) => {
                        tracing::info!(%status, "the stream failed; subscribing again");
                        break;
                    }
                }
            },
            Err(status) => tracing::info!(%status, "cannot subscribe yet; retrying"),
        }
        attempts.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::{collections::VecDeque, sync::Mutex};
    use tonic::Status;

    /// A scripted stream: its messages, then its end (`None`: closed).
    struct Script(VecDeque<u32>, Option<Status>);

    impl Messages<u32> for Script {
        async fn message(&mut self) -> Result<Option<u32>, Status> {
            match self.0.pop_front() {
                Some(m) => Ok(Some(m)),
                None => self.1.take().map_or(Ok(None), Err),
            }
        }
    }

    fn no_jitter() -> Backoff {
        Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.0,
        }
    }

    /// Subscriptions answered in turn from `outcomes`, each at the time
    /// since the start it was made.
    async fn run(
        outcomes: Vec<Result<Script, Status>>,
        mut on_message: impl FnMut(u32) -> Next,
    ) -> Vec<Duration> {
        let t0 = tokio::time::Instant::now();
        let outcomes = Mutex::new(VecDeque::from(outcomes));
        let at = Mutex::new(Vec::new());
        follow(
            no_jitter(),
            || {
                at.lock().unwrap().push(t0.elapsed());
                let next = outcomes.lock().unwrap().pop_front();
                async move { next.expect("subscribed more often than scripted") }
            },
            &mut on_message,
        )
        .await;
        at.into_inner().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_and_an_applied_message_resets_the_backoff() {
        let down = || Err(Status::unavailable("down"));
        let mut seen = Vec::new();
        let at = run(
            vec![
                down(),
                down(),
                Ok(Script([1].into(), Some(Status::internal("reset")))),
                down(),
                Ok(Script([2, 3].into(), None)),
                Ok(Script([4].into(), None)),
            ],
            |m| {
                seen.push(m);
                if m == 4 { Next::Stop } else { Next::Continue }
            },
        )
        .await;
        assert_eq!(seen, [1, 2, 3, 4]);
        let ms = |n| Duration::from_millis(n);
        // 100, 200; reset by message 1: 100, 200; reset by 2 and 3: 100.
        assert_eq!(at, [ms(0), ms(100), ms(300), ms(400), ms(600), ms(700)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_that_cannot_be_applied_subscribes_again() {
        let mut seen = Vec::new();
        let at = run(
            vec![
                Ok(Script([1, 2].into(), None)),
                Ok(Script([3].into(), None)),
            ],
            |m| {
                seen.push(m);
                match m {
                    1 => Next::Resubscribe,
                    _ => Next::Stop,
                }
            },
        )
        .await;
        // Message 2 was never read: the stream was left after 1.
        assert_eq!(seen, [1, 3]);
        assert_eq!(at, [Duration::ZERO, Duration::from_millis(100)]);
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
