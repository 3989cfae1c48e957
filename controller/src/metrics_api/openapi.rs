//! The API's OpenAPI documents (v2 at `/openapi/v2`, v3 at `/openapi/v3`
//! and its group-version document), which the aggregator downloads every
//! minute and merges into the cluster's, so `kubectl explain` and clients
//! generated from the cluster's schema know TrafficMetrics.

use super::routes::{Kind, PREFIX};
use serde_json::{Map, Value, json};
use weft_k8s_api::metrics::{GROUP, VERSION};

/// The v3 group-version document's path, as the v3 root names it.
pub const V3_GROUP_PATH: &str = "/openapi/v3/apis/metrics.smi-spec.io/v1alpha1";

const METRICS: &str = "io.smi-spec.metrics.v1alpha1.TrafficMetrics";
const METRICS_LIST: &str = "io.smi-spec.metrics.v1alpha1.TrafficMetricsList";

/// The schemas, self-contained (no reference to the cluster's own
/// definitions, which a merged document may name differently).
fn schemas(reference: &str) -> Map<String, Value> {
    let r = |name: &str| json!({"$ref": format!("{reference}{name}")});
    let string = json!({"type": "string"});
    let object_ref = json!({
        "type": "object",
        "properties": {"kind": string, "namespace": string, "name": string},
    });
    let gvk = |kind: &str| json!([{"group": GROUP, "version": VERSION, "kind": kind}]);
    let mut out = Map::new();
    out.insert(
        METRICS.into(),
        json!({
            "description": "Traffic metrics of a resource, or of one edge between two resources, over a window.",
            "type": "object",
            "properties": {
                "kind": string, "apiVersion": string,
                "metadata": {"type": "object"},
                "timestamp": {"type": "string", "format": "date-time"},
                "window": string,
                "resource": object_ref,
                "edge": {"type": "object", "properties": {
                    "direction": string, "side": string, "resource": object_ref,
                }},
                "metrics": {"type": "array", "items": {"type": "object", "properties": {
                    "name": string, "unit": string, "value": string,
                }}},
            },
            "x-kubernetes-group-version-kind": gvk("TrafficMetrics"),
        }),
    );
    out.insert(
        METRICS_LIST.into(),
        json!({
            "type": "object",
            "properties": {
                "kind": string, "apiVersion": string,
                "metadata": {"type": "object"},
                "resource": object_ref,
                "items": {"type": "array", "items": r(METRICS)},
            },
            "x-kubernetes-group-version-kind": gvk("TrafficMetricsList"),
        }),
    );
    out
}

/// Every path with its `get`, answered by `ok(schema name)`.
fn paths(ok: impl Fn(&str) -> Value) -> Map<String, Value> {
    let mut out = Map::new();
    let mut add = |path: String, schema: &str, id: String| {
        out.insert(
            path,
            json!({"get": {
                "operationId": id,
                "produces": ["application/json"],
                "responses": {"200": ok(schema), "401": {"description": "Unauthorized"}},
            }}),
        );
    };
    for kind in Kind::ALL {
        let name = kind.name();
        if kind == Kind::Namespace {
            add(
                format!("{PREFIX}/namespaces"),
                METRICS_LIST,
                "listNamespaceTrafficMetrics".into(),
            );
            add(
                format!("{PREFIX}/namespaces/{{name}}"),
                METRICS,
                "readNamespaceTrafficMetrics".into(),
            );
            add(
                format!("{PREFIX}/namespaces/{{name}}/edges"),
                METRICS_LIST,
                "readNamespaceTrafficMetricsEdges".into(),
            );
            continue;
        }
        let plural = kind.plural();
        add(
            format!("{PREFIX}/{plural}"),
            METRICS_LIST,
            format!("list{name}TrafficMetricsForAllNamespaces"),
        );
        add(
            format!("{PREFIX}/namespaces/{{namespace}}/{plural}"),
            METRICS_LIST,
            format!("listNamespaced{name}TrafficMetrics"),
        );
        add(
            format!("{PREFIX}/namespaces/{{namespace}}/{plural}/{{name}}"),
            METRICS,
            format!("readNamespaced{name}TrafficMetrics"),
        );
        add(
            format!("{PREFIX}/namespaces/{{namespace}}/{plural}/{{name}}/edges"),
            METRICS_LIST,
            format!("readNamespaced{name}TrafficMetricsEdges"),
        );
    }
    out
}

fn info() -> Value {
    json!({"title": "weft: SMI TrafficMetrics", "version": VERSION})
}

/// `/openapi/v2`: Swagger 2.0.
pub fn v2() -> Value {
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": paths(|schema| json!({
            "description": "OK",
            "schema": {"$ref": format!("#/definitions/{schema}")},
        })),
        "definitions": schemas("#/definitions/"),
    })
}

/// `/openapi/v3`: the group-versions this server documents.
pub fn v3_root() -> Value {
    json!({"paths": {V3_GROUP_PATH.trim_start_matches("/openapi/v3/"): {"serverRelativeURL": V3_GROUP_PATH}}})
}

/// `/openapi/v3/apis/metrics.smi-spec.io/v1alpha1`: OpenAPI 3.0.
pub fn v3_group() -> Value {
    let mut paths = paths(|schema| {
        json!({
            "description": "OK",
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
        })
    });
    // 3.0 names media types per response; `produces` is 2.0 only.
    for op in paths.values_mut() {
        if let Some(get) = op["get"].as_object_mut() {
            get.remove("produces");
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": paths,
        "components": {"schemas": schemas("#/components/schemas/")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` names a schema the document defines.
    fn refs_resolve(doc: &Value, prefix: &str, defined: &Value) {
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"").skip(1) {
            let target = piece.split('"').next().unwrap();
            let name = target
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{target}"));
            assert!(defined.get(name).is_some(), "{target} is not defined");
        }
    }

    #[test]
    fn documents_are_self_contained() {
        let v2 = v2();
        refs_resolve(&v2, "#/definitions/", &v2["definitions"]);
        let v3 = v3_group();
        refs_resolve(&v3, "#/components/schemas/", &v3["components"]["schemas"]);
        assert!(
            v2["paths"]
                .get(format!(
                    "{PREFIX}/namespaces/{{namespace}}/pods/{{name}}/edges"
                ))
                .is_some()
        );
        assert_eq!(
            v3_root()["paths"]["apis/metrics.smi-spec.io/v1alpha1"]["serverRelativeURL"],
            V3_GROUP_PATH
        );
    }
}
