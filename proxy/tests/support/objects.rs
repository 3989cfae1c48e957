//! Kubernetes and SMI objects for the index, shaped as the API server
//! serves them: Services with a cluster IP and named ports, EndpointSlices
//! labelled with their Service and naming their pods in `targetRef`s, and
//! the SMI kinds at their latest versions. Everything lives in `shop`.

use serde_json::{Value, json};
use weft_controller::index::Resource;

/// Service `name` at `cluster_ip` with `ports` (name, port, targetPort).
pub fn service(name: &str, cluster_ip: &str, ports: &[(&str, u16, u16)]) -> Resource {
    let ports: Vec<_> = ports
        .iter()
        .map(|(n, p, t)| json!({"name": n, "port": p, "targetPort": t, "protocol": "TCP"}))
        .collect();
    Resource::Service(
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                "selector": {"app": name},
                "ports": ports
            }
        }))
        .unwrap(),
    )
}

/// The EndpointSlice of Service `svc` with `ports` (name, port) and a ready
/// endpoint for each of `pods` (name, IP). A slice holds one family: IPv6
/// when the addresses are.
pub fn endpoint_slice(svc: &str, ports: &[(&str, u16)], pods: &[(&str, &str)]) -> Resource {
    // A Service has a slice per family, under different generated names.
    let (family, name) = if pods.first().is_some_and(|(_, ip)| ip.contains(':')) {
        ("IPv6", format!("{svc}-q9m4v"))
    } else {
        ("IPv4", format!("{svc}-x7k2p"))
    };
    let ports: Vec<_> = ports
        .iter()
        .map(|(n, p)| json!({"name": n, "port": p, "protocol": "TCP"}))
        .collect();
    let endpoints: Vec<_> = pods
        .iter()
        .map(|(pod, ip)| {
            json!({
                "addresses": [ip],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "targetRef": {"kind": "Pod", "namespace": "shop", "name": pod}
            })
        })
        .collect();
    Resource::EndpointSlice(
        serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {
                "name": name, "namespace": "shop",
                "labels": {
                    "kubernetes.io/service-name": svc,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"
                }
            },
            "addressType": family,
            "ports": ports,
            "endpoints": endpoints
        }))
        .unwrap(),
    )
}

/// TrafficSplit `name` of root Service `root` over `backends` (Service,
/// weight).
pub fn traffic_split(name: &str, root: &str, backends: &[(&str, u32)]) -> Resource {
    let backends: Vec<_> = backends
        .iter()
        .map(|(s, w)| json!({"service": s, "weight": w}))
        .collect();
    Resource::TrafficSplit(
        serde_json::from_value(json!({
            "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"service": root, "backends": backends}
        }))
        .unwrap(),
    )
}

/// HTTPRouteGroup `name` with `matches`, each an SMI match object.
pub fn route_group(name: &str, matches: Value) -> Resource {
    Resource::HttpRouteGroup(
        serde_json::from_value(json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"matches": matches}
        }))
        .unwrap(),
    )
}

/// TCPRoute `name` matching `ports`.
pub fn tcp_route(name: &str, ports: &[u16]) -> Resource {
    Resource::TcpRoute(
        serde_json::from_value(json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"matches": {"ports": ports}}
        }))
        .unwrap(),
    )
}

/// TrafficTarget `name`: ServiceAccount `dest` from the ServiceAccounts
/// `sources`, by `rules` (kind, name, matches; no matches = the whole
/// route).
pub fn traffic_target(
    name: &str,
    dest: &str,
    sources: &[&str],
    rules: &[(&str, &str, &[&str])],
) -> Resource {
    let sources: Vec<_> = sources
        .iter()
        .map(|sa| json!({"kind": "ServiceAccount", "name": sa, "namespace": "shop"}))
        .collect();
    let rules: Vec<_> = rules
        .iter()
        .map(|(kind, name, matches)| {
            let mut r = json!({"kind": kind, "name": name});
            if !matches.is_empty() {
                r["matches"] = json!(matches);
            }
            r
        })
        .collect();
    Resource::TrafficTarget(
        serde_json::from_value(json!({
            "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "destination": {"kind": "ServiceAccount", "name": dest, "namespace": "shop"},
                "sources": sources,
                "rules": rules
            }
        }))
        .unwrap(),
    )
}
