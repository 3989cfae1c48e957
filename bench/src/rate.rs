//! Open-loop HTTP/1.1 load at a fixed rate, the way real callers arrive:
//! requests start on schedule whether or not earlier ones finished, and each
//! latency counts from the scheduled start (no coordinated omission). wrk2,
//! which does this, is not in Debian.

use crate::latency;
use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::SendRequest;
use rand::Rng as _;
use serde_json::json;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Arrivals {
    /// Independent arrivals: exponential gaps (a Poisson process).
    Desync,
    /// Synchronised bursts: each 10 ms period's requests start together.
    Burst,
}

/// Keep-alive connections the load may open; beyond this, requests wait
/// for a free one (and the wait counts in their latency).
const MAX_CONNECTIONS: usize = 256;
/// Opened before the clock starts, so connection setup is not measured.
const WARM_CONNECTIONS: usize = 16;

type Conn = SendRequest<Empty<Bytes>>;

struct Pool {
    target: SocketAddr,
    /// HTTP/2: one connection, every request a stream on it.
    h2: Option<hyper::client::conn::http2::SendRequest<Empty<Bytes>>>,
    free: Mutex<Vec<Conn>>,
    opened: std::sync::atomic::AtomicUsize,
    slots: tokio::sync::Semaphore,
}

impl Pool {
    async fn open(&self) -> anyhow::Result<Conn> {
        let s = tokio::net::TcpStream::connect(self.target)
            .await
            .with_context(|| format!("connecting to {}", self.target))?;
        s.set_nodelay(true)?;
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s)).await?;
        tokio::spawn(conn);
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(send)
    }

    async fn get(&self, path: &str) -> anyhow::Result<()> {
        let req = http::Request::get(path)
            .header(http::header::HOST, "bench")
            .body(Empty::new())?;
        if let Some(h2) = &self.h2 {
            // HTTP/2 carries the scheme and authority as pseudo-headers.
            let req =
                http::Request::get(format!("http://{}{path}", self.target)).body(Empty::new())?;
            let mut h2 = h2.clone();
            h2.ready().await?;
            let resp = h2.send_request(req).await?;
            anyhow::ensure!(resp.status().is_success(), "status {}", resp.status());
            resp.into_body().collect().await?;
            return Ok(());
        }
        let _permit = self.slots.acquire().await?;
        let reused = self.free.lock().unwrap().pop();
        let mut conn = match reused {
            Some(c) if !c.is_closed() => c,
            _ => self.open().await?,
        };
        conn.ready().await?;
        let resp = conn.send_request(req).await?;
        anyhow::ensure!(resp.status().is_success(), "status {}", resp.status());
        resp.into_body().collect().await?;
        self.free.lock().unwrap().push(conn);
        Ok(())
    }
}

pub async fn run(
    target: SocketAddr,
    path: &str,
    rate: u32,
    run_for: Duration,
    arrivals: Arrivals,
    http2: bool,
) -> anyhow::Result<String> {
    anyhow::ensure!(rate > 0 && rate <= 100_000, "rate must be 1..=100000");
    let h2 = if http2 {
        let s = tokio::net::TcpStream::connect(target)
            .await
            .with_context(|| format!("connecting to {target}"))?;
        s.set_nodelay(true)?;
        let (send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(s),
        )
        .await?;
        tokio::spawn(conn);
        Some(send)
    } else {
        None
    };
    let pool = Arc::new(Pool {
        target,
        h2,
        free: Mutex::new(Vec::new()),
        opened: Default::default(),
        slots: tokio::sync::Semaphore::new(MAX_CONNECTIONS),
    });
    for _ in 0..if http2 { 0 } else { WARM_CONNECTIONS } {
        let c = pool.open().await?;
        pool.free.lock().unwrap().push(c);
    }
    let schedule = schedule(rate, run_for, arrivals);
    let total = schedule.len();
    let path: Arc<str> = path.into();
    let start = Instant::now() + Duration::from_millis(50);
    // tokio's timers tick in whole milliseconds, as coarse as the gaps being
    // measured; a plain thread sleeping with the kernel's high-resolution
    // timers releases each request on time and hands it to the runtime.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let pacer = std::thread::spawn(move || {
        for offset in schedule {
            let at = start + offset;
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            if tx.send(at).is_err() {
                break;
            }
        }
    });
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(at) = rx.recv().await {
        let (pool, path) = (pool.clone(), path.clone());
        tasks.spawn(async move {
            let r = tokio::time::timeout(Duration::from_secs(10), pool.get(&path)).await;
            match r {
                Ok(Ok(())) => Ok(at.elapsed()),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(_) => Err("no response within 10 s".to_string()),
            }
        });
    }
    pacer
        .join()
        .map_err(|_| anyhow::anyhow!("the pacing thread panicked"))?;
    let mut lat = Vec::with_capacity(total);
    let mut errors = 0u64;
    let mut first_error = None;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(d)) => lat.push(d),
            Ok(Err(e)) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let mut out = json!({
        "requests": lat.len(),
        "errors": errors,
        "connections": pool.opened.load(std::sync::atomic::Ordering::Relaxed) + usize::from(http2),
        "rate": rate,
        "first_error": first_error,
    });
    out.as_object_mut()
        .unwrap()
        .extend(latency::summary(lat).as_object().unwrap().clone());
    Ok(out.to_string())
}

/// Start offsets of every request, in order.
fn schedule(rate: u32, run_for: Duration, arrivals: Arrivals) -> Vec<Duration> {
    let total = (rate as f64 * run_for.as_secs_f64()).round() as usize;
    match arrivals {
        Arrivals::Desync => {
            let mut rng = rand::rng();
            let mut t = 0.0f64;
            (0..total)
                .map(|_| {
                    // Inverse-CDF draw of an exponential gap with mean 1/rate.
                    let u: f64 = rng.random();
                    t += -(1.0 - u).ln() / rate as f64;
                    Duration::from_secs_f64(t)
                })
                .collect()
        }
        Arrivals::Burst => {
            let period = Duration::from_millis(10);
            let per_burst = (rate as usize / 100).max(1);
            (0..total)
                .map(|i| period * (i / per_burst) as u32)
                .collect()
        }
    }
}
