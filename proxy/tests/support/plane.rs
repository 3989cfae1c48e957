//! What every netns suite needs around its pods: the control plane (the
//! real Certify service and the real controller gRPC server over a real
//! index), the files the proxies read, their environment, and the wait for
//! their readiness.

use super::mesh::{Pod, Proxy, SUBNET, SUBNET6, block_in_ns, http_status, in_ns};
use arc_swap::ArcSwap;
use k8s_openapi::api::core::v1::{Namespace, Pod as PodObject};
use serde_json::json;
use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};
use weft_api::contract::{env, ports};
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
use weft_runtime::shutdown;
use weft_tls::{AnchorStore, ClientAuth, CredStore, MeshTls, SpiffeId, TrustAnchors};

/// Every wait in these suites is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);
/// The control-plane namespace's host number on [`SUBNET`].
pub const CP_HOST: u8 = 10;

/// Tokens are the ServiceAccount's name plus `-token`: a unit-level stand-in
/// for TokenReview, which the e2e suite proves against the real API server.
struct NamedTokens;

impl TokenReviewer for NamedTokens {
    async fn review(&self, token: &str) -> Result<ServiceAccount, AuthnError> {
        token
            .strip_suffix("-token")
            .map(|sa| ServiceAccount {
                namespace: "shop".into(),
                name: sa.into(),
            })
            .ok_or_else(|| AuthnError::Rejected("unknown token".into()))
    }
}

fn cp_id(sa: &str) -> SpiffeId {
    format!("spiffe://cluster.local/ns/weft-system/sa/{sa}")
        .parse()
        .unwrap()
}

/// The SPIFFE id of ServiceAccount `sa` in `shop`.
pub fn workload_id(sa: &str) -> String {
    format!("spiffe://cluster.local/ns/shop/sa/{sa}")
}

/// A running meshed pod `name` in `shop`, as the controller's index sees
/// it: its ServiceAccount, address, app container ports and annotations.
pub fn pod_object(
    name: &str,
    sa: &str,
    ip: &str,
    ports: &[u16],
    annotations: &[(&str, &str)],
) -> Resource {
    pod_object_with(name, sa, ip, ports, annotations, json!({}))
}

/// Like [`pod_object`], at every address of `ips` (a dual-stack pod lists
/// both families in `status.podIPs`; `podIP` is the first).
pub fn pod_object_ips(
    name: &str,
    sa: &str,
    ips: &[String],
    ports: &[u16],
    annotations: &[(&str, &str)],
) -> Resource {
    let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
    pod_resource(name, sa, &ips, ports, annotations, json!({}))
}

/// Like [`pod_object`], with the fields of `app` (probes, say) added to
/// the app container.
pub fn pod_object_with(
    name: &str,
    sa: &str,
    ip: &str,
    ports: &[u16],
    annotations: &[(&str, &str)],
    app: serde_json::Value,
) -> Resource {
    pod_resource(name, sa, &[ip], ports, annotations, app)
}

fn pod_resource(
    name: &str,
    sa: &str,
    ips: &[&str],
    ports: &[u16],
    annotations: &[(&str, &str)],
    app: serde_json::Value,
) -> Resource {
    let ports: Vec<_> = ports.iter().map(|p| json!({"containerPort": p})).collect();
    let annotations: serde_json::Map<_, _> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut container = json!({"name": "app", "ports": ports});
    if let serde_json::Value::Object(extra) = app {
        container.as_object_mut().unwrap().extend(extra);
    }
    Resource::Pod(
        serde_json::from_value::<PodObject>(json!({
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
            "spec": {
                "serviceAccountName": sa,
                "initContainers": [{"name": "weft-proxy", "restartPolicy": "Always"}],
                "containers": [container]
            },
            "status": {
                "phase": "Running",
                "podIP": ips.first(),
                "podIPs": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>()
            }
        }))
        .unwrap(),
    )
}

