//! Benchmark (not a test): how many workload certificates weft-identity
//! signs per second on one core, and Certify's latency over TLS, with and
//! without the TokenReview round trip.
//!
//! `make bench-identity` (or `cargo run --release -p weft-bench --example
//! identity -- [seconds] [concurrency]`). Modes, in one run:
//! - `sign`: `Issuer::sign` alone on this thread (CSR checks and an ECDSA
//!   P-256 signature): the ceiling for everything else.
//! - `certify`: the real Certify server on one core (a current-thread
//!   runtime on its own thread) over TLS and HTTP/2 on loopback, the token
//!   accepted without a review.
//! - `certify + TokenReview`: the same with the real `KubeTokenReviewer`
//!   against the API server of `$KUBECONFIG` (the e2e cluster: `eval
//!   "$(e2e/cluster/env)"`), with a token minted by TokenRequest. Skipped,
//!   and said so, without a KUBECONFIG.
//!
//! Bounded in time and count; loopback only.

use anyhow::Context as _;
use arc_swap::ArcSwap;
use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount as SaObject,
};
use kube::api::{Api, PostParams};
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;
use weft_api::{contract::token, identity::CertifyRequest};
use weft_identity::{
    authn::{AuthnError, KubeTokenReviewer, ServiceAccount, TokenReviewer},
    ca::Issuer,
    certify::CertifyService,
    server::{self_credentials, serve},
    test_pki::{later, load, pki},
};
use weft_runtime::{grpc::ChannelConfig, shutdown};
use weft_tls::{
    AnchorStore, Certifier, ClientAuth, CredStore, GrpcCertifier, MeshTls, SpiffeId, TrustAnchors,
    WorkloadKey,
};

/// Hard cap on calls per mode, whatever the duration.
const MAX_CALLS: usize = 1_000_000;
/// The ServiceAccount whose token the TokenReview mode uses.
const SA_NAMESPACE: &str = "default";
const SA_NAME: &str = "default";

/// Accepts any token as default/default: Certify without the review.
struct NoReview;

impl TokenReviewer for NoReview {
    async fn review(&self, _: &str) -> Result<ServiceAccount, AuthnError> {
        Ok(ServiceAccount {
            namespace: SA_NAMESPACE.into(),
            name: SA_NAME.into(),
        })
    }
}

struct Stats {
    calls: usize,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn from(mut lat: Vec<Duration>, elapsed: Duration) -> Self {
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        Self {
            calls: lat.len(),
            per_sec: lat.len() as f64 / elapsed.as_secs_f64(),
            p50: pct(0.50),
            p99: pct(0.99),
        }
    }
}

fn workload_id() -> SpiffeId {
    format!("spiffe://cluster.local/ns/{SA_NAMESPACE}/sa/{SA_NAME}")
        .parse()
        .unwrap()
}

fn identity_id() -> SpiffeId {
    "spiffe://cluster.local/ns/weft-system/sa/weft-identity"
        .parse()
        .unwrap()
}

fn sign_only(issuer: &Issuer, csr: &[u8], seconds: u64) -> Stats {
    let id = workload_id();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut lat = Vec::new();
    while Instant::now() < deadline && lat.len() < MAX_CALLS {
        let t0 = Instant::now();
        issuer
            .sign(
                csr,
                &id,
                time::OffsetDateTime::now_utc(),
                Duration::from_secs(86400),
            )
            .expect("sign");
        lat.push(t0.elapsed());
    }
    Stats::from(lat, started.elapsed())
}

