//! What the injector writes into every pod, fixed at start from its flags
//! (which the Helm chart sets).

use weft_api::contract::{control_plane, ports};

/// Resource requests and limits for the proxy, as Kubernetes quantities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyResources {
    pub cpu_request: String,
    pub cpu_limit: Option<String>,
    pub memory_request: String,
    pub memory_limit: Option<String>,
}

impl Default for ProxyResources {
    fn default() -> Self {
        Self {
            cpu_request: "10m".into(),
            cpu_limit: Some("1".into()),
            memory_request: "20Mi".into(),
            memory_limit: Some("128Mi".into()),
        }
    }
}

/// The injector's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectConfig {
    /// The image with `weft-proxy` (and iptables for `weft-proxy init`).
    pub proxy_image: String,
    pub image_pull_policy: String,
    /// Namespace of the control plane, never injected.
    pub control_plane_namespace: String,
    pub trust_domain: String,
    pub cluster_domain: String,
    pub proxy_log_level: String,
    pub resources: ProxyResources,
    /// Whether the API server supports native sidecars (init containers with
    /// `restartPolicy: Always`, Kubernetes ≥ 1.29). Without them weft does
    /// not inject.
    pub native_sidecars: bool,
    /// The PEM trust-anchor bundle each proxy starts with, written into its
    /// environment: a pod spec is something only whoever creates the pod
    /// controls, unlike a ConfigMap in the namespace. Later rotations reach
    /// running proxies from weft-identity.
    pub trust_anchors: String,
}

impl Default for InjectConfig {
    fn default() -> Self {
        Self {
            proxy_image: "weft/proxy:latest".into(),
            image_pull_policy: "IfNotPresent".into(),
            control_plane_namespace: control_plane::NAMESPACE.into(),
            trust_domain: control_plane::DEFAULT_TRUST_DOMAIN.into(),
            cluster_domain: control_plane::DEFAULT_CLUSTER_DOMAIN.into(),
            proxy_log_level: "info".into(),
            resources: ProxyResources::default(),
            native_sidecars: true,
            trust_anchors: String::new(),
        }
    }
}

impl InjectConfig {
    /// `host:port` of weft-identity, as proxies reach it.
    pub fn identity_addr(&self) -> String {
        format!(
            "{}.{}.svc.{}:{}",
            control_plane::IDENTITY_SERVICE_ACCOUNT,
            self.control_plane_namespace,
            self.cluster_domain,
            ports::IDENTITY_GRPC
        )
    }

    /// `host:port` of weft-controller.
    pub fn controller_addr(&self) -> String {
        format!(
            "{}.{}.svc.{}:{}",
            control_plane::CONTROLLER_SERVICE_ACCOUNT,
            self.control_plane_namespace,
            self.cluster_domain,
            ports::CONTROLLER_GRPC
        )
    }

    /// The SPIFFE id a control-plane component presents.
    pub fn control_plane_id(&self, service_account: &str) -> String {
        format!(
            "spiffe://{}/ns/{}/sa/{}",
            self.trust_domain, self.control_plane_namespace, service_account
        )
    }
}
