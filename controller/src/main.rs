use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use ipnet::IpNet;
use prometheus_client::registry::Registry;
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use weft_api::{
    contract::{control_plane, ports},
    policy::DefaultPolicy,
};
use weft_controller::{
    anchors,
    feedback::{self, Feedback, Refs},
    grpc::{self, SharedIndex},
    index::{Config, Index},
    sync::SyncTracker,
    watches::{self, KINDS},
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
    /// PEM bundle of the mesh's trust anchors; watched, and published to
    /// every injected namespace as the `weft-trust-anchors` ConfigMap.
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
    /// Pod and Service networks, comma-separated CIDRs: an unknown address in
    /// them is answered "unavailable" (never plaintext), any other address
    /// "not meshed".
    #[arg(
        long,
        env = "WEFT_CLUSTER_NETWORKS",
        value_delimiter = ',',
        default_value = "10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,fd00::/8"
    )]
    cluster_networks: Vec<IpNet>,
    /// Mesh-wide default for destinations no TrafficTarget names
    /// (overridable with the `weft.io/default-policy` annotation).
    #[arg(long, env = "WEFT_DEFAULT_POLICY", value_enum, default_value_t = Policy::Allow)]
    default_policy: Policy,
    /// Messages a stream may have queued before its client is cut off.
    #[arg(long, env = "WEFT_STREAM_QUEUE", default_value_t = grpc::DEFAULT_QUEUE)]
    stream_queue: usize,
    /// This pod's name, naming the reporter of the Events it writes.
    #[arg(long, env = "WEFT_POD_NAME", default_value = "weft-controller")]
    pod_name: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Policy {
    Allow,
    Deny,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut registry = Registry::default();
    let watch_metrics = watches::Metrics::default();
    watch_metrics.register(&mut registry);
    let grpc_metrics = grpc::Metrics::default();
    grpc_metrics.register(&mut registry);
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
            anchors_file: args.trust_anchors.clone(),
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
    let sync = SyncTracker::new(KINDS);
    let feedback = Feedback::start(Some(client.clone()), args.pod_name.clone());
    let refs = Refs::default();
    watches::spawn_all(
        &client,
        &watches::Ctx {
            index: index.clone(),
            sync: sync.clone(),
            feedback: feedback.clone(),
            refs: refs.clone(),
            metrics: watch_metrics,
            stop: proc.stop.clone(),
        },
    );
    tokio::spawn(anchors::keep(
        client.clone(),
        index.clone(),
        args.trust_anchors.clone(),
        Duration::from_secs(2),
        proc.stop.clone(),
    ));

    let stop = proc.stop.clone();
    let serving = tokio::spawn(async move {
        tokio::select! {
            () = sync.wait() => {}
            () = stop.clone().wait() => return Ok(()),
        }
        tracing::info!("every watch has applied its initial list");
        synced.ready();
        tokio::spawn(feedback::report_findings(
            index.clone(),
            refs,
            feedback,
            Duration::from_secs(2),
            stop.clone(),
        ));
        // Without a certificate no handshake could succeed; wait for one.
        tracing::info!(id = %own_id, "waiting for the controller's certificate");
        tokio::select! {
            r = certificate.wait_for(|s| matches!(s, CertState::Available(_))) => { r?; }
            () = stop.clone().wait() => return Ok(()),
        }
        grpc::Server {
            index,
            tls: tls.control_plane_server_config(ClientAuth::Required),
            queue: args.stream_queue,
            metrics: grpc_metrics,
        }
        .serve_after_sync(args.listen_addr, sync, serving_ready, stop)
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
    proc.wait(args.common.grace(), async {
        let _ = serving.await;
    })
    .await;
    Ok(())
}