/// Runs Certify on one core (its own thread and current-thread runtime)
/// and drives it from this runtime with `concurrency` callers.
async fn certify<R: TokenReviewer>(
    reviewer: R,
    token: String,
    csr: Vec<u8>,
    seconds: u64,
    concurrency: usize,
) -> anyhow::Result<Stats> {
    let p = pki(later(365));
    let anchors = AnchorStore::new(TrustAnchors::from_pem(p.root_pem.as_bytes())?);
    let issuer = load(&p);
    let creds = CredStore::new();
    creds.publish(Arc::new(self_credentials(
        &issuer,
        &identity_id(),
        Duration::from_secs(3600),
    )?));
    let tls = MeshTls::new("cluster.local".parse()?, anchors.clone(), creds)
        .control_plane_server_config(ClientAuth::Optional);
    let svc = CertifyService::new(
        Arc::new(ArcSwap::from_pointee(issuer)),
        reviewer,
        "cluster.local".parse()?,
    );
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (stop, stop_rx) = shutdown::channel();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener)?;
            serve(listener, tls, svc, stop_rx).await?;
            anyhow::Ok(())
        })
    });

    let client_tls = weft_tls::identity_client_config(&anchors, &identity_id());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cap = MAX_CALLS / concurrency;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let certifier = GrpcCertifier::new(weft_tls::tls_channel(
            &addr.to_string(),
            client_tls.clone(),
            &ChannelConfig::default(),
        )?);
        let request = CertifyRequest {
            identity: workload_id().to_string(),
            token: token.clone().into_bytes(),
            certificate_signing_request: csr.clone(),
        };
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline && lat.len() < cap {
                let t0 = Instant::now();
                certifier
                    .certify(request.clone())
                    .await
                    .context("certify")?;
                lat.push(t0.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed();
    stop.trigger();
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
    Ok(Stats::from(all, elapsed))
}

/// A token for default/default bound to weft's audience, from the API
/// server of `$KUBECONFIG`, with a client for the reviews; `None` without
/// a KUBECONFIG.
async fn real_api_server() -> anyhow::Result<Option<(kube::Client, String)>> {
    if std::env::var_os("KUBECONFIG").is_none() {
        return Ok(None);
    }
    let client = kube::Client::try_default().await?;
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![token::AUDIENCE.into()],
            expiration_seconds: Some(token::EXPIRATION_SECONDS),
            ..Default::default()
        },
        ..Default::default()
    };
    let rsp = Api::<SaObject>::namespaced(client.clone(), SA_NAMESPACE)
        .create_token_request(SA_NAME, &PostParams::default(), &req)
        .await
        .context("minting a token with TokenRequest")?;
    let token = rsp.status.map(|s| s.token).unwrap_or_default();
    Ok(Some((client, token)))
}

fn row(name: &str, s: &Stats) {
    println!(
        "| {name} | {} | {:.0} | {:.2} ms | {:.2} ms |",
        s.calls,
        s.per_sec,
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3
    );
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5)
        .clamp(1, 60);
    let concurrency: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(8)
        .clamp(1, 256);
    let key = WorkloadKey::generate()?;
    let csr = key.csr_der(&workload_id())?;

    let p = pki(later(365));
    let sign = sign_only(&load(&p), &csr, seconds);

    // The callers get the other core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let plain = certify(NoReview, "any-token".into(), csr.clone(), seconds, concurrency).await?;
        let reviewed = match real_api_server().await? {
            Some((client, token)) => Some(
                certify(
                    KubeTokenReviewer::new(client),
                    token,
                    csr.clone(),
                    seconds,
                    concurrency,
                )
                .await?,
            ),
            None => None,
        };
        println!(
            "identity benchmark: {seconds}s per mode, {concurrency} concurrent callers, \
             server on one core, loopback"
        );
        println!("| mode | certificates | per second | p50 | p99 |");
        println!("|---|---|---|---|---|");
        row("sign only (CSR checks + P-256 signature, this thread)", &sign);
        row("Certify over TLS, no TokenReview", &plain);
        match &reviewed {
            Some(r) => row("Certify over TLS + TokenReview (real API server)", r),
            None => println!(
                "| Certify over TLS + TokenReview | skipped: no KUBECONFIG (run `eval \"$(e2e/cluster/env)\"` with the e2e cluster up) | | | |"
            ),
        }
        println!(
            "Certify/sign throughput: {:.2}x",
            plain.per_sec / sign.per_sec
        );
        if let Some(r) = &reviewed {
            println!(
                "with/without TokenReview: throughput {:.2}x, p99 {:.2}x",
                r.per_sec / plain.per_sec,
                r.p99.as_secs_f64() / plain.p99.as_secs_f64()
            );
        }
        anyhow::Ok(())
    })
}
