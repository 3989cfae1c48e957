//! Dropping what the index never reads before an object is stored.
//!
//! At 10k pods, the full objects (env, volumes, resources, statuses) are
//! most of the controller's memory. The index reads a pod's name, labels,
//! `weft.io/` annotations, service account, host networking, addresses,
//! phase, its containers' names, ports and probes, and the proxy
//! container's image; everything else goes.

use k8s_openapi::api::core::v1::{Container, Node, NodeSpec, Pod, PodSpec, PodStatus};
use k8s_openapi::api::networking::v1::ServiceCIDR;
use kube::api::ObjectMeta;
use weft_api::contract::pod::PROXY_CONTAINER;

/// Annotations the index reads all start with this.
const WEFT_PREFIX: &str = "weft.io/";

/// Keeps the metadata fields the index reads, and only weft's annotations.
pub fn meta(m: ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resource_version: m.resource_version,
        creation_timestamp: m.creation_timestamp,
        labels: m.labels,
        // TrafficMetrics name a pod's Deployment, StatefulSet or DaemonSet.
        owner_references: m.owner_references,
        annotations: m.annotations.map(|a| {
            a.into_iter()
                .filter(|(k, _)| k.starts_with(WEFT_PREFIX))
                .collect()
        }),
        ..ObjectMeta::default()
    }
}

/// Drops what is most of a typical object's metadata and is never read:
/// its managed fields and kubectl's last-applied copy of the whole object.
pub fn strip_metadata(m: &mut ObjectMeta) {
    m.managed_fields = None;
    if let Some(a) = m.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

pub fn pod(p: Pod) -> Pod {
    let container = |c: Container| Container {
        // The proxy's image says which weft release runs in the pod
        // (`weft dashboard` shows it); an app's image is never read.
        image: c.image.filter(|_| c.name == PROXY_CONTAINER),
        name: c.name,
        ports: c.ports,
        liveness_probe: c.liveness_probe,
        readiness_probe: c.readiness_probe,
        startup_probe: c.startup_probe,
        restart_policy: c.restart_policy,
        ..Container::default()
    };
    Pod {
        metadata: meta(p.metadata),
        spec: p.spec.map(|s| PodSpec {
            service_account_name: s.service_account_name,
            host_network: s.host_network,
            containers: s.containers.into_iter().map(container).collect(),
            init_containers: s
                .init_containers
                .map(|cs| cs.into_iter().map(container).collect()),
            ..PodSpec::default()
        }),
        status: p.status.map(|s| PodStatus {
            phase: s.phase,
            pod_ip: s.pod_ip,
            pod_ips: s.pod_ips,
            ..PodStatus::default()
        }),
    }
}

/// A node as the index reads it: its name and pod CIDRs. Nothing else, so
/// that its frequent status updates leave the index untouched.
pub fn node(n: Node) -> Node {
    Node {
        metadata: ObjectMeta {
            name: n.metadata.name,
            ..ObjectMeta::default()
        },
        spec: n.spec.map(|s| NodeSpec {
            pod_cidr: s.pod_cidr,
            pod_cidrs: s.pod_cidrs,
            ..NodeSpec::default()
        }),
        status: None,
    }
}

/// A ServiceCIDR as the index reads it: its name and CIDRs.
pub fn service_cidr(c: ServiceCIDR) -> ServiceCIDR {
    ServiceCIDR {
        metadata: ObjectMeta {
            name: c.metadata.name,
            ..ObjectMeta::default()
        },
        spec: c.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_slim_pod_keeps_what_policy_reads() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "shop", "uid": "u1",
                "labels": {"app": "web"},
                "annotations": {"weft.io/default-policy": "deny", "kubectl.kubernetes.io/restartedAt": "x"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {
                "serviceAccountName": "web",
                "initContainers": [{"name": "weft-proxy", "image": "weft/proxy", "restartPolicy": "Always",
                                    "env": [{"name": "A", "value": "b"}]}],
                "containers": [{"name": "app", "image": "app", "ports": [{"containerPort": 8080, "name": "http"}],
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                                "env": [{"name": "BIG", "value": "x"}]}],
                "volumes": [{"name": "v", "emptyDir": {}}]
            },
            "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}],
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let s = pod(p);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json["metadata"]["annotations"],
            json!({"weft.io/default-policy": "deny"})
        );
        assert!(json["metadata"].get("managedFields").is_none());
        assert_eq!(json["spec"]["serviceAccountName"], "web");
        assert_eq!(json["spec"]["initContainers"][0]["restartPolicy"], "Always");
        assert_eq!(
            json["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"],
            "/ready"
        );
        assert_eq!(json["spec"]["containers"][0]["ports"][0]["name"], "http");
        assert!(json["spec"]["containers"][0].get("env").is_none());
        assert_eq!(json["spec"]["initContainers"][0]["image"], "weft/proxy");
        assert!(json["spec"]["containers"][0].get("image").is_none());
        assert!(json["spec"].get("volumes").is_none());
        assert_eq!(json["status"]["podIP"], "10.0.0.5");
        assert!(json["status"].get("conditions").is_none());
    }
}
