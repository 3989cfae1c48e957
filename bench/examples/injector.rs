//! Benchmark (not a test): AdmissionReviews per second and latency
//! percentiles over HTTPS, for weft-injector's real router and TLS stack,
//! against a baseline measured in the same run: the same TLS and HTTP/2
//! stack answering a fixed body without decoding or patching anything.
//!
//! `make bench-injector` (or `cargo run --release -p weft-bench --example
//! injector -- [seconds] [connections]`). Loopback only; bounded in time and
//! in requests.

use axum::{Router, routing::post};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::time::Instant;
use weft_api::contract::annotations as a;
use weft_injector::{InjectConfig, NamespaceMeta, review::Namespaces, server};
use weft_runtime::shutdown;

/// Hard cap on requests per mode, whatever the duration.
const MAX_REQUESTS: usize = 2_000_000;

struct Enabled;

impl Namespaces for Enabled {
    async fn get(&self, name: &str) -> Result<NamespaceMeta, String> {
        Ok(NamespaceMeta {
            name: name.into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::from([(a::INJECT.into(), a::INJECT_ENABLED.into())]),
        })
    }
}

fn review_body() -> Bytes {
    Bytes::from(
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "00000000-0000-0000-0000-000000000001",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "shop", "operation": "CREATE",
                "userInfo": {"username": "bench"},
                "object": {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"generateName": "web-", "namespace": "shop", "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "shop/web:1",
                        "ports": [{"containerPort": 8080}],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}
            }
        }))
        .unwrap(),
    )
}

struct Stats {
    rps: f64,
    p50: Duration,
    p99: Duration,
    requests: usize,
}

async fn run_mode(router: Router, seconds: u64, conns: usize) -> anyhow::Result<Stats> {
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])?.self_signed(&key)?;
    let dir = std::env::temp_dir().join(format!("weft-injector-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("tls.crt"), cert.pem())?;
    std::fs::write(dir.join("tls.key"), key.serialize_pem())?;
    let serving = weft_tls::ServingCert::load(&dir.join("tls.crt"), &dir.join("tls.key"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = shutdown::channel();
    let srv = tokio::spawn(server::serve_tls(
        listener,
        serving.server_config(&[b"h2"]),
        router,
        stop_rx,
    ));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone())?;
    let mut tls = rustls::ClientConfig::builder_with_provider(weft_tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let body = review_body();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let per_conn_cap = MAX_REQUESTS / conns;

    let mut tasks = Vec::new();
    for _ in 0..conns {
        let connector = connector.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect("localhost".try_into()?, tcp).await?;
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await?;
            tokio::spawn(conn);
            let mut lat = Vec::new();
            while Instant::now() < deadline && lat.len() < per_conn_cap {
                send.ready().await?;
                let t0 = Instant::now();
                let rsp = send
                    .send_request(
                        Request::post(format!("https://localhost:{}/inject", addr.port()))
                            .body(Full::new(body.clone()))?,
                    )
                    .await?;
                anyhow::ensure!(rsp.status() == 200, "status {}", rsp.status());
                rsp.into_body().collect().await?;
                lat.push(t0.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed();
    stop.trigger();
    let _ = srv.await;
    let _ = std::fs::remove_dir_all(&dir);
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Ok(Stats {
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        requests: all.len(),
    })
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5)
        .clamp(1, 60);
    let conns: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(8)
        .clamp(1, 64);
    // One worker thread for the server side of the measurement is what the
    // chart gives the injector (1 CPU); the client shares the runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let fixed = Router::new().route(
            "/inject",
            // It reads the request body as the real handler does: an
            // unread body makes HTTP/2 reset every stream, and h2 ends a
            // connection after 1024 such resets.
            post(|_body: axum::body::Bytes| async {
                axum::Json(serde_json::json!({"response": {"allowed": true}}))
            }),
        );
        let baseline = run_mode(fixed, seconds, conns).await?;
        let weft = run_mode(
            server::router(
                Enabled,
                Arc::new(arc_swap::ArcSwap::from_pointee(InjectConfig::default())),
            ),
            seconds,
            conns,
        )
        .await?;
        println!(
            "injector benchmark: {seconds}s per mode, {conns} HTTP/2 connections over TLS, loopback"
        );
        println!("| mode | requests | reviews/s | p50 | p99 |");
        println!("|---|---|---|---|---|");
        for (name, s) in [
            ("baseline (fixed answer, same TLS/HTTP stack)", &baseline),
            ("weft-injector (decode, patch_for, encode)", &weft),
        ] {
            println!(
                "| {name} | {} | {:.0} | {:.2} ms | {:.2} ms |",
                s.requests,
                s.rps,
                s.p50.as_secs_f64() * 1e3,
                s.p99.as_secs_f64() * 1e3
            );
        }
        println!(
            "weft/baseline: throughput {:.2}x, p99 {:.2}x",
            weft.rps / baseline.rps,
            weft.p99.as_secs_f64() / baseline.p99.as_secs_f64()
        );
        anyhow::Ok(())
    })
}
