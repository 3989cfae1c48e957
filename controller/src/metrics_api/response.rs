//! The two shapes every answer takes: a JSON body, or a Kubernetes
//! `Status` failure, which kubectl and clients print.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

pub(super) fn json<T: serde::Serialize>(v: &T) -> Response<Full<Bytes>> {
    json_as(v, "application/json")
}

/// A JSON body under another media type (aggregated discovery names its
/// document kind in the type's parameters).
pub(super) fn json_as<T: serde::Serialize>(v: &T, media: &str) -> Response<Full<Bytes>> {
    match serde_json::to_vec(v) {
        Ok(body) => Response::builder()
            .header(http::header::CONTENT_TYPE, media)
            .body(Full::new(Bytes::from(body)))
            .expect("static headers are valid"),
        Err(e) => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        ),
    }
}

/// A Kubernetes `Status` failure.
pub(super) fn status(code: StatusCode, reason: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static headers are valid")
}
