//! The admission handler: decodes an AdmissionReview, calls
//! [`crate::patch_for`], and answers. It never fails the HTTP call for a
//! well-formed review: problems become warnings or an `invalid` response,
//! and a pod is always admitted (injection is best effort; `weft check`
//! reports pods that should be meshed and are not).

use crate::{InjectConfig, NamespaceMeta, Reason, patch::skip_patch, patch_for};
use k8s_openapi::api::core::v1::Pod;
use kube::core::{
    DynamicObject,
    admission::{AdmissionRequest, AdmissionResponse, AdmissionReview},
};
use std::future::Future;

/// Where namespace metadata comes from (a watched cache with a live GET on
/// a miss, in the server; a map in tests and the CLI).
pub trait Namespaces: Send + Sync {
    /// The namespace as known now, possibly from a cache.
    fn get(&self, name: &str) -> impl Future<Output = Result<NamespaceMeta, String>> + Send;

    /// The namespace as the API server has it. A cache lags a write by a
    /// few milliseconds, so `kubectl annotate ns … && kubectl apply …` can
    /// reach the webhook before the annotation reaches the cache.
    fn fresh(&self, name: &str) -> impl Future<Output = Result<NamespaceMeta, String>> + Send {
        self.get(name)
    }
}

/// The answer to one HTTP request: a status code and a JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

/// Answers one request body.
pub async fn review(body: &[u8], namespaces: &impl Namespaces, cfg: &InjectConfig) -> Answer {
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("the body is not an AdmissionReview: {e}")),
    };
    let req: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return bad_request(format!("the AdmissionReview has no usable request: {e}")),
    };
    let rsp = respond(&req, namespaces, cfg).await;
    Answer {
        status: 200,
        body: serde_json::to_value(rsp.into_review()).expect("reviews serialise"),
    }
}

fn bad_request(msg: String) -> Answer {
    tracing::warn!(error = %msg, "bad admission request");
    Answer {
        status: 400,
        body: serde_json::json!({"error": msg}),
    }
}

async fn respond(
    req: &AdmissionRequest<DynamicObject>,
    namespaces: &impl Namespaces,
    cfg: &InjectConfig,
) -> AdmissionResponse {
    let rsp = AdmissionResponse::from(req);
    if req.kind.kind != "Pod" || !req.kind.group.is_empty() {
        return warn(
            rsp,
            format!(
                "weft-injector only handles Pods, not {}; admitted unchanged",
                req.kind.kind
            ),
        );
    }
    let Some(obj) = &req.object else {
        return rsp;
    };
    let pod: Pod = match serde_json::to_value(obj).and_then(serde_json::from_value) {
        Ok(p) => p,
        Err(e) => {
            // `invalid` is for a request that could not be read: its uid is
            // empty, and the API server refuses an answer to another uid.
            let mut invalid =
                AdmissionResponse::invalid(format!("the object is not a valid Pod: {e}"));
            invalid.uid = rsp.uid;
            return invalid;
        }
    };
    let ns_name = req
        .namespace
        .clone()
        .or_else(|| pod.metadata.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let ns = match namespaces.get(&ns_name).await {
        Ok(ns) => ns,
        Err(e) => {
            return warn(
                rsp,
                format!("weft: not injected: namespace {ns_name} could not be read: {e}"),
            );
        }
    };
    let pod_name = pod
        .metadata
        .name
        .clone()
        .or_else(|| pod.metadata.generate_name.clone().map(|g| format!("{g}*")))
        .unwrap_or_default();
    let mut decided = patch_for(&pod, &ns, cfg);
    if decided.as_ref().err() == Some(&Reason::NotEnabled) {
        // Only "not enabled" is worth a second look: it is the answer a
        // cache gives just before the annotation that enables injection
        // arrives. A failed live read keeps the cached answer.
        if let Ok(ns) = namespaces.fresh(&ns_name).await {
            decided = patch_for(&pod, &ns, cfg);
        }
    }
    match decided {
        Ok(inj) => {
            tracing::info!(namespace = %ns_name, pod = %pod_name, "injected");
            with_patch(rsp, inj.patch)
        }
        Err(reason) if reason.is_notable() => {
            tracing::info!(namespace = %ns_name, pod = %pod_name, %reason, "not injected");
            let rsp = with_patch(rsp, skip_patch(&pod, &reason));
            warn(rsp, format!("weft: not injected: {reason}"))
        }
        // Pods nobody asked for, and pods already injected, pass silently.
        Err(_) => rsp,
    }
}

fn with_patch(rsp: AdmissionResponse, patch: json_patch::Patch) -> AdmissionResponse {
    let fallback = rsp.clone();
    rsp.with_patch(patch).unwrap_or_else(|e| {
        warn(
            fallback,
            format!("weft: not injected: the patch could not be encoded: {e}"),
        )
    })
}

fn warn(mut rsp: AdmissionResponse, msg: String) -> AdmissionResponse {
    rsp.warnings.get_or_insert_with(Vec::new).push(msg);
    rsp
}
