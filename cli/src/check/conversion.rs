//! The SMI CRDs' conversion webhook: the CRDs point at weft-conversion, it
//! has an endpoint, and no object waits on it to be read at the storage
//! version.

use super::Line;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// The Service the controller points the CRDs at.
pub const SERVICE: &str = "weft-conversion";

/// Judges the five CRDs as read (`None`: not installed) and how many ready
/// endpoints the webhook's Service has.
pub fn judge(
    crds: &[(String, Option<CustomResourceDefinition>)],
    endpoints: usize,
    namespace: &str,
) -> Line {
    let check = "SMI conversion";
    let logs = format!("kubectl -n {namespace} logs deploy/weft-controller | grep -i conversion");
    let missing: Vec<&str> = crds
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    if !missing.is_empty() {
        return Line::fail(
            check,
            format!("CRDs not installed: {}", missing.join(", ")),
            "kubectl apply --server-side -f charts/weft/crds/",
        );
    }
    let crds: Vec<(&str, &CustomResourceDefinition)> = crds
        .iter()
        .filter_map(|(n, c)| c.as_ref().map(|c| (n.as_str(), c)))
        .collect();
    let unpointed: Vec<&str> = crds
        .iter()
        .filter(|(_, c)| {
            let svc = c
                .spec
                .conversion
                .as_ref()
                .and_then(|c| c.webhook.as_ref())
                .and_then(|w| w.client_config.as_ref())
                .and_then(|c| c.service.as_ref());
            !svc.is_some_and(|s| s.name == SERVICE && s.namespace == namespace)
        })
        .map(|(n, _)| *n)
        .collect();
    if endpoints == 0 {
        return Line::fail(
            check,
            format!(
                "no endpoint behind the {SERVICE} Service: reads and writes at older SMI versions fail (Flagger's smi and linkerd providers among them)"
            ),
            format!("kubectl -n {namespace} get pods -l app.kubernetes.io/component=controller"),
        );
    }
    if !unpointed.is_empty() {
        return Line::warn(
            check,
            format!(
                "not yet pointed at {SERVICE}: {}; older versions read back as stored until the controller does",
                unpointed.join(", ")
            ),
            logs,
        );
    }
    let old: Vec<String> = crds
        .iter()
        .filter_map(|(n, c)| {
            let storage = c.spec.versions.iter().find(|v| v.storage)?;
            let stored = c.status.as_ref()?.stored_versions.as_ref()?;
            stored
                .iter()
                .any(|v| *v != storage.name)
                .then(|| format!("{n} ({})", stored.join(", ")))
        })
        .collect();
    if !old.is_empty() {
        return Line::warn(
            check,
            format!(
                "objects may still be stored at an older version: {}; reading them needs the webhook until the controller moves them",
                old.join("; ")
            ),
            logs,
        );
    }
    Line::pass(
        check,
        format!(
            "{} CRDs convert through {SERVICE} ({endpoints} endpoint(s)); every object stored at the latest version",
            crds.len()
        ),
    )
}
