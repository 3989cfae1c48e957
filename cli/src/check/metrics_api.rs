//! The metrics APIService: while the aggregator cannot discover an API
//! group, Kubernetes finishes deleting no namespace in the cluster and the
//! garbage collector stalls, so this check fails loudly.

use super::Line;
use serde_json::Value;

/// The APIService weft registers.
pub const APISERVICE: &str = "v1alpha1.metrics.smi-spec.io";
const GROUP: &str = "metrics.smi-spec.io";

const CONSEQUENCE: &str = "until it is, every `kubectl delete namespace` in the cluster stays \
    Terminating and the garbage collector and quota controller stall (stale discovery)";

/// Judges the APIService object (`None`: not registered) and the
/// cluster's aggregated discovery document for `/apis`.
pub fn judge(apiservice: Option<&Value>, discovery: Option<&Value>, namespace: &str) -> Line {
    let check = "metrics API";
    let logs = format!(
        "kubectl -n {namespace} logs deploy/weft-controller; kubectl describe apiservice {APISERVICE}"
    );
    let Some(svc) = apiservice else {
        return Line::warn(
            check,
            format!("APIService {APISERVICE} is not registered: SMI TrafficMetrics are not served"),
            "reinstall the chart",
        );
    };
    let available = svc["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Available");
    match available {
        Some(c) if c["status"] == "True" => {}
        other => {
            let why = other.map_or("no Available condition yet".to_string(), |c| {
                format!(
                    "{}: {}",
                    c["reason"].as_str().unwrap_or("?"),
                    c["message"].as_str().unwrap_or("")
                )
            });
            return Line::fail(
                check,
                format!("APIService {APISERVICE} is unavailable ({why}); {CONSEQUENCE}"),
                logs,
            );
        }
    }
    let freshness = discovery.and_then(|d| {
        d["items"]
            .as_array()?
            .iter()
            .find(|g| g["metadata"]["name"] == GROUP)?["versions"]
            .as_array()?
            .iter()
            .map(|v| v["freshness"].as_str().unwrap_or("Current"))
            .find(|f| *f != "Current")
            .or(Some("Current"))
    });
    match freshness {
        Some("Current") => Line::pass(
            check,
            format!("APIService {APISERVICE} available, discovery current"),
        ),
        Some(f) => Line::fail(
            check,
            format!("the API server's discovery of {GROUP} is {f}; {CONSEQUENCE}"),
            logs,
        ),
        None => Line::fail(
            check,
            format!("{GROUP} is missing from the API server's discovery; {CONSEQUENCE}"),
            logs,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use serde_json::json;

    fn svc(status: &str) -> Value {
        json!({"status": {"conditions": [{"type": "Available", "status": status,
            "reason": "FailedDiscoveryCheck", "message": "failing or missing response from https://10.0.0.1:443"}]}})
    }

    fn disco(freshness: &str) -> Value {
        json!({"items": [{"metadata": {"name": GROUP}, "versions": [{"version": "v1alpha1", "freshness": freshness}]}]})
    }

    #[test]
    fn fails_on_an_unavailable_apiservice_or_stale_discovery() {
        let line = judge(Some(&svc("False")), Some(&disco("Current")), "weft-system");
        assert_eq!(line.status, Status::Fail);
        assert!(
            line.detail.contains("FailedDiscoveryCheck") && line.detail.contains("Terminating"),
            "{}",
            line.detail
        );
        let line = judge(Some(&svc("True")), Some(&disco("Stale")), "weft-system");
        assert_eq!(line.status, Status::Fail);
        assert!(line.detail.contains("Stale"), "{}", line.detail);
        let line = judge(
            Some(&svc("True")),
            Some(&json!({"items": []})),
            "weft-system",
        );
        assert_eq!(line.status, Status::Fail);
        assert_eq!(
            judge(Some(&svc("True")), Some(&disco("Current")), "weft-system").status,
            Status::Pass
        );
        assert_eq!(judge(None, None, "weft-system").status, Status::Warn);
    }
}
