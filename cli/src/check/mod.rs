//! `weft check`: is the cluster ready for weft (`--pre`), and is weft
//! working in it. Each check is a pure function over objects the caller
//! listed ([`cluster`] lists them), so every verdict is unit-tested.

pub mod cluster;
pub mod conversion;
pub mod gateway;
pub mod metrics_api;
pub mod proxy_trust;

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Namespace, Pod},
};
use serde::Serialize;
use std::fmt::Write as _;
use weft_api::contract::{annotations as a, pod as names};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Worth knowing; does not fail the check.
    Warn,
    Fail,
}

#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do about a warning or failure.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
}

impl Line {
    pub fn pass(check: &str, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Pass, detail, "")
    }
    pub fn fail(check: &str, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(check, Status::Fail, detail, hint)
    }
    pub fn warn(check: &str, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(check, Status::Warn, detail, hint)
    }
    fn new(
        check: &str,
        status: Status,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            status,
            detail: detail.into(),
            hint: hint.into(),
        }
    }
}

pub fn failed(lines: &[Line]) -> bool {
    lines.iter().any(|l| l.status == Status::Fail)
}

/// One line per check: ✔, ! or ✘, then the hint indented below.
pub fn render(lines: &[Line]) -> String {
    let mut out = String::new();
    for l in lines {
        let mark = match l.status {
            Status::Pass => "✔",
            Status::Warn => "!",
            Status::Fail => "✘",
        };
        let _ = writeln!(out, "{mark} {}: {}", l.check, l.detail);
        if !l.hint.is_empty() {
            let _ = writeln!(out, "    hint: {}", l.hint);
        }
    }
    let (f, w) = (
        lines.iter().filter(|l| l.status == Status::Fail).count(),
        lines.iter().filter(|l| l.status == Status::Warn).count(),
    );
    let _ = match (f, w) {
        (0, 0) => writeln!(out, "all {} checks passed", lines.len()),
        (0, w) => writeln!(out, "passed, with {w} warning(s)"),
        (f, _) => writeln!(out, "{f} of {} checks failed", lines.len()),
    };
    out
}

/// Native sidecars (restartable init containers) are on by default from
/// Kubernetes 1.29; weft's proxy is one.
pub fn kubernetes_version(major: &str, minor: &str) -> Line {
    let check = "kubernetes version";
    let minor_n: u32 = minor.trim_end_matches('+').parse().unwrap_or(0);
    if major == "1" && minor_n >= 29 {
        Line::pass(check, format!("1.{minor_n} supports native sidecars"))
    } else {
        Line::fail(
            check,
            format!(
                "{major}.{minor} is too old: the proxy runs as a native sidecar (1.29 or later)"
            ),
            "upgrade the cluster to Kubernetes 1.29 or later",
        )
    }
}

/// An SMI CRD that exists must serve the version weft reads.
pub fn crd(name: &str, needed: &str, served: Option<&[String]>) -> Line {
    let check = "SMI CRD";
    match served {
        None => Line::pass(
            check,
            format!("{name} not installed yet (the chart installs it)"),
        ),
        Some(v) if v.iter().any(|s| s == needed) => {
            Line::pass(check, format!("{name} serves {needed}"))
        }
        Some(v) => Line::fail(
            check,
            format!(
                "{name} exists but serves only {} (weft reads {needed})",
                v.join(", ")
            ),
            "another mesh installed older SMI CRDs; remove them or install weft's from charts/weft/crds",
        ),
    }
}

/// A control-plane Deployment with every replica available.
pub fn deployment(name: &str, d: Option<&Deployment>) -> Line {
    let check = "control plane";
    let Some(d) = d else {
        return Line::fail(
            check,
            format!("{name} not found"),
            "install weft: helm upgrade --install weft charts/weft -n weft-system --create-namespace",
        );
    };
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let have = d
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    if have >= want && want > 0 {
        Line::pass(check, format!("{name}: {have}/{want} available"))
    } else {
        Line::fail(
            check,
            format!("{name}: {have}/{want} available"),
            format!(
                "kubectl -n <namespace> describe deployment {name}; kubectl -n <namespace> logs deploy/{name}"
            ),
        )
    }
}

/// Days until a certificate expires, and whether that is enough.
pub fn certificate(what: &str, days_left: i64) -> Line {
    let check = "certificate";
    if days_left < 0 {
        Line::fail(
            check,
            format!("{what} expired {} day(s) ago", -days_left),
            "rotate it now (see docs/identity.md)",
        )
    } else if days_left < 7 {
        Line::fail(
            check,
            format!("{what} expires in {days_left} day(s)"),
            "rotate it (see docs/identity.md)",
        )
    } else if days_left < 30 {
        Line::warn(
            check,
            format!("{what} expires in {days_left} days"),
            "plan its rotation (see docs/identity.md)",
        )
    } else {
        Line::pass(check, format!("{what}: {days_left} days left"))
    }
}

