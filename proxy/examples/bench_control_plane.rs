//! A bench-only FIXTURE of weft's control plane, for `make bench`: the real
//! Certify service (weft-identity) and the real controller gRPC server
//! (Discovery and InboundPolicy over a real policy index), fed with fixed
//! pod objects instead of watches on an API server, which the benchmark does
//! not have. Tokens are accepted by name (`<sa>-token`), as in the
//! network-namespace suites (`proxy/tests/support/plane.rs`): this is test
//! PKI and test authentication, never to be deployed.
//!
//! ```text
//! bench_control_plane --dir DIR --network 198.18.200.0/24 \
//!     --pod client-0,client,198.18.200.1 --pod server-0,server,198.18.200.2,80,81 \
//!     [--routed-service 198.18.200.100]
//! ```
//! `--routed-service IP` adds the Service `server` at cluster IP `IP`
//! (each port of the last pod, to the same port) with an HTTPRoute on port
//! 80 of a few matches and a header filter, for the routed mode.
//! writes `DIR/anchors.pem` and `DIR/<sa>.token` for each pod, serves on
//! 0.0.0.0 (the network namespace it is started in decides what that
//! means) until SIGTERM, and prints `ready` on stderr once both listen.

use anyhow::Context as _;
use arc_swap::ArcSwap;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use serde_json::json;
use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use weft_api::contract::ports;
use weft_controller::{
    grpc::{Metrics, Server},
    index::{Config, Index, Resource},
};
use weft_identity::{
    authn::{AuthnError, ServiceAccount, TokenReviewer},
    certify::CertifyService,
    server::{self_credentials, serve},
    test_pki::{later, load, pki},
};
use weft_tls::{AnchorStore, ClientAuth, CredStore, MeshTls, SpiffeId, TrustAnchors};

const NAMESPACE: &str = "bench";

/// Test authentication: the token of ServiceAccount `sa` is `sa-token`.
struct NamedTokens;

impl TokenReviewer for NamedTokens {
    async fn review(&self, token: &str) -> Result<ServiceAccount, AuthnError> {
        token
            .strip_suffix("-token")
            .map(|sa| ServiceAccount {
                namespace: NAMESPACE.into(),
                name: sa.into(),
            })
            .ok_or_else(|| AuthnError::Rejected("unknown token".into()))
    }
}

struct PodArg {
    name: String,
    sa: String,
    ip: String,
    ports: Vec<u16>,
}

fn parse_pod(s: &str) -> anyhow::Result<PodArg> {
    let mut it = s.split(',');
    let (Some(name), Some(sa), Some(ip)) = (it.next(), it.next(), it.next()) else {
        anyhow::bail!("--pod {s:?}: expected NAME,SERVICEACCOUNT,IP[,PORT…]");
    };
    let ports = it
        .map(|p| {
            p.parse()
                .with_context(|| format!("--pod {s:?}: port {p:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(PodArg {
        name: name.into(),
        sa: sa.into(),
        ip: ip.into(),
        ports,
    })
}

/// A running meshed pod as the API server would serve it to the controller.
fn pod_object(p: &PodArg) -> anyhow::Result<Resource> {
    let ports: Vec<_> = p
        .ports
        .iter()
        .map(|p| json!({"containerPort": p}))
        .collect();
    Ok(Resource::Pod(serde_json::from_value::<Pod>(json!({
        "metadata": {"name": p.name, "namespace": NAMESPACE},
        "spec": {
            "serviceAccountName": p.sa,
            "initContainers": [{"name": "weft-proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "app", "ports": ports}]
        },
        "status": {"phase": "Running", "podIP": p.ip, "podIPs": [{"ip": p.ip}]}
    }))?))
}

/// Service `server` at `ip` over `pod`'s ports, and an HTTPRoute on its
/// port 80 shaped like a user's: an exact and a prefix match with a header
/// condition ahead of the catch-all the load takes, which adds a header.
fn routed_service(ip: &str, pod: &PodArg) -> anyhow::Result<Vec<Resource>> {
    let ports: Vec<_> = pod
        .ports
        .iter()
        .map(|p| json!({"name": format!("p{p}"), "port": p, "targetPort": p}))
        .collect();
    let slice_ports: Vec<_> = pod
        .ports
        .iter()
        .map(|p| json!({"name": format!("p{p}"), "port": p}))
        .collect();
    let service = serde_json::from_value(json!({
        "metadata": {"name": "server", "namespace": NAMESPACE},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": ports}
    }))?;
    let slice = serde_json::from_value(json!({
        "metadata": {
            "name": "server-1", "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": "server"}
        },
        "addressType": "IPv4",
        "ports": slice_ports,
        "endpoints": [{
            "addresses": [pod.ip],
            "conditions": {"ready": true},
            "targetRef": {"kind": "Pod", "name": pod.name, "namespace": NAMESPACE}
        }]
    }))?;
    let backend = json!([{"name": "server", "port": 80}]);
    let route = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "server", "namespace": NAMESPACE, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "server", "port": 80}],
            "rules": [
                {"matches": [{"path": {"type": "Exact", "value": "/health"}}], "backendRefs": backend},
                {"matches": [{
                    "path": {"type": "PathPrefix", "value": "/api"},
                    "headers": [{"name": "x-canary", "value": "true"}]
                }], "backendRefs": backend},
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
                        "add": [{"name": "x-routed", "value": "bench"}]
                    }}],
                    "backendRefs": backend
                }
            ]
        }
    }))?;
    Ok(vec![
        Resource::Service(service),
        Resource::EndpointSlice(slice),
        Resource::HttpRoute(route),
    ])
}

