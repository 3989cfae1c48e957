//! Many idle keep-alive connections: each makes one GET (so every proxy on
//! the path has seen and classified it), then stays open doing nothing.
//! The orchestrator reads the proxies' memory while they are held.

use serde_json::json;
use std::{net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::Instant,
};

/// Connections opened at once.
const BATCH: usize = 200;

async fn one(target: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(target).await?;
    s.write_all(b"GET /1k HTTP/1.1\r\nHost: bench\r\n\r\n")
        .await?;
    // The 1 KB body plus headers; read until the body is complete.
    let mut got = Vec::with_capacity(2048);
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "closed before the response ended");
        got.extend_from_slice(&buf[..n]);
        if let Some(h) = got.windows(4).position(|w| w == b"\r\n\r\n")
            && got.len() >= h + 4 + 1024
        {
            return Ok(s);
        }
    }
}

pub async fn run(target: SocketAddr, count: usize, hold: Duration) -> anyhow::Result<String> {
    let t0 = Instant::now();
    let mut held = Vec::with_capacity(count);
    let mut errors = 0usize;
    while held.len() + errors < count {
        let n = BATCH.min(count - held.len() - errors);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            set.spawn(tokio::time::timeout(Duration::from_secs(10), one(target)));
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(Ok(s))) => held.push(s),
                _ => errors += 1,
            }
        }
        // Stop early rather than hammering a path that refuses; report what
        // is held (the orchestrator fails only if nothing is).
        if errors > count / 10 + 10 {
            eprintln!(
                "{errors} of {} connections to {target} failed; holding {}",
                held.len() + errors,
                held.len()
            );
            break;
        }
    }
    let opened_in = t0.elapsed();
    // The orchestrator waits for this line, then measures.
    eprintln!("ready {}", held.len());
    let until = Instant::now() + hold;
    // Hold until the orchestrator's SIGTERM, or the time runs out.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let _ = tokio::time::timeout_at(until, term.recv()).await;
    Ok(json!({
        "connections": held.len(),
        "errors": errors,
        "open_seconds": opened_in.as_secs_f64(),
    })
    .to_string())
}
