//! `weft inject`: the webhook's `patch_for`, applied offline to manifests.
//!
//! Pods and the pod templates of Deployments, StatefulSets, DaemonSets,
//! ReplicaSets, Jobs and CronJobs are injected (recursively inside `List`
//! documents); every other document passes through unchanged. Injecting an
//! injected manifest changes nothing.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use weft_api::contract::annotations as a;
use weft_injector::{InjectConfig, NamespaceMeta, Reason, patch_for};

/// What happened to one pod or pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `Kind namespace/name`.
    pub object: String,
    /// `None` when injected.
    pub skipped: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("document {index}: {source}")]
    Parse {
        index: usize,
        source: serde_yaml::Error,
    },
    #[error("{object}: the pod template is not a valid pod: {source}")]
    Template {
        object: String,
        source: serde_json::Error,
    },
    #[error("{object}: {source}")]
    Patch {
        object: String,
        source: json_patch::PatchError,
    },
}

/// Injects every document of a multi-document YAML (or JSON) stream and
/// returns the YAML stream and a report per pod.
pub fn inject_stream(input: &str, cfg: &InjectConfig) -> Result<(String, Vec<Report>), Error> {
    let mut out = Vec::new();
    let mut reports = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(input).enumerate() {
        let mut value: Value = serde::Deserialize::deserialize(doc)
            .map_err(|source| Error::Parse { index, source })?;
        if value.is_null() {
            continue;
        }
        inject_value(&mut value, cfg, &mut reports)?;
        out.push(serde_yaml::to_string(&value).expect("JSON values serialise to YAML"));
    }
    Ok((out.join("---\n"), reports))
}

/// Injects one object in place.
pub fn inject_value(
    v: &mut Value,
    cfg: &InjectConfig,
    reports: &mut Vec<Report>,
) -> Result<(), Error> {
    let kind = v["kind"].as_str().unwrap_or_default().to_string();
    let object = format!(
        "{kind} {}/{}",
        v["metadata"]["namespace"].as_str().unwrap_or("default"),
        v["metadata"]["name"].as_str().unwrap_or("<unnamed>")
    );
    let namespace = v["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let template = match kind.as_str() {
        "List" => {
            if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
                for item in items {
                    inject_value(item, cfg, reports)?;
                }
            }
            return Ok(());
        }
        "Pod" => None,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            Some(&["spec", "template"][..])
        }
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template"][..]),
        _ => return Ok(()),
    };
    match template {
        None => {
            let skipped = inject_pod(v, &namespace, cfg, &object)?;
            reports.push(Report { object, skipped });
        }
        Some(path) => {
            let Some(t) = path.iter().try_fold(&mut *v, |v, k| v.get_mut(*k)) else {
                return Ok(());
            };
            // A template is a pod without kind: patch it as one.
            let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": t.get("metadata").cloned().unwrap_or(json!({})), "spec": t.get("spec").cloned().unwrap_or(json!({}))});
            let skipped = inject_pod(&mut pod, &namespace, cfg, &object)?;
            t["metadata"] = pod["metadata"].take();
            t["spec"] = pod["spec"].take();
            reports.push(Report { object, skipped });
        }
    }
    Ok(())
}

fn inject_pod(
    pod: &mut Value,
    namespace: &str,
    cfg: &InjectConfig,
    object: &str,
) -> Result<Option<String>, Error> {
    let typed: Pod = serde_json::from_value(pod.clone()).map_err(|source| Error::Template {
        object: object.to_string(),
        source,
    })?;
    // Asking for injection is the user's statement that the namespace is
    // meshed; the pod's own `disabled` still wins.
    let ns = NamespaceMeta {
        name: namespace.to_string(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::from([(a::INJECT.into(), a::INJECT_ENABLED.into())]),
    };
    match patch_for(&typed, &ns, cfg) {
        Ok(inj) => {
            json_patch::patch(pod, &inj.patch).map_err(|source| Error::Patch {
                object: object.to_string(),
                source,
            })?;
            Ok(None)
        }
        Err(Reason::AlreadyInjected) => Ok(None),
        Err(r) => Ok(Some(r.to_string())),
    }
}

/// The mesh's trust anchors as the control plane publishes them (the
/// ConfigMap `weft-mesh-trust-anchors` in `namespace`).
pub async fn cluster_anchors(namespace: &str) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let hint = "pass --trust-anchors FILE to inject without a cluster";
    let client = kube::Client::try_default()
        .await
        .with_context(|| format!("no cluster to read the trust anchors from: {hint}"))?;
    let cm = kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client, namespace)
        .get("weft-mesh-trust-anchors")
        .await
        .with_context(|| {
            format!("reading the ConfigMap {namespace}/weft-mesh-trust-anchors (is weft installed? {hint})")
        })?;
    cm.data
        .and_then(|d| d.get("ca-bundle.pem").cloned())
        .filter(|pem| !pem.trim().is_empty())
        .with_context(|| format!("{namespace}/weft-mesh-trust-anchors has no ca-bundle.pem"))
}
