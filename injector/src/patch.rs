//! The JSON patch (RFC 6902) that injects a pod.

use crate::{
    InjectConfig, NamespaceMeta, Reason, annotations, containers,
    decision::{self},
    probes,
};
use json_patch::{AddOperation, Patch, PatchOperation, jsonptr::PointerBuf};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use weft_api::contract::annotations as a;

/// The outcome for one pod.
#[derive(Clone, Debug, PartialEq)]
pub struct Injection {
    pub patch: Patch,
}

/// Builds the patch that injects `pod`, or says why it is not injected.
///
/// The patch is valid whether or not the pod already has annotations, init
/// containers or volumes: it creates each list before appending to it.
pub fn patch_for(pod: &Pod, ns: &NamespaceMeta, cfg: &InjectConfig) -> Result<Injection, Reason> {
    decision::decide(pod, ns, cfg)?;
    let ann = pod.metadata.annotations.clone().unwrap_or_default();
    let o = annotations::overrides(&ann)?;
    let spec = pod.spec.as_ref().ok_or(Reason::NotEnabled)?;

    let mut ops = status_ops(pod, "injected");
    // Before the init containers are inserted: the pointers index the
    // pod's own lists.
    let (rewrites, moved) = probes::rewrite(spec);
    for r in rewrites {
        let tokens: Vec<&str> = r.pointer.iter().map(String::as_str).collect();
        ops.push(add(&tokens, to_value(r.probe)));
    }
    let init = to_value(containers::init_container(cfg, &o));
    let proxy = to_value(containers::proxy_container(
        cfg,
        &o,
        &inbound_ports(spec, &o),
        &moved,
    ));
    if spec.init_containers.as_ref().is_none_or(Vec::is_empty) {
        ops.push(add(&["spec", "initContainers"], json!([init, proxy])));
    } else {
        // Inserted at the front, proxy first so that init ends up before it:
        // both run before the app's own init containers.
        ops.push(add(&["spec", "initContainers", "0"], proxy));
        ops.push(add(&["spec", "initContainers", "0"], init));
    }
    let vols: Vec<Value> = containers::volumes().into_iter().map(to_value).collect();
    if spec.volumes.as_ref().is_none_or(Vec::is_empty) {
        ops.push(add(&["spec", "volumes"], Value::Array(vols)));
    } else {
        for v in vols {
            ops.push(add(&["spec", "volumes", "-"], v));
        }
    }
    Ok(Injection { patch: Patch(ops) })
}

/// A patch recording why a pod was not injected, on the pod itself.
pub fn skip_patch(pod: &Pod, reason: &Reason) -> Patch {
    Patch(status_ops(pod, &format!("skipped: {reason}")))
}

fn status_ops(pod: &Pod, status: &str) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    if pod.metadata.annotations.is_none() {
        ops.push(add(&["metadata", "annotations"], json!({})));
    }
    // `add` replaces an existing value, so re-running is harmless.
    ops.push(add(
        &["metadata", "annotations", a::INJECT_STATUS],
        Value::from(status),
    ));
    ops
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    // PointerBuf escapes `/` and `~` in tokens (`weft.io~1inject-status`).
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

fn to_value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("Kubernetes types serialise to JSON")
}

/// The app containers' declared TCP ports the proxy intercepts (not those
/// the pod skips), for the proxy to fetch their policy before it is ready.
fn inbound_ports(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    o: &annotations::Overrides,
) -> Vec<u16> {
    let mut ports: Vec<u16> = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.protocol.as_deref().is_none_or(|proto| proto == "TCP"))
        .filter_map(|p| u16::try_from(p.container_port).ok())
        .filter(|p| !o.skip_inbound_ports.iter().any(|s| in_range(s, *p)))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Whether `port` is the skip entry `s` (`8080` or `8000-8010`).
fn in_range(s: &str, port: u16) -> bool {
    let n = |v: &str| v.trim().parse::<u16>().ok();
    match s.split_once('-') {
        Some((lo, hi)) => n(lo)
            .zip(n(hi))
            .is_some_and(|(lo, hi)| (lo..=hi).contains(&port)),
        None => n(s) == Some(port),
    }
}
