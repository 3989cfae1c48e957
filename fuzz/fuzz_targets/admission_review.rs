//! `weft_injector::review::review`: the body of `POST /inject`, which the
//! API server fills from whatever pod a user submits.
//!
//! Input: the body as it arrives. Every namespace asks for injection except
//! `off` (no annotation) and `unreadable` (the lookup fails), so pods reach
//! `patch_for`.
//!
//! Beyond "no panic":
//! - the answer is 200 with an AdmissionReview for the same uid, or 400;
//! - a refusal is only for an object that is not a Pod (the webhook never
//!   blocks a pod otherwise);
//! - a patch is a JSONPatch that applies to the object as it was sent (the
//!   API server applies it there; one that does not apply fails the pod's
//!   creation), for an object with `metadata`, as the API server sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use weft_api::contract::annotations::{INJECT, INJECT_ENABLED};
use weft_injector::review::{Namespaces, review};
use weft_injector::{InjectConfig, NamespaceMeta};

struct AllInjected;

impl Namespaces for AllInjected {
    async fn get(&self, name: &str) -> Result<NamespaceMeta, String> {
        let annotations = match name {
            "unreadable" => return Err("forbidden".into()),
            "off" => BTreeMap::new(),
            _ => BTreeMap::from([(INJECT.to_string(), INJECT_ENABLED.to_string())]),
        };
        Ok(NamespaceMeta {
            name: name.to_string(),
            labels: BTreeMap::new(),
            annotations,
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let answer = ready(review(data, &AllInjected, &InjectConfig::default()));
    if answer.status == 400 {
        return;
    }
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    // A typed decode skips what it ignores (a number out of range, say)
    // that a `Value` refuses.
    let Ok(sent) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let rsp = &answer.body["response"];
    assert_eq!(
        rsp["uid"], sent["request"]["uid"],
        "the answer is for another request"
    );
    if rsp["allowed"] != Value::Bool(true) {
        let msg = rsp["status"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("not a valid Pod"), "refused: {rsp}");
    }
    if let Some(patch) = rsp.get("patch") {
        assert_eq!(rsp["patchType"], "JSONPatch");
        // kube writes the bytes as an array of numbers (which the API
        // server's decoder takes for a []byte); Go itself writes base64.
        let patch = match patch {
            Value::String(s) => base64(s).expect("the patch is base64"),
            other => serde_json::from_value::<Vec<u8>>(other.clone()).expect("the patch is bytes"),
        };
        let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("a JSON patch");
        let mut object = sent["request"]["object"].clone();
        if !object["metadata"].is_object() {
            // The API server always sends `metadata` (a Go struct, never
            // omitted); a patch cannot add annotations to nothing.
            return;
        }
        if let Err(e) = json_patch::patch(&mut object, &patch) {
            panic!("the patch does not apply to the object sent: {e}\n{patch:?}");
        }
    }
});

/// The review's result: every await in it is ready at once here.
fn ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the review waited on nothing"),
    }
}

/// Standard base64 with padding, as Kubernetes encodes `[]byte`.
fn base64(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s {
        acc = acc << 6 | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}