/// The control plane, serving from `cp` until dropped. The controller can
/// be stopped on its own ([`ControlPlane::stop_controller`]) while identity
/// keeps serving.
pub struct ControlPlane {
    pub index: weft_controller::index::SharedIndex,
    stop: shutdown::Trigger,
    identity: Option<std::thread::JoinHandle<()>>,
    controller: Option<(shutdown::Trigger, std::thread::JoinHandle<()>)>,
    pub anchors_pem: String,
    /// What weft-identity's TrustAnchors answers; swap it to rotate.
    pub served_anchors: Arc<ArcSwap<Vec<u8>>>,
}

impl ControlPlane {
    /// Serves an index holding namespace `shop` and `objects`.
    pub fn start(cp: &Pod, objects: impl IntoIterator<Item = Resource>) -> Self {
        let p = pki(later(365));
        let issuer = load(&p);
        let anchors = AnchorStore::new(TrustAnchors::from_pem(p.root_pem.as_bytes()).unwrap());
        let td: weft_tls::TrustDomain = "cluster.local".parse().unwrap();
        let creds = |id: &SpiffeId| {
            let c = CredStore::new();
            c.publish(Arc::new(
                self_credentials(&issuer, id, Duration::from_secs(3600)).unwrap(),
            ));
            c
        };
        let identity_tls =
            MeshTls::new(td.clone(), anchors.clone(), creds(&cp_id("weft-identity")))
                .control_plane_server_config(ClientAuth::Optional);
        let controller_tls = MeshTls::new(td.clone(), anchors, creds(&cp_id("weft-controller")))
            .control_plane_server_config(ClientAuth::Required);

        let mut cfg = Config::new(td.clone());
        cfg.cluster_networks = vec![
            format!("{SUBNET}.0/24").parse().unwrap(),
            format!("{SUBNET6}:/64").parse().unwrap(),
        ];
        let mut index = Index::new(cfg);
        index.apply(Resource::Namespace(
            serde_json::from_value::<Namespace>(json!({"metadata": {"name": "shop"}})).unwrap(),
        ));
        for o in objects {
            index.apply(o);
        }
        let index = Arc::new(Mutex::new(index));
        let shared_index = index.clone();

        let (stop, signal) = shutdown::channel();
        let (stop_controller, controller_signal) = shutdown::channel();
        let svc = CertifyService::new(Arc::new(ArcSwap::from_pointee(issuer)), NamedTokens, td);
        svc.anchors_pem
            .store(Arc::new(p.root_pem.clone().into_bytes()));
        let served_anchors = svc.anchors_pem.clone();
        let ip = cp.ip.clone();
        let identity = in_ns(&cp.ns.name, move || async move {
            let l = tokio::net::TcpListener::bind((ip.as_str(), ports::IDENTITY_GRPC))
                .await
                .unwrap();
            serve(l, identity_tls, svc, signal).await.unwrap();
        });
        let ip = cp.ip.clone();
        let controller = in_ns(&cp.ns.name, move || async move {
            let l = tokio::net::TcpListener::bind((ip.as_str(), ports::CONTROLLER_GRPC))
                .await
                .unwrap();
            Server {
                index,
                tls: controller_tls,
                queue: 64,
                max_streams_per_identity: weft_controller::grpc::streams::DEFAULT_MAX_PER_IDENTITY,
                metrics: Metrics::default(),
            }
            .serve(l, controller_signal)
            .await
            .unwrap();
        });
        Self {
            index: shared_index,
            stop,
            identity: Some(identity),
            controller: Some((stop_controller, controller)),
            anchors_pem: p.root_pem,
            served_anchors,
        }
    }

    /// Stops the controller's gRPC server (its streams end, its port
    /// closes) and waits for it; identity keeps serving.
    pub fn stop_controller(&mut self) {
        if let Some((stop, thread)) = self.controller.take() {
            stop.trigger();
            thread.join().expect("the controller thread panicked");
        }
    }