fn cp_id(sa: &str) -> SpiffeId {
    format!("spiffe://cluster.local/ns/weft-system/sa/{sa}")
        .parse()
        .expect("a valid SPIFFE id")
}

fn main() -> anyhow::Result<()> {
    let mut dir = None;
    let mut network = None;
    let mut pods = Vec::new();
    let mut routed = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--network" => network = Some(value()?),
            "--pod" => pods.push(parse_pod(&value()?)?),
            "--routed-service" => routed = Some(value()?),
            other => anyhow::bail!("unknown argument {other:?} (see the file's header)"),
        }
    }
    let dir = dir.context("--dir is required")?;
    let network: ipnet::IpNet = network
        .context("--network is required")?
        .parse()
        .context("--network")?;

    let p = pki(later(365));
    let issuer = load(&p);
    std::fs::write(dir.join("anchors.pem"), &p.root_pem).context("writing anchors.pem")?;
    for pod in &pods {
        std::fs::write(
            dir.join(format!("{}.token", pod.sa)),
            format!("{}-token", pod.sa),
        )
        .context("writing a token")?;
    }
    let anchors = AnchorStore::new(TrustAnchors::from_pem(p.root_pem.as_bytes())?);
    let td: weft_tls::TrustDomain = "cluster.local".parse()?;
    let creds = |id: &SpiffeId| -> anyhow::Result<CredStore> {
        let c = CredStore::new();
        c.publish(Arc::new(self_credentials(
            &issuer,
            id,
            Duration::from_secs(24 * 3600),
        )?));
        Ok(c)
    };
    let identity_tls = MeshTls::new(td.clone(), anchors.clone(), creds(&cp_id("weft-identity"))?)
        .control_plane_server_config(ClientAuth::Optional);
    let controller_tls = MeshTls::new(td.clone(), anchors, creds(&cp_id("weft-controller"))?)
        .control_plane_server_config(ClientAuth::Required);

    let mut cfg = Config::new(td.clone());
    cfg.cluster_networks = vec![network];
    let mut index = Index::new(cfg);
    index.apply(Resource::Namespace(serde_json::from_value::<Namespace>(
        json!({"metadata": {"name": NAMESPACE}}),
    )?));
    for pod in &pods {
        index.apply(pod_object(pod)?);
    }
    if let Some(ip) = routed {
        let server = pods
            .last()
            .context("--routed-service needs a --pod to route to")?;
        for r in routed_service(&ip, server)? {
            index.apply(r);
        }
    }
    let index = Arc::new(Mutex::new(index));
    let svc = CertifyService::new(Arc::new(ArcSwap::from_pointee(issuer)), NamedTokens, td);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (stop, signal) = weft_runtime::shutdown::channel();
        let (stop_controller, controller_signal) = weft_runtime::shutdown::channel();
        let identity_l = tokio::net::TcpListener::bind(("0.0.0.0", ports::IDENTITY_GRPC))
            .await
            .context("binding the identity port")?;
        let controller_l = tokio::net::TcpListener::bind(("0.0.0.0", ports::CONTROLLER_GRPC))
            .await
            .context("binding the controller port")?;
        let identity = tokio::spawn(serve(identity_l, identity_tls, svc, signal));
        let controller = tokio::spawn(
            Server {
                index,
                tls: controller_tls,
                queue: 64,
                max_streams_per_identity: weft_controller::grpc::streams::DEFAULT_MAX_PER_IDENTITY,
                metrics: Metrics::default(),
            }
            .serve(controller_l, controller_signal),
        );
        eprintln!("ready");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        stop_controller.trigger();
        stop.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = identity.await;
            let _ = controller.await;
        })
        .await;
        anyhow::Ok(())
    })
}
