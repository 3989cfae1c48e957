use anyhow::Context as _;
use clap::Parser;
use prometheus_client::registry::Registry;
use std::{net::SocketAddr, path::PathBuf, time::Duration};
use weft_api::contract::{control_plane, ports};
use weft_injector::{InjectConfig, config::ProxyResources, namespaces::KubeNamespaces, server};
use weft_runtime::process::{CommonArgs, Process};

/// weft's mutating admission webhook: injects the sidecar into pods of
/// namespaces (or pods) annotated `weft.io/inject: enabled`.
#[derive(Debug, Parser)]
#[command(name = "weft-injector", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// HTTPS listener for `POST /inject`.
    #[arg(long, env = "WEFT_INJECTOR_ADDR", default_value_t = SocketAddr::from(([0, 0, 0, 0], ports::INJECTOR_HTTPS)))]
    listen_addr: SocketAddr,
    /// Serving certificate (PEM), e.g. `tls.crt` of a kubernetes.io/tls Secret; reloaded on change.
    #[arg(long, env = "WEFT_INJECTOR_TLS_CERT")]
    tls_cert: PathBuf,
    /// Serving key (PEM), e.g. `tls.key`; reloaded on change.
    #[arg(long, env = "WEFT_INJECTOR_TLS_KEY")]
    tls_key: PathBuf,
    /// The CA that signed the serving certificate (`ca.crt`): with
    /// --tls-ca-key, the injector re-signs its certificate in memory before
    /// it expires, so the webhook never serves an expired one.
    #[arg(long, env = "WEFT_INJECTOR_TLS_CA_CERT", requires = "tls_ca_key")]
    tls_ca_cert: Option<PathBuf>,
    /// The CA's key (`ca.key`, ECDSA P-256).
    #[arg(long, env = "WEFT_INJECTOR_TLS_CA_KEY", requires = "tls_ca_cert")]
    tls_ca_key: Option<PathBuf>,
    /// Renew the serving certificate once fewer days than this remain.
    #[arg(long, env = "WEFT_INJECTOR_RENEW_BEFORE_DAYS", default_value_t = 90)]
    renew_before_days: u64,
    /// Lifetime of a renewed serving certificate, in days.
    #[arg(
        long,
        env = "WEFT_INJECTOR_CERTIFICATE_VALIDITY_DAYS",
        default_value_t = 365
    )]
    certificate_validity_days: u64,
    /// Image of weft-proxy (also runs `weft-proxy init`).
    #[arg(long, env = "WEFT_PROXY_IMAGE", default_value = "weft/proxy:latest")]
    proxy_image: String,
    /// imagePullPolicy of the injected containers.
    #[arg(
        long,
        env = "WEFT_PROXY_IMAGE_PULL_POLICY",
        default_value = "IfNotPresent"
    )]
    image_pull_policy: String,
    /// Namespace of weft's control plane (never injected).
    #[arg(long, env = "WEFT_CONTROL_PLANE_NAMESPACE", default_value = control_plane::NAMESPACE)]
    control_plane_namespace: String,
    /// SPIFFE trust domain.
    #[arg(long, env = "WEFT_TRUST_DOMAIN", default_value = control_plane::DEFAULT_TRUST_DOMAIN)]
    trust_domain: String,
    /// Kubernetes cluster domain.
    #[arg(long, env = "WEFT_CLUSTER_DOMAIN", default_value = control_plane::DEFAULT_CLUSTER_DOMAIN)]
    cluster_domain: String,
    /// Default proxy log filter (pods override it with weft.io/proxy-log-level).
    #[arg(long, env = "WEFT_PROXY_LOG_LEVEL", default_value = "info")]
    proxy_log_level: String,
    /// Default proxy CPU request.
    #[arg(long, env = "WEFT_PROXY_CPU_REQUEST", default_value = "10m")]
    proxy_cpu_request: String,
    /// Default proxy CPU limit (also sets its worker threads); empty for none.
    #[arg(long, env = "WEFT_PROXY_CPU_LIMIT", default_value = "1")]
    proxy_cpu_limit: String,
    /// Default proxy memory request.
    #[arg(long, env = "WEFT_PROXY_MEMORY_REQUEST", default_value = "20Mi")]
    proxy_memory_request: String,
    /// Default proxy memory limit; empty for none.
    #[arg(long, env = "WEFT_PROXY_MEMORY_LIMIT", default_value = "128Mi")]
    proxy_memory_limit: String,
    /// PEM bundle of the mesh's trust anchors (the control plane's own
    /// ConfigMap), written into every proxy's environment; re-read for
    /// rotations.
    #[arg(long, env = "WEFT_TRUST_ANCHORS_FILE")]
    trust_anchors: PathBuf,
}

