//! One multiplexed HTTP/2 connection per destination, shared by every
//! request to it and replaced when it closes. Requests that arrive while it
//! is being opened wait for it rather than opening their own.

use super::{Io, body::Body};
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::io::{AsyncRead, AsyncWrite};

/// Pings an idle connection this often, and drops it when a ping goes
/// unanswered for [`PING_TIMEOUT`]: a peer that vanished is noticed before a
/// request waits on it.
const PING_INTERVAL: Duration = Duration::from_secs(20);
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Closed entries are swept once the map is bigger than this.
const SWEEP_ABOVE: usize = 64;

type Slot = Arc<tokio::sync::Mutex<Option<SendRequest<Body>>>>;

pub struct H2Pool<K> {
    conns: Mutex<HashMap<K, Slot>>,
}

impl<K> Default for H2Pool<K> {
    fn default() -> Self {
        Self {
            conns: Mutex::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("{0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("HTTP/2 handshake: {0}")]
    Handshake(#[source] hyper::Error),
}

impl<K: Hash + Eq + Clone> H2Pool<K> {
    /// A sender on the open connection to `key`, opening one with `connect`
    /// when there is none (or it has closed).
    pub async fn get<F, Fut, IO, E>(
        &self,
        key: &K,
        connect: F,
    ) -> Result<SendRequest<Body>, PoolError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IO, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let slot = {
            let mut conns = self.conns.lock().expect("pool lock");
            if conns.len() > SWEEP_ABOVE {
                conns.retain(|_, s| {
                    s.try_lock()
                        .map_or(true, |s| s.as_ref().is_some_and(|s| !s.is_closed()))
                });
            }
            conns.entry(key.clone()).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(s.clone());
        }
        // Opening a connection (a TLS handshake, an HTTP/2 handshake) is
        // rare and its futures are large: boxed, they stay out of the
        // future of every request that finds the connection open, which
        // is moved whole each time a request's task is spawned.
        let io = Box::pin(connect())
            .await
            .map_err(|e| PoolError::Connect(e.into()))?;
        let send = Box::pin(handshake(Box::new(io))).await?;
        *slot = Some(send.clone());
        Ok(send)
    }
}

/// HTTP/2's handshake on `io`, its connection driven by a task of its own.
async fn handshake(io: Box<dyn Io>) -> Result<SendRequest<Body>, PoolError> {
    let (send, conn) = Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(PING_INTERVAL)
        .keep_alive_timeout(PING_TIMEOUT)
        .handshake(TokioIo::new(io))
        .await
        .map_err(PoolError::Handshake)?;
    tokio::spawn(async move {
        if let Err(error) = conn.await {
            tracing::debug!(%error, "pooled HTTP/2 connection ended");
        }
    });
    Ok(send)
}
