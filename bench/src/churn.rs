//! A fixed number of short connections, one after another: each carries
//! one GET with `Connection: close` and is read until the server closes it.
//! Sequential on purpose, so the count of work each proxy does is the same
//! from run to run (the instruction counts in `make bench` rely on it).

use anyhow::Context as _;
use serde_json::json;
use std::{net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::Instant,
};

/// How long one connection may take, from connect to the server's close.
const PER_CONNECTION: Duration = Duration::from_secs(10);

async fn one(target: SocketAddr, request: &[u8]) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(target).await?;
    s.set_nodelay(true)?;
    s.write_all(request).await?;
    let mut got = Vec::with_capacity(2048);
    s.read_to_end(&mut got).await?;
    anyhow::ensure!(
        got.starts_with(b"HTTP/1.1 200"),
        "answer: {:?}",
        String::from_utf8_lossy(&got[..got.len().min(64)])
    );
    Ok(())
}

pub async fn run(
    target: SocketAddr,
    path: &str,
    count: usize,
    run_for: Duration,
) -> anyhow::Result<String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    let t0 = Instant::now();
    let deadline = t0 + run_for;
    let (mut done, mut errors) = (0usize, 0usize);
    let mut last_error = None;
    while done + errors < count && Instant::now() < deadline {
        match tokio::time::timeout(PER_CONNECTION, one(target, request.as_bytes())).await {
            Ok(Ok(())) => done += 1,
            Ok(Err(e)) => {
                errors += 1;
                last_error = Some(e.to_string());
            }
            Err(_) => {
                errors += 1;
                last_error = Some(format!("no close within {PER_CONNECTION:?}"));
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if done == 0 {
        return Err(anyhow::anyhow!("{}", last_error.unwrap_or_default()))
            .with_context(|| format!("no connection to {target} completed"));
    }
    Ok(json!({
        "requests": done,
        "errors": errors,
        "seconds": secs,
        "rps": done as f64 / secs,
        "last_error": last_error,
    })
    .to_string())
}
