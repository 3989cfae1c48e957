//! `metrics.smi-spec.io/v1alpha1`: TrafficMetrics. An aggregated API served
//! by weft itself, so these are plain serde types, not a CRD.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Time};
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "metrics.smi-spec.io";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "metrics.smi-spec.io/v1alpha1";

/// The kinds TrafficMetrics are served for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    Namespace,
    TrafficSplit,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Namespace,
        Kind::TrafficSplit,
    ];

    /// The resource name in API paths.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Deployment => "deployments",
            Kind::StatefulSet => "statefulsets",
            Kind::DaemonSet => "daemonsets",
            Kind::Namespace => "namespaces",
            Kind::TrafficSplit => "trafficsplits",
        }
    }

    /// The `kind` the API gives this resource's objects.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Namespace => "Namespace",
            Kind::TrafficSplit => "TrafficSplit",
        }
    }

    /// The kind whose API path segment is `s` (exactly, as in a URL).
    pub fn from_plural(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == s)
    }

    /// Every spelling kubectl users reach for: short name, singular,
    /// plural, and the Kind itself in any case.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s.to_ascii_lowercase().as_str() {
            "po" | "pod" | "pods" => Kind::Pod,
            "deploy" | "deployment" | "deployments" => Kind::Deployment,
            "sts" | "statefulset" | "statefulsets" => Kind::StatefulSet,
            "ds" | "daemonset" | "daemonsets" => Kind::DaemonSet,
            "ns" | "namespace" | "namespaces" => Kind::Namespace,
            "ts" | "trafficsplit" | "trafficsplits" => Kind::TrafficSplit,
            _ => return None,
        })
    }
}

/// Traffic metrics of one resource (or of one edge between two resources)
/// over a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficMetrics {
    pub kind: String,
    pub api_version: String,
    pub metadata: ObjectMeta,
    /// When the window ended.
    pub timestamp: Time,
    /// The window's length, as a Go duration (`30s`).
    pub window: String,
    pub resource: ObjectReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<Edge>,
    pub metrics: Vec<Metric>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficMetricsList {
    pub kind: String,
    pub api_version: String,
    pub metadata: ListMeta,
    pub resource: ObjectReference,
    pub items: Vec<TrafficMetrics>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The other end of an edge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// `from` or `to`.
    pub direction: String,
    /// `client` or `server`: which side measured.
    pub side: String,
    pub resource: ObjectReference,
}

/// One named value: `success_count`, `failure_count`, `p50_response_latency`…
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub name: String,
    /// `ms` for latencies; absent for counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// A Kubernetes quantity (`100`, `10m`).
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_path_segment_and_its_own_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_plural(k.plural()), Some(k));
            assert_eq!(Kind::parse(k.name()), Some(k));
            assert_eq!(Kind::parse(k.plural()), Some(k));
        }
        // Paths are exact; only the CLI forgives case.
        assert_eq!(Kind::from_plural("Pods"), None);
        assert_eq!(Kind::parse("replicasets"), None);
    }

    #[test]
    fn round_trips_the_smi_example_shape() {
        let json = serde_json::json!({
            "kind": "TrafficMetrics",
            "apiVersion": API_VERSION,
            "metadata": {"name": "web-1", "namespace": "shop"},
            "timestamp": "2026-01-01T00:00:30Z",
            "window": "30s",
            "resource": {"kind": "Pod", "namespace": "shop", "name": "web-1"},
            "edge": {"direction": "to", "side": "client", "resource": {"kind": "Pod", "namespace": "shop", "name": "api-1"}},
            "metrics": [
                {"name": "p99_response_latency", "unit": "ms", "value": "10"},
                {"name": "success_count", "value": "100"}
            ]
        });
        let m: TrafficMetrics = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(m.metrics[0].unit.as_deref(), Some("ms"));
        assert_eq!(
            m.edge.as_ref().unwrap().resource.name.as_deref(),
            Some("api-1")
        );
        assert_eq!(serde_json::to_value(&m).unwrap(), json);
    }
}
