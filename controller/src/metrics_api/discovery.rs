//! Discovery documents, so kubectl and the aggregator find the resources.

use super::routes::Kind;
use serde_json::{Value, json};
use weft_k8s_api::metrics::{API_VERSION, GROUP, VERSION};

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
