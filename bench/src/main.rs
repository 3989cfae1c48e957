//! `weft-bench`: the tools `make bench` (bench/run.py) needs that Debian does
//! not ship. Each subcommand prints one JSON object on stdout when it ends,
//! so the orchestrator parses results without scraping text.

mod churn;
mod grpc;
mod idle;
mod latency;
mod rate;
mod splice;

use clap::{Parser, Subcommand};
use std::{net::SocketAddr, time::Duration};

#[derive(Parser)]
#[command(about = "make bench's own tools (see docs/benchmarks.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The `splice` slot: accept on each LISTEN address and copy bytes to the
    /// connection's original destination (SO_ORIGINAL_DST), nothing else.
    Splice {
        #[arg(required = true)]
        listen: Vec<SocketAddr>,
    },
    /// gRPC unary echo server (HTTP/2 cleartext) on LISTEN.
    GrpcServer { listen: SocketAddr },
    /// gRPC unary load: CONCURRENCY calls in flight on one HTTP/2
    /// connection for SECONDS.
    GrpcLoad {
        target: SocketAddr,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, default_value_t = 128)]
        payload: usize,
        /// Stop after this many calls (within SECONDS).
        #[arg(long)]
        requests: Option<u64>,
    },
    /// COUNT connections one after another, each carrying one GET with
    /// `Connection: close` and read to its end: a fixed amount of
    /// connection churn.
    Churn {
        target: SocketAddr,
        #[arg(long, default_value = "/1k")]
        path: String,
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
    },
    /// Open-loop HTTP GETs at a fixed RATE per second for SECONDS;
    /// latency counts from each request's scheduled time.
    Rate {
        target: SocketAddr,
        #[arg(long, default_value = "/1k")]
        path: String,
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// `desync`: exponential gaps (independent arrivals); `burst`: every
        /// 10 ms, the period's requests all at once.
        #[arg(long, default_value = "desync")]
        arrivals: rate::Arrivals,
        /// HTTP/2 cleartext (prior knowledge): every request a stream on one
        /// connection.
        #[arg(long)]
        http2: bool,
    },
    /// Opens COUNT keep-alive connections (one GET each), prints a line
    /// `ready N` on stderr, then holds them until SIGTERM or for HOLD
    /// seconds.
    Idle {
        target: SocketAddr,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        #[arg(long, default_value_t = 30.0)]
        hold: f64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: each slot and load tool gets one CPU, like the proxies.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async move {
        match cli.cmd {
            Cmd::Splice { listen } => splice::run(listen).await,
            Cmd::GrpcServer { listen } => grpc::serve(listen).await,
            Cmd::GrpcLoad {
                target,
                concurrency,
                seconds,
                payload,
                requests,
            } => grpc::load(target, concurrency, secs(seconds)?, payload, requests).await,
            Cmd::Churn {
                target,
                path,
                count,
                seconds,
            } => churn::run(target, &path, count, secs(seconds)?).await,
            Cmd::Rate {
                target,
                path,
                rate,
                seconds,
                arrivals,
                http2,
            } => rate::run(target, &path, rate, secs(seconds)?, arrivals, http2).await,
            Cmd::Idle {
                target,
                count,
                hold,
            } => idle::run(target, count, secs(hold)?).await,
        }
    })?;
    println!("{out}");
    Ok(())
}

/// Every load is bounded: at most an hour, never negative.
fn secs(s: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        s.is_finite() && s > 0.0 && s <= 3600.0,
        "durations must be between 0 and 3600 seconds, got {s}"
    );
    Ok(Duration::from_secs_f64(s))
}
