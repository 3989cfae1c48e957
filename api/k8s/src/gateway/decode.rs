//! Reading one Gateway API object at a time, so that a malformed one is an
//! error naming it and its field, never a failed list.

use super::{GRPCRoute, HTTPRoute, ReferenceGrant};
use crate::decode::{DecodeError, Lenient};
use serde::de::DeserializeOwned;
use serde_json::Value;

impl Lenient for HTTPRoute {
    const KIND: &'static str = super::HTTP_ROUTE;

    fn decode(obj: &Value) -> Result<Self, DecodeError> {
        whole(Self::KIND, obj)
    }
}

impl Lenient for GRPCRoute {
    const KIND: &'static str = super::GRPC_ROUTE;

    fn decode(obj: &Value) -> Result<Self, DecodeError> {
        whole(Self::KIND, obj)
    }
}

impl Lenient for ReferenceGrant {
    const KIND: &'static str = "ReferenceGrant";

    fn decode(obj: &Value) -> Result<Self, DecodeError> {
        whole(Self::KIND, obj)
    }
}

fn whole<K: DeserializeOwned>(kind: &'static str, obj: &Value) -> Result<K, DecodeError> {
    let meta = |f: &str| {
        obj.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let err = |field: String, reason: String| DecodeError {
        kind,
        object: format!(
            "{}/{}",
            meta("namespace").unwrap_or_default(),
            meta("name").unwrap_or_else(|| "<unnamed>".into())
        ),
        field,
        reason,
    };
    let Value::Object(map) = obj else {
        return Err(err("<object>".into(), "not a JSON object".into()));
    };
    if let Some(k) = map.get("kind").and_then(Value::as_str)
        && k != kind
    {
        return Err(err("kind".into(), format!("expected {kind}, got {k}")));
    }
    let mut map = map.clone();
    // The API requires a spec; an object without one still reads, as one
    // that does nothing.
    if matches!(map.get("spec"), None | Some(Value::Null)) {
        map.insert("spec".into(), Value::Object(Default::default()));
    }
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        err(path, e.into_inner().to_string())
    })
}
