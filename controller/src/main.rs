use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use ipnet::IpNet;
use prometheus_client::registry::Registry;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use weft_api::{
    contract::{control_plane, ports},
    policy::DefaultPolicy,
};
use weft_controller::{
    conversion,
    feedback::{self, Feedback, Refs},
    grpc,
    index::{Config, Index, SharedIndex},
    kinds,
    metrics_api::{self, MetricsApi},
    route_status,
    sync::SyncTracker,
    watches,
};
use weft_runtime::process::{CommonArgs, Process};
use weft_tls::{CertState, ClientAuth, SpiffeId, TrustDomain, workload::Workload};

/// weft's controller: turns SMI objects, Services and endpoints into the
/// inbound policy and discovery it streams to every sidecar over mTLS.
#[derive(Debug, Parser)]
#[command(name = "weft-controller", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// gRPC (InboundPolicy, Discovery) listener, mTLS; bound only after the
    /// initial sync.
    #[arg(long, env = "WEFT_CONTROLLER_ADDR", default_value_t = SocketAddr::from(([0, 0, 0, 0], ports::CONTROLLER_GRPC)))]
    listen_addr: SocketAddr,
    /// weft-identity's `host:port`, for the controller's own certificate.
    #[arg(long, env = "WEFT_IDENTITY_ADDR")]
    identity_addr: String,
    /// A projected ServiceAccount token with the `weft-identity` audience.
    #[arg(long, env = "WEFT_TOKEN_FILE")]
    token_file: PathBuf,
    /// PEM bundle of the mesh's trust anchors (the control plane's own
    /// ConfigMap); watched for rotations.
    #[arg(long, env = "WEFT_TRUST_ANCHORS")]
    trust_anchors: PathBuf,
    /// SPIFFE trust domain.
    #[arg(long, env = "WEFT_TRUST_DOMAIN", default_value = control_plane::DEFAULT_TRUST_DOMAIN)]
    trust_domain: TrustDomain,
    /// Kubernetes cluster domain, for canonical Service names.
    #[arg(long, env = "WEFT_CLUSTER_DOMAIN", default_value = control_plane::DEFAULT_CLUSTER_DOMAIN)]
    cluster_domain: String,
    /// Namespace of the control plane (for the SPIFFE ids of its services).
    #[arg(long, env = "WEFT_CONTROL_PLANE_NAMESPACE", default_value = control_plane::NAMESPACE)]
    control_plane_namespace: String,
    /// Networks inside the cluster besides the nodes' pod CIDRs and the
    /// ServiceCIDRs, which are read from the cluster (comma-separated
    /// CIDRs). An unknown address inside any of them is answered
    /// "unavailable" (never plaintext), any other address "not meshed".
    #[arg(long, env = "WEFT_CLUSTER_NETWORKS", value_delimiter = ',')]
    cluster_networks: Vec<IpNet>,
    /// Mesh-wide default for destinations no TrafficTarget names
    /// (overridable with the `weft.io/default-policy` annotation).
    #[arg(long, env = "WEFT_DEFAULT_POLICY", value_enum, default_value_t = Policy::Allow)]
    default_policy: Policy,
    /// Messages a stream may have queued before its client is cut off.
    #[arg(long, env = "WEFT_STREAM_QUEUE", default_value_t = grpc::DEFAULT_QUEUE)]
    stream_queue: usize,
    /// Streams one proxy identity (all replicas of a workload together) may
    /// hold open at once; more are refused with ResourceExhausted.
    #[arg(long, env = "WEFT_MAX_STREAMS_PER_IDENTITY", default_value_t = grpc::streams::DEFAULT_MAX_PER_IDENTITY)]
    max_streams_per_identity: usize,
    /// This pod's name, naming the reporter of the Events it writes and
    /// the holder of the metrics Lease.
    #[arg(long, env = "WEFT_POD_NAME", default_value = "weft-controller")]
    pod_name: String,
    /// The SMI metrics API listener (HTTPS, for the kube-apiserver). The
    /// API is served only when its certificate and key are given.
    #[arg(long, env = "WEFT_METRICS_API_ADDR", default_value_t = SocketAddr::from(([0, 0, 0, 0], ports::METRICS_API)))]
    metrics_api_addr: SocketAddr,
    /// The metrics API's serving certificate (PEM), watched for rotation.
    #[arg(long, env = "WEFT_METRICS_API_CERT", requires = "metrics_api_key")]
    metrics_api_cert: Option<PathBuf>,
    /// The metrics API's private key (PEM).
    #[arg(long, env = "WEFT_METRICS_API_KEY", requires = "metrics_api_cert")]
    metrics_api_key: Option<PathBuf>,
    /// How far back TrafficMetrics look (`30s`, `1m`).
    #[arg(long, env = "WEFT_METRICS_WINDOW", default_value = "30s", value_parser = weft_api::duration::parse)]
    metrics_window: Duration,
    /// How often the Lease holder scrapes every proxy.
    #[arg(long, env = "WEFT_METRICS_SCRAPE_INTERVAL", default_value = "10s", value_parser = weft_api::duration::parse)]
    metrics_scrape_interval: Duration,
    /// The Lease (in the control-plane namespace) electing the replica
    /// that scrapes.
    #[arg(
        long,
        env = "WEFT_METRICS_LEASE",
        default_value = "weft-metrics-leader"
    )]
    metrics_lease: String,
    /// Where replicas forward metrics queries to the Lease holder (mTLS,
    /// the controller's id only).
    #[arg(long, env = "WEFT_METRICS_PEER_ADDR", default_value_t = SocketAddr::from(([0, 0, 0, 0], ports::METRICS_PEER)))]
    metrics_peer_addr: SocketAddr,
    /// This pod's IP: other replicas reach its peer listener there.
    #[arg(long, env = "WEFT_POD_IP")]
    pod_ip: Option<std::net::IpAddr>,
    /// The SMI CRDs' conversion webhook listener (HTTPS, for the
    /// kube-apiserver). Served only when its certificate, key and CA are
    /// given; the controller then points the CRDs at it.
    #[arg(long, env = "WEFT_CONVERSION_ADDR", default_value_t = SocketAddr::from(([0, 0, 0, 0], ports::CONVERSION)))]
    conversion_addr: SocketAddr,
    /// The webhook's serving certificate (PEM), watched for rotation.
    #[arg(long, env = "WEFT_CONVERSION_CERT", requires_all = ["conversion_key", "conversion_ca"])]
    conversion_cert: Option<PathBuf>,
    /// The webhook's private key (PEM).
    #[arg(long, env = "WEFT_CONVERSION_KEY", requires = "conversion_cert")]
    conversion_key: Option<PathBuf>,
    /// The CA that signed the webhook's certificate (PEM): the CRDs'
    /// caBundle.
    #[arg(long, env = "WEFT_CONVERSION_CA", requires = "conversion_cert")]
    conversion_ca: Option<PathBuf>,
    /// The Service in front of the webhook, in the control-plane namespace.
    #[arg(
        long,
        env = "WEFT_CONVERSION_SERVICE",
        default_value = "weft-conversion"
    )]
    conversion_service: String,
    /// The proxies' metrics listener port.
    #[arg(long, env = "WEFT_PROXY_METRICS_PORT", default_value_t = ports::PROXY_METRICS)]
    proxy_metrics_port: u16,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Policy {
    Allow,
    Deny,
}

