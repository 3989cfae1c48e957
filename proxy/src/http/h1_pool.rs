//! HTTP/1.1 connections to the app, kept open between requests, per
//! original destination.
//!
//! A pod has a handful of app ports, so destinations are found by a scan
//! rather than a hash, and a request costs a lock, a pop and a push. A
//! connection goes back to the pool once its response has been read to the
//! end and hyper says it can take another request; a connection the app
//! closed, or one whose response was abandoned half-read, is dropped.

use super::{Io, body::Body};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt as _;
use hyper::{
    body::{Frame, Incoming, SizeHint},
    client::conn::http1::{Builder, SendRequest},
};
use hyper_util::rt::TokioIo;
use std::{
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::Instant;

/// How long an unused connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Unused connections kept per destination; a burst's extra connections
/// are closed once it has passed.
const MAX_IDLE: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum H1Error {
    #[error("connecting to the app: {0}")]
    Connect(#[source] std::io::Error),
    #[error("HTTP/1.1 handshake: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("{0}")]
    Request(#[source] hyper::Error),
}

impl H1Error {
    pub fn is_connect(&self) -> bool {
        matches!(self, H1Error::Connect(_) | H1Error::Handshake(_))
    }
}

#[derive(Clone)]
pub struct H1Pool {
    inner: Arc<Inner>,
}

struct Inner {
    idle: Mutex<Vec<(SocketAddr, Vec<Idle>)>>,
    connect_timeout: Duration,
    /// Whether the task closing expired connections runs.
    sweeping: AtomicBool,
}

struct Idle {
    send: SendRequest<Body>,
    since: Instant,
}

impl Idle {
    fn usable(&self, now: Instant) -> bool {
        self.send.is_ready() && now.saturating_duration_since(self.since) < IDLE_TIMEOUT
    }
}

impl H1Pool {
    pub fn new(connect_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                idle: Mutex::default(),
                connect_timeout,
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// Sends `req` (its URI in origin form) to `dst` on an unused
    /// connection, else a new one. A request that an unused connection
    /// turned away unsent (the app had just closed it) is sent once more on
    /// a new connection.
    pub async fn send(
        &self,
        dst: SocketAddr,
        req: Request<Body>,
    ) -> Result<Response<Body>, H1Error> {
        let (mut send, reused) = match self.checkout(dst) {
            Some(send) => (send, true),
            None => (self.connect(dst).await?, false),
        };
        let resp = match send.try_send_request(req).await {
            Ok(resp) => resp,
            Err(mut e) => match e.take_message() {
                Some(req) if reused => {
                    send = self.connect(dst).await?;
                    send.send_request(req).await.map_err(H1Error::Request)?
                }
                _ => return Err(H1Error::Request(e.into_error())),
            },
        };
        let (parts, body) = resp.into_parts();
        let body = Returning {
            body,
            back: Some((self.clone(), dst, send)),
        };
        Ok(Response::from_parts(parts, body.boxed()))
    }

    fn checkout(&self, dst: SocketAddr) -> Option<SendRequest<Body>> {
        let now = Instant::now();
        let mut idle = self.inner.idle.lock().expect("pool lock");
        let (_, conns) = idle.iter_mut().find(|(a, _)| *a == dst)?;
        // The most recently used first: the others may expire unused.
        while let Some(c) = conns.pop() {
            if c.usable(now) {
                return Some(c.send);
            }
        }
        None
    }

    async fn connect(&self, dst: SocketAddr) -> Result<SendRequest<Body>, H1Error> {
        let tcp = crate::net::connect(dst, self.inner.connect_timeout)
            .await
            .map_err(H1Error::Connect)?;
        // Rare, and its future is large: boxed, it stays out of the future
        // of every request that finds a connection open.
        let io: Box<dyn Io> = Box::new(tcp);
        let (send, conn) = Box::pin(Builder::new().handshake(TokioIo::new(io)))
            .await
            .map_err(H1Error::Handshake)?;
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%error, "pooled HTTP/1.1 connection to the app ended");
            }
        });
        Ok(send)
    }

    /// Keeps `send` for the next request to `dst` once it can take one.
    fn put_back(&self, dst: SocketAddr, mut send: SendRequest<Body>) {
        if send.is_closed() {
            return;
        }
        if !send.is_ready() {
            // The connection has not yet finished with the response (it is
            // on another thread, or the body was left half-read, in which
            // case hyper closes it and `ready` fails). Without a runtime
            // (shutting down), it is dropped.
            let Ok(rt) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let pool = self.clone();
            rt.spawn(async move {
                if send.ready().await.is_ok() {
                    pool.keep(dst, send);
                }
            });
            return;
        }
        self.keep(dst, send);
    }

    fn keep(&self, dst: SocketAddr, send: SendRequest<Body>) {
        let entry = Idle {
            send,
            since: Instant::now(),
        };
        {
            let mut idle = self.inner.idle.lock().expect("pool lock");
            match idle.iter_mut().find(|(a, _)| *a == dst) {
                Some((_, conns)) if conns.len() < MAX_IDLE => conns.push(entry),
                Some(_) => {}
                None => idle.push((dst, vec![entry])),
            }
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current()
            && !self.inner.sweeping.swap(true, Ordering::Relaxed)
        {
            rt.spawn(sweep(Arc::downgrade(&self.inner)));
        }
    }

    /// Unused connections held now, for every destination.
    pub fn idle(&self) -> usize {
        let idle = self.inner.idle.lock().expect("pool lock");
        idle.iter().map(|(_, c)| c.len()).sum()
    }
}

/// Closes connections unused past [`IDLE_TIMEOUT`] (dropping the last
/// sender ends hyper's connection task), until the pool is gone.
async fn sweep(pool: Weak<Inner>) {
    loop {
        tokio::time::sleep(IDLE_TIMEOUT / 4).await;
        let Some(inner) = pool.upgrade() else { return };
        let now = Instant::now();
        let mut idle = inner.idle.lock().expect("pool lock");
        for (_, conns) in idle.iter_mut() {
            conns.retain(|c| c.usable(now));
        }
        idle.retain(|(_, conns)| !conns.is_empty());
    }
}

/// The app's response body, handing its connection back to the pool when
/// it ends or is dropped.
struct Returning {
    body: Incoming,
    back: Option<(H1Pool, SocketAddr, SendRequest<Body>)>,
}

impl Returning {
    fn give_back(&mut self) {
        if let Some((pool, dst, send)) = self.back.take() {
            pool.put_back(dst, send);
        }
    }
}

impl hyper::body::Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None | Some(Err(_))) = polled {
            this.give_back();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        self.give_back();
    }
}

#[cfg(test)]
mod tests;