/// The bundle at `path`, if it parses as trust anchors.
fn read_anchors(path: &std::path::Path) -> anyhow::Result<String> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading the trust anchors {}", path.display()))?;
    weft_tls::TrustAnchors::from_pem(pem.as_bytes())
        .with_context(|| format!("the trust anchors {}", path.display()))?;
    Ok(pem)
}

/// Swaps a rotated bundle into `cfg`, so new pods start with the bundle
/// of the moment (weft-tls's file watch parses it and reports a bad file
/// once).
fn store_anchors(cfg: &server::SharedConfig, pem: &[u8]) {
    let pem = String::from_utf8_lossy(pem).into_owned();
    if pem != cfg.load().trust_anchors {
        tracing::info!("trust anchors changed; new pods get the new bundle");
        let mut next = (**cfg.load()).clone();
        next.trust_anchors = pem;
        cfg.store(std::sync::Arc::new(next));
    }
}

/// The serving certificate from its files, renewing itself when the CA is
/// given (a CA that cannot renew is reported, and the files served as
/// they are).
fn serving_cert(args: &Args) -> anyhow::Result<std::sync::Arc<weft_tls::ServingCert>> {
    const DAY: Duration = Duration::from_secs(86_400);
    let (Some(ca_cert), Some(ca_key)) = (&args.tls_ca_cert, &args.tls_ca_key) else {
        return Ok(weft_tls::ServingCert::load(&args.tls_cert, &args.tls_key)?);
    };
    let renewal = weft_tls::Renewal::load(
        ca_cert,
        ca_key,
        DAY * u32::try_from(args.renew_before_days).unwrap_or(u32::MAX),
        DAY * u32::try_from(args.certificate_validity_days).unwrap_or(u32::MAX),
    );
    match renewal {
        Ok(r) => {
            let cert = weft_tls::ServingCert::load_renewing(&args.tls_cert, &args.tls_key, r)?;
            tokio::spawn(cert.clone().keep_renewed(Duration::from_secs(3600)));
            Ok(cert)
        }
        Err(error) => {
            tracing::error!(%error, "the serving certificate will not renew itself; `helm upgrade` renews it");
            Ok(weft_tls::ServingCert::load(&args.tls_cert, &args.tls_key)?)
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut registry = Registry::default();
    weft_runtime::process_metrics::register(&mut registry);
    let proc = Process::start(&args.common.settings("weft-injector"), registry).await?;
    let ready = proc.readiness.register("namespaces-synced");
    let cert = serving_cert(&args)?;

    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let version = client
        .apiserver_version()
        .await
        .context("reading the API server's version")?;
    let minor: u32 = version.minor.trim_end_matches('+').parse().unwrap_or(0);
    let native_sidecars = version.major == "1" && minor >= 29;
    if !native_sidecars {
        tracing::warn!(version = %version.git_version, "no native sidecars: pods will be admitted without injection");
    }
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let cfg = InjectConfig {
        proxy_image: args.proxy_image,
        image_pull_policy: args.image_pull_policy,
        control_plane_namespace: args.control_plane_namespace,
        trust_domain: args.trust_domain,
        cluster_domain: args.cluster_domain,
        proxy_log_level: args.proxy_log_level,
        resources: ProxyResources {
            cpu_request: args.proxy_cpu_request,
            cpu_limit: non_empty(&args.proxy_cpu_limit),
            memory_request: args.proxy_memory_request,
            memory_limit: non_empty(&args.proxy_memory_limit),
        },
        native_sidecars,
        trust_anchors: read_anchors(&args.trust_anchors)?,
    };
    let store = weft_tls::AnchorStore::from_file(&args.trust_anchors)?;
    let cfg: server::SharedConfig = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(cfg));
    let followed = cfg.clone();
    tokio::spawn(weft_tls::watch_anchors_pem(
        args.trust_anchors.clone(),
        Duration::from_secs(10),
        store,
        move |pem| store_anchors(&followed, pem),
    ));

    let (namespaces, watch) = KubeNamespaces::start(client);
    tokio::spawn(watch);
    // The cache is an optimisation (misses fall back to a GET), so readiness
    // only waits for the serving certificate and the listener.
    tokio::spawn(weft_tls::watch_serving_cert(
        args.tls_cert.clone(),
        args.tls_key.clone(),
        Duration::from_secs(10),
        cert.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(args.listen_addr)
        .await
        .with_context(|| format!("binding {}", args.listen_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "serving POST /inject");
    ready.ready();
    let serving = tokio::spawn(server::serve_tls(
        listener,
        cert.server_config(&[b"h2", b"http/1.1"]),
        server::router(namespaces, cfg),
        proc.stop.clone(),
    ));
    proc.wait(args.common.grace(), async {
        let _ = serving.await;
    })
    .await;
    Ok(())
}
