//! Whether a pod is injected, and if not, why.

use crate::{InjectConfig, annotations::AnnotationError};
use k8s_openapi::api::core::v1::{Pod, SecurityContext};
use std::collections::BTreeMap;
use weft_api::contract::{annotations as a, pod as names, proxy_user};

/// The namespace metadata the decision needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceMeta {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Label of the Pod Security admission's enforced level.
pub const POD_SECURITY_ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// Why a pod is not injected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("injection is not enabled for this pod or its namespace")]
    NotEnabled,
    #[error("the pod sets {} to disabled", a::INJECT)]
    DisabledByPod,
    #[error("{key}={value:?} is neither `enabled` nor `disabled`")]
    InvalidInjectValue { key: &'static str, value: String },
    #[error(
        "the pod uses the host network: the proxy cannot redirect its traffic without affecting the node"
    )]
    HostNetwork,
    #[error("the pod already has the {} container", names::PROXY_CONTAINER)]
    AlreadyInjected,
    #[error("namespace {0} runs weft's control plane, which is never injected")]
    ControlPlane(String),
    #[error(
        "namespace {namespace} enforces Pod Security `{level}`, which forbids the NET_ADMIN capability weft-init needs"
    )]
    PodSecurity { namespace: String, level: String },
    #[error(
        "container {0} runs as the proxy's UID {uid}: its traffic would bypass the proxy",
        uid = proxy_user::UID
    )]
    RunsAsProxyUid(String),
    #[error(
        "container {0} runs with the proxy's GID {gid} as its group: its traffic would bypass the proxy",
        gid = proxy_user::GID
    )]
    RunsAsProxyGid(String),
    #[error("this Kubernetes does not support native sidecars (1.29 or later is needed)")]
    NoNativeSidecars,
    #[error(transparent)]
    BadAnnotation(#[from] AnnotationError),
}

impl Reason {
    /// Whether the reason is worth a warning and a note on the pod. Pods
    /// nobody asked to inject, and pods already injected, pass silently.
    pub fn is_notable(&self) -> bool {
        !matches!(self, Self::NotEnabled | Self::AlreadyInjected)
    }
}

/// Decides whether `pod` is injected; `Ok(())` means inject.
pub fn decide(pod: &Pod, ns: &NamespaceMeta, cfg: &InjectConfig) -> Result<(), Reason> {
    let pod_ann = pod.metadata.annotations.clone().unwrap_or_default();
    let wanted = |ann: &BTreeMap<String, String>| -> Result<Option<bool>, Reason> {
        match ann.get(a::INJECT).map(|v| v.trim()) {
            None => Ok(None),
            Some(a::INJECT_ENABLED) => Ok(Some(true)),
            Some(a::INJECT_DISABLED) => Ok(Some(false)),
            Some(v) => Err(Reason::InvalidInjectValue {
                key: a::INJECT,
                value: v.to_string(),
            }),
        }
    };
    match (wanted(&pod_ann)?, wanted(&ns.annotations)?) {
        (Some(false), _) => return Err(Reason::DisabledByPod),
        (Some(true), _) | (None, Some(true)) => {}
        (None, _) => return Err(Reason::NotEnabled),
    }
    let spec = pod.spec.as_ref().ok_or(Reason::NotEnabled)?;
    let has_proxy = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .any(|c| c.name == names::PROXY_CONTAINER);
    if has_proxy {
        return Err(Reason::AlreadyInjected);
    }
    if ns.name == cfg.control_plane_namespace {
        return Err(Reason::ControlPlane(ns.name.clone()));
    }
    if spec.host_network == Some(true) {
        return Err(Reason::HostNetwork);
    }
    if let Some(level) = ns.labels.get(POD_SECURITY_ENFORCE)
        && (level == "baseline" || level == "restricted")
    {
        return Err(Reason::PodSecurity {
            namespace: ns.name.clone(),
            level: level.clone(),
        });
    }
    // weft-init exempts the proxy's UID and its GID from redirection, so
    // an app container running as either would talk past the proxy. A
    // supplemental group (fsGroup, supplementalGroups) is not matched by
    // the rule, and an image's own USER cannot be seen here (docs/security.md).
    let pod_sc = spec.security_context.as_ref();
    let (pod_uid, pod_gid) = (
        pod_sc.and_then(|s| s.run_as_user),
        pod_sc.and_then(|s| s.run_as_group),
    );
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
    {
        let sc: Option<&SecurityContext> = c.security_context.as_ref();
        if sc.and_then(|s| s.run_as_user).or(pod_uid) == Some(i64::from(proxy_user::UID)) {
            return Err(Reason::RunsAsProxyUid(c.name.clone()));
        }
        if sc.and_then(|s| s.run_as_group).or(pod_gid) == Some(i64::from(proxy_user::GID)) {
            return Err(Reason::RunsAsProxyGid(c.name.clone()));
        }
    }
    if !cfg.native_sidecars {
        return Err(Reason::NoNativeSidecars);
    }
    crate::annotations::default_policy(&pod_ann)?;
    crate::annotations::allow_unauthenticated_from(&pod_ann)?;
    Ok(())
}
