//! What the index needs to know about a pod.

use super::Config;
use k8s_openapi::api::core::v1::{Container, Pod};
use std::collections::BTreeSet;
use std::net::IpAddr;
use weft_api::contract::pod::{INIT_CONTAINER, PROXY_CONTAINER, SKIP_INBOUND_PORTS_ARG};
use weft_tls::SpiffeId;

/// Whether the injector gave the pod its proxy. The container is what
/// matters, not the `inject-status` annotation: a pod with the annotation but
/// no proxy (edited, or injected by hand and reverted) has nobody to enforce
/// policy, and clients must not expect mesh TLS from it.
pub(crate) fn is_meshed(pod: &Pod) -> bool {
    proxy_container(pod).is_some()
}

/// The proxy the injector added: a native sidecar (an init container), or
/// a regular container in older injections.
pub(crate) fn proxy_container(pod: &Pod) -> Option<&Container> {
    let s = pod.spec.as_ref()?;
    s.init_containers
        .iter()
        .flatten()
        .chain(s.containers.iter())
        .find(|c| c.name == PROXY_CONTAINER)
}

pub(crate) fn service_account(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| {
            #[allow(deprecated)]
            s.service_account_name
                .as_deref()
                .or(s.service_account.as_deref())
        })
        .filter(|sa| !sa.is_empty())
        .unwrap_or("default")
}

/// The SPIFFE id of the pod's ServiceAccount.
pub(crate) fn identity(cfg: &Config, ns: &str, pod: &Pod) -> Option<String> {
    SpiffeId::new(&cfg.trust_domain, ns, service_account(pod))
        .ok()
        .map(|id| id.as_str().to_owned())
}

/// The pod's IPs, whatever its state.
pub(crate) fn ips(pod: &Pod) -> BTreeSet<IpAddr> {
    let Some(status) = &pod.status else {
        return BTreeSet::new();
    };
    status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .chain(status.pod_ip.as_deref())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Whether traffic to the pod's IPs reaches the pod: host-network pods share
/// the node's address, and finished pods' addresses get reused.
pub(crate) fn routable(pod: &Pod) -> bool {
    let host = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed");
    !host && !finished
}

/// The containers whose probes the kubelet sends through the proxy: every
/// container but the proxy itself (whose probes target its admin port,
/// which is never redirected).
pub(crate) fn app_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec
        .iter()
        .flat_map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(s.containers.iter())
        })
        .filter(|c| c.name != PROXY_CONTAINER)
}

/// Whether the pod's proxy intercepts `port`: not its admin or metrics
/// port, and not a port weft-init left alone. Mesh TLS sent to a port that
/// is not intercepted would reach the app (or the admin server) raw.
///
/// The skipped ports are read from weft-init's arguments, which are what it
/// applied and cannot change while the pod lives; annotations can be edited
/// at any time, and a later `skip-inbound-ports` on the pod or its
/// namespace must not turn clients' mesh TLS into plaintext.
pub(crate) fn intercepts(pod: &Pod, port: u16) -> bool {
    use weft_api::contract::ports::{ADMIN, PROXY_METRICS};
    if port == ADMIN || port == PROXY_METRICS {
        return false;
    }
    !skipped_inbound_ports(pod).contains(port)
}

fn skipped_inbound_ports(pod: &Pod) -> super::annotations::PortSet {
    let args = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .filter(|c| c.name == INIT_CONTAINER)
        .flat_map(|c| c.args.iter().flatten());
    let lists: Vec<&str> = args
        .filter_map(|a| a.strip_prefix(SKIP_INBOUND_PORTS_ARG))
        .collect();
    super::annotations::port_set(&lists.join(","))
}