impl Args {
    fn metrics_api(&self, cert: &Path, key: &Path) -> metrics_api::Config {
        metrics_api::Config {
            addr: self.metrics_api_addr,
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            peer_addr: self.metrics_peer_addr,
            pod_ip: self.pod_ip,
            lease: self.metrics_lease.clone(),
            lease_namespace: self.control_plane_namespace.clone(),
            pod_name: self.pod_name.clone(),
            window: self.metrics_window,
            scrape_interval: self.metrics_scrape_interval,
            proxy_metrics_port: self.proxy_metrics_port,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.metrics_scrape_interval.is_zero() || args.metrics_window < args.metrics_scrape_interval
    {
        anyhow::bail!(
            "--metrics-window ({:?}) must be at least one --metrics-scrape-interval ({:?}), which must not be zero",
            args.metrics_window,
            args.metrics_scrape_interval
        );
    }
    let mut registry = Registry::default();
    weft_runtime::process_metrics::register(&mut registry);
    let watch_metrics = watches::Metrics::default();
    watch_metrics.register(&mut registry);
    let grpc_metrics = grpc::Metrics::default();
    grpc_metrics.register(&mut registry);
    // Its anchors, its certificate and whether weft-identity verifies.
    let trust = Arc::new(weft_tls::TrustStatus::default());
    registry.register_collector(trust.collector("weft_controller"));
    let proc = Process::start(&args.common.settings("weft-controller"), registry).await?;
    let synced = proc.readiness.register("initial sync");
    let certified = proc.readiness.register("certificate");
    let serving_ready = proc.readiness.register("serving");

    let id = |sa| SpiffeId::new(&args.trust_domain, &args.control_plane_namespace, sa);
    let own_id = id(control_plane::CONTROLLER_SERVICE_ACCOUNT)?;
    let (tls, mut certificate) = weft_tls::workload::start(
        Workload {
            id: own_id.clone(),
            identity_id: id(control_plane::IDENTITY_SERVICE_ACCOUNT)?,
            identity_addr: args.identity_addr.clone(),
            token_file: args.token_file.clone(),
            anchors: weft_tls::workload::Anchors::WatchedFile(args.trust_anchors.clone()),
            control_plane_trust: trust,
        },
        certified,
    )?;

    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let mut cfg = Config::new(args.trust_domain.clone());
    cfg.cluster_domain = args.cluster_domain.clone();
    cfg.cluster_networks = args.cluster_networks.clone();
    cfg.default_policy = match args.default_policy {
        Policy::Allow => DefaultPolicy::Allow,
        Policy::Deny => DefaultPolicy::Deny,
    };
    let index: SharedIndex = Arc::new(std::sync::Mutex::new(Index::new(cfg)));
    if let (Some(cert), Some(key), Some(ca)) = (
        &args.conversion_cert,
        &args.conversion_key,
        &args.conversion_ca,
    ) {
        let cfg = conversion::Config {
            addr: args.conversion_addr,
            cert: cert.clone(),
            key: key.clone(),
            ca: ca.clone(),
            service: args.conversion_service.clone(),
            namespace: args.control_plane_namespace.clone(),
        };
        conversion::start(cfg, &client, &proc.stop).await?;
    } else {
        tracing::warn!(
            "SMI CRD conversion webhook off: no WEFT_CONVERSION_CERT/KEY/CA; older versions read back as written"
        );
    }
    let sources = kinds::served(&client, kinds::sources(&client)).await;
    let sync = SyncTracker::new(sources.iter().map(|s| s.kind));
    let feedback = Feedback::start(Some(client.clone()), args.pod_name.clone());
    let refs = Refs::default();
    watches::spawn_all(
        sources,
        &watches::Ctx {
            index: index.clone(),
            sync: sync.clone(),
            feedback: feedback.clone(),
            refs: refs.clone(),
            metrics: watch_metrics,
            stop: proc.stop.clone(),
        },
    );

    let metrics = match (&args.metrics_api_cert, &args.metrics_api_key) {
        (Some(cert), Some(key)) => Some(MetricsApi::load(args.metrics_api(cert, key))?),
        _ => {
            tracing::info!("SMI metrics API off: no WEFT_METRICS_API_CERT/KEY");
            None
        }
    };
    let grace = args.common.grace();
    let stop = proc.stop.clone();
    let serving = tokio::spawn(async move {
        let Some(sync_done) = sync.wait_or_stop(stop.clone()).await else {
            return Ok(());
        };
        tracing::info!("every watch has applied its initial list");
        synced.ready();
        tokio::spawn(feedback::report_findings(
            index.clone(),
            refs,
            feedback,
            Duration::from_secs(2),
            stop.clone(),
        ));
        tokio::spawn(route_status::run(
            index.clone(),
            client.clone(),
            Duration::from_secs(2),
            stop.clone(),
        ));
        // Without a certificate no handshake could succeed; wait for one.
        tracing::info!(id = %own_id, "waiting for the controller's certificate");
        tokio::select! {
            r = certificate.wait_for(|s| matches!(s, CertState::Available(_))) => { r?; }
            () = stop.clone().wait() => return Ok(()),
        }
        if let Some(metrics) = metrics {
            metrics.start(&client, &index, &tls, &own_id, &stop).await?;
        }
        grpc::Server {
            index,
            tls: tls.control_plane_server_config(ClientAuth::Required),
            queue: args.stream_queue,
            max_streams_per_identity: args.max_streams_per_identity,
            metrics: grpc_metrics,
        }
        .serve_after_sync(args.listen_addr, sync_done, serving_ready, stop)
        .await?;
        anyhow::Ok(())
    });
    // A serving failure (say, the port is taken) ends the process with its
    // reason rather than leaving a controller that never answers.
    let stop = proc.stop.clone();
    let mut serving = serving;
    tokio::select! {
        done = &mut serving => {
            done.context("the serving task panicked")?.context("serving gRPC")?;
            return Ok(());
        }
        () = stop.wait() => {}
    }
    proc.wait(grace, async {
        let _ = serving.await;
    })
    .await;
    Ok(())
}
