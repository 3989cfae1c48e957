//! Discovery documents, so kubectl and the aggregator find the resources:
//! the legacy `APIGroupList`/`APIGroup`/`APIResourceList`, and the
//! aggregated `APIGroupDiscoveryList` the aggregator asks `/apis` for
//! first. Without the aggregated form the aggregator falls back to the
//! legacy document, and a group whose discovery fails blocks every
//! namespace deletion in the cluster, so both are served.

use super::routes::Kind;
use serde_json::{Value, json};
use weft_k8s_api::metrics::{API_VERSION, GROUP, VERSION};

/// The aggregated discovery versions this API answers, newest first, with
/// the media type each is asked for and answered with.
const AGGREGATED: [(&str, &str); 2] = [
    (
        "v2",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    ),
    (
        "v2beta1",
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
    ),
];

fn version() -> Value {
    json!({"groupVersion": API_VERSION, "version": VERSION})
}

pub fn group() -> Value {
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [version()],
        "preferredVersion": version(),
    })
}

pub fn group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group()]})
}

pub fn resource_list() -> Value {
    let mut resources = Vec::new();
    for kind in Kind::ALL {
        let namespaced = kind != Kind::Namespace;
        resources.push(json!({
            "name": kind.plural(),
            "singularName": "",
            "namespaced": namespaced,
            "kind": "TrafficMetrics",
            "verbs": ["get", "list"],
        }));
        resources.push(json!({
            "name": format!("{}/edges", kind.plural()),
            "singularName": "",
            "namespaced": namespaced,
            "kind": "TrafficMetricsList",
            "verbs": ["get"],
        }));
    }
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": API_VERSION,
        "resources": resources,
    })
}

/// The aggregated discovery version an `Accept` header asks for (the
/// first this API serves, in the client's order), and its media type.
pub fn aggregated_version(accept: &str) -> Option<(&'static str, &'static str)> {
    accept.split(',').find_map(|range| {
        let params: Vec<(String, String)> = range
            .split(';')
            .skip(1)
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
            })
            .collect();
        let param = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        let wanted = param("g") == Some("apidiscovery.k8s.io")
            && param("as") == Some("APIGroupDiscoveryList");
        if !wanted {
            return None;
        }
        AGGREGATED.into_iter().find(|(v, _)| param("v") == Some(v))
    })
}

/// The `APIGroupDiscoveryList` for `/apis`, in aggregated discovery
/// `version` (`v2` or `v2beta1`; the shape is the same).
pub fn aggregated(version: &str) -> Value {
    let gvk = |kind: &str| json!({"group": GROUP, "version": VERSION, "kind": kind});
    let resources: Vec<Value> = Kind::ALL
        .into_iter()
        .map(|kind| {
            json!({
                "resource": kind.plural(),
                "responseKind": gvk("TrafficMetrics"),
                "scope": if kind == Kind::Namespace { "Cluster" } else { "Namespaced" },
                "singularResource": "",
                "verbs": ["get", "list"],
                "subresources": [{
                    "subresource": "edges",
                    "responseKind": gvk("TrafficMetricsList"),
                    "verbs": ["get"],
                }],
            })
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": [{
            "metadata": {"name": GROUP},
            "versions": [{"version": VERSION, "resources": resources, "freshness": "Current"}],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_aggregators_accept_header() {
        // What kube-aggregator 1.34 sends for `/apis`.
        let aggregator = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                          application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        assert_eq!(aggregated_version(aggregator).unwrap().0, "v2");
        let old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(old).unwrap().0, "v2beta1");
        for legacy in [
            "application/json",
            "*/*",
            "",
            "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList",
        ] {
            assert_eq!(aggregated_version(legacy), None, "{legacy}");
        }
    }

    #[test]
    fn aggregated_lists_every_resource_with_its_edges() {
        let doc = aggregated("v2");
        let version = &doc["items"][0]["versions"][0];
        assert_eq!(version["version"], VERSION);
        let resources = version["resources"].as_array().unwrap();
        assert_eq!(resources.len(), Kind::ALL.len());
        let ns = resources
            .iter()
            .find(|r| r["resource"] == "namespaces")
            .unwrap();
        assert_eq!(ns["scope"], "Cluster");
        assert_eq!(ns["subresources"][0]["subresource"], "edges");
    }
}
