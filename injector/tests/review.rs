//! The admission handler on captured-shape AdmissionReviews, including bad
//! input.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use weft_api::contract::annotations as a;
use weft_injector::{
    InjectConfig, NamespaceMeta,
    review::{Namespaces, review},
};

struct Fixed(BTreeMap<String, NamespaceMeta>);

impl Namespaces for Fixed {
    async fn get(&self, name: &str) -> Result<NamespaceMeta, String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("namespace {name} not found"))
    }
}

fn namespaces() -> Fixed {
    let shop = NamespaceMeta {
        name: "shop".into(),
        annotations: BTreeMap::from([(a::INJECT.into(), a::INJECT_ENABLED.into())]),
        ..Default::default()
    };
    Fixed(BTreeMap::from([("shop".to_string(), shop)]))
}

fn review_for(kind: Value, object: Value, namespace: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": kind,
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": kind,
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": object,
            "dryRun": false
        }
    }))
    .unwrap()
}

fn pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "web-7d9f-", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "shop/web:1"}]}})
}

fn pod_kind() -> Value {
    json!({"group": "", "version": "v1", "kind": "Pod"})
}

#[tokio::test]
async fn a_pod_in_an_enabled_namespace_gets_a_patch() {
    let a = review(
        &review_for(pod_kind(), pod(), "shop"),
        &namespaces(),
        &InjectConfig::default(),
    )
    .await;
    assert_eq!(a.status, 200);
    let rsp = &a.body["response"];
    assert_eq!(rsp["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(rsp["allowed"], true);
    assert_eq!(rsp["patchType"], "JSONPatch");
    // kube serialises the patch bytes as a JSON array of numbers, which the
    // API server's decoder accepts for a []byte field.
    let bytes: Vec<u8> = serde_json::from_value(rsp["patch"].clone()).unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    let mut doc = pod();
    json_patch::patch(&mut doc, &patch).unwrap();
    assert_eq!(doc["spec"]["initContainers"][1]["name"], "weft-proxy");
}

/// A cache that has not yet seen the namespace's `inject: enabled`, in
/// front of an API server that has.
struct Stale;

impl Namespaces for Stale {
    async fn get(&self, name: &str) -> Result<NamespaceMeta, String> {
        Ok(NamespaceMeta {
            name: name.into(),
            ..Default::default()
        })
    }

    async fn fresh(&self, name: &str) -> Result<NamespaceMeta, String> {
        namespaces().get(name).await
    }
}

#[tokio::test]
async fn a_stale_cache_does_not_leave_a_pod_uninjected() {
    let a = review(
        &review_for(pod_kind(), pod(), "shop"),
        &Stale,
        &InjectConfig::default(),
    )
    .await;
    assert_eq!(a.body["response"]["patchType"], "JSONPatch", "{}", a.body);
}

#[tokio::test]
async fn a_skipped_pod_is_admitted_with_a_warning() {
    let mut p = pod();
    p["spec"]["hostNetwork"] = json!(true);
    let a = review(
        &review_for(pod_kind(), p, "shop"),
        &namespaces(),
        &InjectConfig::default(),
    )
    .await;
    let rsp = &a.body["response"];
    assert_eq!(rsp["allowed"], true);
    assert!(
        rsp["warnings"][0]
            .as_str()
            .unwrap()
            .contains("host network"),
        "{rsp}"
    );
}

#[tokio::test]
async fn an_unreadable_namespace_admits_unchanged_with_a_warning() {
    let a = review(
        &review_for(pod_kind(), pod(), "elsewhere"),
        &namespaces(),
        &InjectConfig::default(),
    )
    .await;
    let rsp = &a.body["response"];
    assert_eq!(rsp["allowed"], true);
    assert!(rsp.get("patch").is_none_or(Value::is_null));
    assert!(rsp["warnings"][0].as_str().unwrap().contains("elsewhere"));
}

#[tokio::test]
async fn other_kinds_pass_unchanged_with_a_warning() {
    let kind = json!({"group": "", "version": "v1", "kind": "ConfigMap"});
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let a = review(
        &review_for(kind, obj, "shop"),
        &namespaces(),
        &InjectConfig::default(),
    )
    .await;
    let rsp = &a.body["response"];
    assert_eq!(rsp["allowed"], true);
    assert!(rsp.get("patch").is_none_or(Value::is_null));
    assert!(rsp["warnings"][0].as_str().unwrap().contains("ConfigMap"));
}

#[tokio::test]
async fn garbage_is_a_400_naming_the_problem() {
    for body in [
        &b"not json"[..],
        b"{\"kind\": \"AdmissionReview\"}",
        b"\xff\xfe",
        b"[]",
    ] {
        let a = review(body, &namespaces(), &InjectConfig::default()).await;
        assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(body));
        assert!(
            a.body["error"]
                .as_str()
                .unwrap()
                .contains("AdmissionReview")
        );
    }
}

#[tokio::test]
async fn a_pod_that_does_not_parse_is_invalid_not_a_crash() {
    let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": "nope"}});
    let a = review(
        &review_for(pod_kind(), bad, "shop"),
        &namespaces(),
        &InjectConfig::default(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(
        a.body["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("not a valid Pod")
    );
    // Found by fuzz/fuzz_targets/admission_review.rs: the answer must carry
    // the request's uid, or the API server rejects it.
    assert_eq!(
        a.body["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
}