    /// Applies `objects` to the index, as the controller's watches would.
    pub fn apply(&self, objects: impl IntoIterator<Item = Resource>) {
        let mut ix = self.index.lock().unwrap();
        for o in objects {
            ix.apply(o);
        }
    }
}

impl ControlPlane {
    /// Stops identity and the controller and frees their ports, as an
    /// uninstall would.
    pub fn stop(&mut self) {
        self.stop_controller_quietly();
        self.stop.trigger();
        if let Some(t) = self.identity.take() {
            let _ = t.join();
        }
    }

    fn stop_controller_quietly(&mut self) {
        if let Some((stop, thread)) = self.controller.take() {
            stop.trigger();
            let _ = thread.join();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A directory every UID can read, for the binary, tokens and anchors.
pub struct Shared(pub PathBuf);

impl Shared {
    /// With a token for each of `service_accounts`.
    pub fn new(anchors_pem: &str, service_accounts: &[&str]) -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "weft-mesh-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The build's binary may sit under a directory only root can enter.
        std::fs::copy(env!("CARGO_BIN_EXE_weft-proxy"), dir.join("weft-proxy")).unwrap();
        std::fs::write(dir.join("anchors.pem"), anchors_pem).unwrap();
        for sa in service_accounts {
            std::fs::write(dir.join(format!("{sa}.token")), format!("{sa}-token")).unwrap();
        }
        Self(dir)
    }

    pub fn bin(&self) -> PathBuf {
        self.0.join("weft-proxy")
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The environment the injector would give the proxy of pod `name` running
/// as `sa`; readiness waits for the policy of each of `inbound_ports`.
pub fn proxy_env(
    pod: &Pod,
    name: &str,
    sa: &str,
    shared: &Path,
    inbound_ports: &[u16],
) -> Vec<(String, String)> {
    let cp = format!("{SUBNET}.{CP_HOST}");
    let mut vars = vec![
        (env::POD_NAME, name.to_string()),
        (env::POD_NAMESPACE, "shop".into()),
        (env::SERVICE_ACCOUNT, sa.into()),
        (env::POD_IPS, pod.ips().join(",")),
        (env::IDENTITY_ADDR, format!("{cp}:{}", ports::IDENTITY_GRPC)),
        (env::IDENTITY_ID, cp_id("weft-identity").to_string()),
        (
            env::CONTROLLER_ADDR,
            format!("{cp}:{}", ports::CONTROLLER_GRPC),
        ),
        (env::CONTROLLER_ID, cp_id("weft-controller").to_string()),
        (
            env::TOKEN_FILE,
            shared.join(format!("{sa}.token")).display().to_string(),
        ),
        (
            env::TRUST_ANCHORS_FILE,
            shared.join("anchors.pem").display().to_string(),
        ),
        (env::LOG_LEVEL, "info,weft_proxy=debug".into()),
        (env::SHUTDOWN_GRACE, "5".into()),
    ];
    if !inbound_ports.is_empty() {
        let list: Vec<_> = inbound_ports.iter().map(u16::to_string).collect();
        vars.push((env::INBOUND_PORTS, list.join(",")));
    }
    vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Waits for the proxy in `pod` to report ready (it holds a certificate
/// and the policy of each declared app port).
pub fn wait_ready(pod: &Pod, proxy: &Proxy) {
    let admin = format!("{}:{}", pod.ip, ports::ADMIN);
    let ok = block_in_ns(&pod.ns.name, move || async move {
        let t0 = tokio::time::Instant::now();
        while t0.elapsed() < WAIT {
            if http_status(&admin, "/ready").await == Some(200) {
                eprintln!("proxy at {admin} ready after {:?}", t0.elapsed());
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    assert!(
        ok,
        "proxy not ready within {WAIT:?}; its log:\n{}",
        proxy.log()
    );
}
