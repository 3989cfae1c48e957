use anyhow::Context as _;
use arc_swap::ArcSwap;
use clap::Parser;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use prometheus_client::{metrics::gauge::Gauge, registry::Registry};
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use weft_api::contract::{control_plane, ports};
use weft_identity::{
    authn::KubeTokenReviewer,
    certify::CertifyService,
    run::{IssuerFiles, renew_own, watch_issuer},
    server::serve,
};
use weft_runtime::process::{CommonArgs, Process};
use weft_tls::{AnchorStore, ClientAuth, CredStore, MeshTls, SpiffeId, TrustDomain};

/// weft's mesh certificate authority: signs short-lived certificates for
/// workloads that prove their ServiceAccount with a projected token.
#[derive(Debug, Parser)]
#[command(name = "weft-identity", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// gRPC (Certify) listener, TLS.
    #[arg(long, env = "WEFT_IDENTITY_ADDR", default_value_t = SocketAddr::from(([0, 0, 0, 0], ports::IDENTITY_GRPC)))]
    listen_addr: SocketAddr,
    /// PEM bundle of the mesh's trust anchors.
    #[arg(long, env = "WEFT_TRUST_ANCHORS")]
    trust_anchors: PathBuf,
    /// The issuer's certificate (`tls.crt` of a kubernetes.io/tls Secret); reloaded on change.
    #[arg(long, env = "WEFT_ISSUER_CERT")]
    issuer_cert: PathBuf,
    /// The issuer's key (`tls.key`); reloaded on change.
    #[arg(long, env = "WEFT_ISSUER_KEY")]
    issuer_key: PathBuf,
    /// SPIFFE trust domain.
    #[arg(long, env = "WEFT_TRUST_DOMAIN", default_value = control_plane::DEFAULT_TRUST_DOMAIN)]
    trust_domain: TrustDomain,
    /// Namespace of the control plane (for the service's own SPIFFE id).
    #[arg(long, env = "WEFT_CONTROL_PLANE_NAMESPACE", default_value = control_plane::NAMESPACE)]
    control_plane_namespace: String,
    /// Lifetime of workload certificates, in hours.
    #[arg(long, env = "WEFT_CERT_LIFETIME_HOURS", default_value_t = 24)]
    cert_lifetime_hours: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut registry = Registry::default();
    let remaining = Gauge::default();
    registry.register(
        "weft_identity_issuer_remaining_seconds",
        "Seconds until the issuer certificate expires",
        remaining.clone(),
    );
    let files = IssuerFiles {
        anchors: args.trust_anchors.clone(),
        cert: args.issuer_cert.clone(),
        key: args.issuer_key.clone(),
    };
    let issuer = Arc::new(ArcSwap::from_pointee(
        files.load().context("loading the issuer")?,
    ));
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    may_create_token_reviews(&client).await?;

    let svc = CertifyService::new(
        issuer.clone(),
        KubeTokenReviewer::new(client),
        args.trust_domain.clone(),
    );
    svc.metrics.register(&mut registry);
    let proc = Process::start(&args.common.settings("weft-identity"), registry).await?;
    let ready = proc.readiness.register("serving");

    let own_id = SpiffeId::new(
        &args.trust_domain,
        &args.control_plane_namespace,
        control_plane::IDENTITY_SERVICE_ACCOUNT,
    )?;
    let creds = CredStore::new();
    let lifetime = Duration::from_secs(args.cert_lifetime_hours.max(1) * 3600);
    tokio::spawn(renew_own(
        issuer.clone(),
        own_id.clone(),
        lifetime,
        creds.clone(),
    ));
    tokio::spawn(watch_issuer(
        files,
        issuer,
        remaining,
        Duration::from_secs(10),
    ));
    let anchors = AnchorStore::from_file(&args.trust_anchors)?;
    tokio::spawn(weft_tls::watch_anchors(
        args.trust_anchors.clone(),
        Duration::from_secs(10),
        anchors.clone(),
    ));
    let tls = MeshTls::new(args.trust_domain, anchors, creds)
        .control_plane_server_config(ClientAuth::Optional);
    let listener = tokio::net::TcpListener::bind(args.listen_addr)
        .await
        .with_context(|| format!("binding {}", args.listen_addr))?;
    tracing::info!(addr = %listener.local_addr()?, id = %own_id, "serving Certify");
    ready.ready();
    let serving = tokio::spawn(serve(listener, tls, svc, proc.stop.clone()));
    proc.wait(args.common.grace(), async {
        let _ = serving.await;
    })
    .await;
    Ok(())
}

/// Fails at start, with a clear message, when RBAC does not let this
/// service create TokenReviews: every Certify would fail otherwise.
async fn may_create_token_reviews(client: &kube::Client) -> anyhow::Result<()> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some("authentication.k8s.io".into()),
                resource: Some("tokenreviews".into()),
                verb: Some("create".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let done = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .context("asking the API server whether tokenreviews may be created")?;
    if done.status.is_some_and(|s| s.allowed) {
        Ok(())
    } else {
        anyhow::bail!(
            "this ServiceAccount may not create authentication.k8s.io/tokenreviews; \
             grant it (the Helm chart's ClusterRole does) or no workload can be certified"
        )
    }
}
