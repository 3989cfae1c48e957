//! One ConversionReview (`apiextensions.k8s.io/v1`): every object converted
//! to the desired version, or a failure naming the object that could not
//! be.

use serde_json::{Value, json};
use weft_k8s_api::convert;

/// The response to a ConversionReview request body. A body that is not a
/// review at all still gets a review back, failed, so the API server logs
/// the reason.
pub fn answer(body: &[u8]) -> Value {
    let review: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return failed("", &format!("not a ConversionReview: {e}")),
    };
    let request = &review["request"];
    let uid = request["uid"].as_str().unwrap_or_default();
    let Some(desired) = request["desiredAPIVersion"].as_str() else {
        return failed(uid, "request.desiredAPIVersion is missing");
    };
    let Some(objects) = request["objects"].as_array() else {
        return failed(uid, "request.objects is missing");
    };
    let mut converted = Vec::with_capacity(objects.len());
    for obj in objects {
        match convert::convert(obj, desired) {
            Ok(v) => converted.push(v),
            Err(e) => {
                let name = format!(
                    "{}/{}",
                    obj["metadata"]["namespace"].as_str().unwrap_or_default(),
                    obj["metadata"]["name"].as_str().unwrap_or_default()
                );
                tracing::warn!(object = %name, %desired, error = %e, "conversion refused");
                return failed(uid, &format!("{name}: {e}"));
            }
        }
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "response": {"uid": uid, "convertedObjects": converted, "result": {"status": "Success"}},
    })
}

fn failed(uid: &str, message: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "response": {"uid": uid, "convertedObjects": [],
            "result": {"status": "Failure", "message": message}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_every_object_and_echoes_the_uid() {
        let req = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "request": {"uid": "705ab4f5", "desiredAPIVersion": "split.smi-spec.io/v1alpha4",
            "objects": [{"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
                "metadata": {"name": "a", "namespace": "n"},
                "spec": {"service": "s", "backends": [{"service": "b", "weight": "0"}]}}]}});
        let got = answer(req.to_string().as_bytes());
        assert_eq!(got["response"]["uid"], "705ab4f5");
        assert_eq!(got["response"]["result"]["status"], "Success");
        let obj = &got["response"]["convertedObjects"][0];
        assert_eq!(obj["apiVersion"], "split.smi-spec.io/v1alpha4");
        assert_eq!(obj["spec"]["backends"][0]["weight"], 0);
    }

    #[test]
    fn fails_the_review_naming_the_object() {
        let req = json!({"request": {"uid": "u", "desiredAPIVersion": "split.smi-spec.io/v9",
            "objects": [{"kind": "TrafficSplit", "metadata": {"name": "a", "namespace": "n"}}]}});
        let got = answer(req.to_string().as_bytes());
        assert_eq!(got["response"]["result"]["status"], "Failure");
        let msg = got["response"]["result"]["message"].as_str().unwrap();
        assert!(msg.starts_with("n/a: "), "{msg}");
        let got = answer(b"{");
        assert_eq!(got["response"]["result"]["status"], "Failure");
    }
}