/// The networks weft-controller treats as inside the cluster: the nodes'
/// pod CIDRs, the ServiceCIDRs and `mesh.clusterNetworks`. Without a pod
/// network, an address of a pod the controller has not seen yet would be
/// answered "not meshed" and reached in plaintext.
pub fn cluster_networks(pods: &[String], services: &[String], extra: &[String]) -> Line {
    let check = "cluster networks";
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_string()
        } else {
            l.join(",")
        }
    };
    let detail = format!(
        "pods {} (nodes' podCIDRs), services {} (ServiceCIDRs), added {} (mesh.clusterNetworks)",
        list(pods),
        list(services),
        list(extra)
    );
    if pods.is_empty() && extra.is_empty() {
        Line::warn(
            check,
            detail,
            "no node publishes spec.podCIDRs: list your pod network in mesh.clusterNetworks, or the address of a pod weft-controller has not seen yet is reached without mTLS",
        )
    } else if services.is_empty() && extra.is_empty() {
        Line::warn(
            check,
            detail,
            "no ServiceCIDR (Kubernetes older than 1.33?): list your Service range in mesh.clusterNetworks",
        )
    } else {
        Line::pass(check, detail)
    }
}

fn has_proxy(p: &Pod) -> bool {
    p.spec.as_ref().is_some_and(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(&s.containers)
            .any(|c| c.name == names::PROXY_CONTAINER)
    })
}

fn pod_name(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or(""),
        p.metadata.name.as_deref().unwrap_or("")
    )
}

fn listing(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// Pods in injected namespaces that run without a proxy (created before
/// the annotation, or while the webhook was down), except those that opted
/// out or share the node's network.
pub fn unmeshed_pods(namespaces: &[Namespace], pods: &[Pod]) -> Line {
    let check = "meshed pods";
    let injected: Vec<&str> = namespaces
        .iter()
        .filter(|n| {
            n.metadata
                .annotations
                .as_ref()
                .and_then(|m| m.get(a::INJECT))
                .is_some_and(|v| v == a::INJECT_ENABLED)
        })
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    let missing: Vec<String> = pods
        .iter()
        .filter(|p| injected.contains(&p.metadata.namespace.as_deref().unwrap_or("")))
        .filter(|p| !has_proxy(p))
        .filter(|p| {
            let opted_out = p
                .metadata
                .annotations
                .as_ref()
                .and_then(|m| m.get(a::INJECT))
                .is_some_and(|v| v == a::INJECT_DISABLED);
            let host = p
                .spec
                .as_ref()
                .and_then(|s| s.host_network)
                .unwrap_or(false);
            let done = p
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_some_and(|ph| ph == "Succeeded" || ph == "Failed");
            !opted_out && !host && !done
        })
        .map(pod_name)
        .collect();
    if missing.is_empty() {
        Line::pass(
            check,
            format!(
                "every pod in the {} injected namespace(s) has a proxy",
                injected.len()
            ),
        )
    } else {
        Line::fail(
            check,
            format!(
                "{} pod(s) in injected namespaces run without a proxy: {}",
                missing.len(),
                listing(&missing)
            ),
            "they predate the annotation or the webhook was unreachable: kubectl rollout restart their workloads",
        )
    }
}

/// UDP is never redirected to the proxy, so it is neither encrypted nor
/// authorized.
pub fn udp_ports(pods: &[Pod]) -> Line {
    let check = "UDP on meshed pods";
    let udp: Vec<String> = pods
        .iter()
        .filter(|p| has_proxy(p))
        .filter(|p| {
            p.spec.as_ref().is_some_and(|s| {
                s.containers
                    .iter()
                    .flat_map(|c| c.ports.iter().flatten())
                    .any(|port| port.protocol.as_deref() == Some("UDP"))
            })
        })
        .map(pod_name)
        .collect();
    if udp.is_empty() {
        Line::pass(check, "no meshed pod declares a UDP port")
    } else {
        Line::warn(
            check,
            format!(
                "{} meshed pod(s) declare UDP ports, which the proxy does not carry: {}",
                udp.len(),
                listing(&udp)
            ),
            "UDP between these pods is neither encrypted nor authorized by weft",
        )
    }
}

/// Every meshed pod's proxy is ready, which it is only once it holds a
/// certificate and the policy of each app port.
pub fn proxies_ready(pods: &[Pod]) -> Line {
    let check = "proxies";
    let meshed: Vec<&Pod> = pods
        .iter()
        .filter(|p| has_proxy(p))
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect();
    let not_ready: Vec<String> = meshed
        .iter()
        .filter(|p| {
            !p.status.as_ref().is_some_and(|s| {
                s.init_container_statuses
                    .iter()
                    .flatten()
                    .chain(s.container_statuses.iter().flatten())
                    .any(|c| c.name == names::PROXY_CONTAINER && c.ready)
            })
        })
        .map(|p| pod_name(p))
        .collect();
    if meshed.is_empty() {
        Line::warn(
            check,
            "no meshed pod is running",
            "annotate a namespace with weft.io/inject=enabled and restart its workloads",
        )
    } else if not_ready.is_empty() {
        Line::pass(
            check,
            format!(
                "{} proxies ready (each holds a certificate and its policy)",
                meshed.len()
            ),
        )
    } else {
        Line::fail(
            check,
            format!(
                "{} of {} proxies not ready: {}",
                not_ready.len(),
                meshed.len(),
                listing(&not_ready)
            ),
            "kubectl logs <pod> -c weft-proxy (a proxy is ready once it holds a certificate and each port's policy)",
        )
    }
}

#[cfg(test)]
mod tests;
