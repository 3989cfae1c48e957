//! The proxy's one error type for a request or connection it cannot carry,
//! and the one place such an error becomes a response.
//!
//! Each kind knows its HTTP status, its gRPC status (gRPC clients read the
//! status from `grpc-status`, not the HTTP one), and the reason code sent in
//! `weft-proxy-error` (or, for a denial, `weft-deny-reason`), which is also
//! the label it is logged and counted under.

use crate::http::body::{Body, full};
use http::{HeaderValue, Response, StatusCode, header};
use std::time::Duration;
use weft_api::contract::{headers, proxy_error as code};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Discovery has nowhere to send it: no usable endpoint, no answer.
    #[error("{0}")]
    Unavailable(String),
    /// The next hop (an endpoint's proxy, or the app) could not be reached:
    /// refused, unreachable, connect timeout, mesh TLS failed.
    #[error("{0}")]
    Connect(String),
    /// The next hop closed or reset the request before answering.
    #[error("{0}")]
    Upstream(String),
    /// No response headers within the request timeout.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// The request cannot be carried as it is written.
    #[error("{0}")]
    BadRequest(String),
    /// The destination's Gateway API routes have no rule for the request.
    #[error("{0}")]
    NoRoute(String),
    /// The rule that matched cannot be carried out (no usable backendRef, a
    /// filter weft cannot apply): answered rather than forwarded without it.
    #[error("{0}")]
    BadRoute(String),
    /// The inbound policy refuses the request.
    #[error("denied: {reason} (request id {request_id})")]
    Denied {
        reason: &'static str,
        request_id: String,
    },
    /// A connection failed while its bytes were being read or carried.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An HTTP connection failed while it was being served.
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

impl From<crate::mesh::LinkError> for ProxyError {
    fn from(e: crate::mesh::LinkError) -> Self {
        ProxyError::Connect(e.to_string())
    }
}

/// gRPC status codes the proxy answers with.
mod grpc_code {
    pub const DEADLINE_EXCEEDED: u8 = 4;
    pub const PERMISSION_DENIED: u8 = 7;
    pub const UNIMPLEMENTED: u8 = 12;
    pub const UNAVAILABLE: u8 = 14;
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Connect(_)
            | ProxyError::Upstream(_)
            | ProxyError::Io(_)
            | ProxyError::Http(_) => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::NoRoute(_) => StatusCode::NOT_FOUND,
            ProxyError::BadRoute(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ProxyError::Denied { .. } => StatusCode::FORBIDDEN,
        }
    }

    pub fn grpc_status(&self) -> u8 {
        match self {
            ProxyError::Denied { .. } => grpc_code::PERMISSION_DENIED,
            ProxyError::Timeout(_) => grpc_code::DEADLINE_EXCEEDED,
            // What GRPCRoute asks for when no rule matches; an unusable
            // backendRef is UNAVAILABLE there, like the rest.
            ProxyError::NoRoute(_) => grpc_code::UNIMPLEMENTED,
            _ => grpc_code::UNAVAILABLE,
        }
    }

    /// The reason code: `weft-proxy-error`'s value, or a denial's reason.
    /// A bounded set whatever the detail says, so it is also the label the
    /// error is counted and logged under.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::Unavailable(_) => code::UNAVAILABLE,
            ProxyError::Connect(_) => code::CONNECT_FAILED,
            ProxyError::Upstream(_) | ProxyError::Io(_) | ProxyError::Http(_) => {
                code::UPSTREAM_FAILED
            }
            ProxyError::Timeout(_) => code::TIMEOUT,
            ProxyError::BadRequest(_) => code::BAD_REQUEST,
            ProxyError::NoRoute(_) => code::NO_ROUTE,
            ProxyError::BadRoute(_) => code::BAD_ROUTE,
            ProxyError::Denied { reason, .. } => reason,
        }
    }

    /// The response the proxy sends in place of the one it could not get: the
    /// status, the reason code in a header, a one-line body. A gRPC caller
    /// (`grpc`) gets a trailers-only response carrying the gRPC status.
    pub fn into_response(self, grpc: bool) -> Response<Body> {
        let summary = match &self {
            ProxyError::Denied { reason, .. } => format!("denied: {reason}"),
            other => other.code().to_string(),
        };
        let body = match &self {
            ProxyError::Denied { .. } => format!("weft-proxy: {self}\n"),
            other => format!("weft-proxy: {}: {other}\n", other.code()),
        };
        let mut r = Response::new(full(body));
        *r.status_mut() = self.status();
        if grpc {
            grpc_trailers_only(
                &mut r,
                self.grpc_status(),
                &format!("weft-proxy: {summary}"),
            );
        } else {
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        let h = r.headers_mut();
        match &self {
            ProxyError::Denied { reason, request_id } => {
                h.insert(headers::DENY_REASON, HeaderValue::from_static(reason));
                if let Ok(v) = HeaderValue::from_str(request_id) {
                    h.insert(headers::REQUEST_ID, v);
                }
            }
            other => {
                h.insert(headers::PROXY_ERROR, HeaderValue::from_static(other.code()));
            }
        }
        r
    }
}

/// Turns `r` into a gRPC trailers-only response: 200, the status in headers,
/// no body.
fn grpc_trailers_only(r: &mut Response<Body>, code: u8, message: &str) {
    *r.status_mut() = StatusCode::OK;
    *r.body_mut() = full(bytes::Bytes::new());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(u16::from(code)));
    if let Ok(v) = HeaderValue::from_str(message) {
        h.insert("grpc-message", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    async fn text(r: Response<Body>) -> String {
        let b = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn an_error_carries_its_status_code_and_one_line() {
        let r = ProxyError::Timeout(Duration::from_secs(2)).into_response(false);
        assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(r.headers()[headers::PROXY_ERROR], code::TIMEOUT);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            text(r).await,
            "weft-proxy: timeout: no response within 2s\n"
        );
    }

    #[tokio::test]
    async fn a_denial_names_its_reason_and_request_id_not_a_proxy_error() {
        let e = ProxyError::Denied {
            reason: weft_api::contract::deny_reason::NO_TRAFFIC_TARGET,
            request_id: "00ab".into(),
        };
        assert_eq!(e.code(), "no-traffic-target");
        let r = e.into_response(false);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()[headers::DENY_REASON], "no-traffic-target");
        assert_eq!(r.headers()[headers::REQUEST_ID], "00ab");
        assert!(!r.headers().contains_key(headers::PROXY_ERROR));
        assert_eq!(
            text(r).await,
            "weft-proxy: denied: no-traffic-target (request id 00ab)\n"
        );
    }

    #[tokio::test]
    async fn grpc_callers_get_the_status_in_headers_and_no_body() {
        let r = ProxyError::Unavailable("no endpoints".into()).into_response(true);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["grpc-status"], "14");
        assert_eq!(r.headers()["grpc-message"], "weft-proxy: unavailable");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/grpc");
        assert_eq!(r.headers()[headers::PROXY_ERROR], "unavailable");
        assert_eq!(text(r).await, "");
        let denied = ProxyError::Denied {
            reason: "route-not-matched",
            request_id: "1".into(),
        }
        .into_response(true);
        assert_eq!(denied.headers()["grpc-status"], "7");
        assert_eq!(
            denied.headers()["grpc-message"],
            "weft-proxy: denied: route-not-matched"
        );
        let timeout = ProxyError::Timeout(Duration::from_secs(1)).into_response(true);
        assert_eq!(timeout.headers()["grpc-status"], "4");
    }

    #[tokio::test]
    async fn route_errors_are_404_or_500_and_unimplemented_or_unavailable_for_grpc() {
        let r = ProxyError::NoRoute("no rule of web matches".into()).into_response(false);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[headers::PROXY_ERROR], code::NO_ROUTE);
        assert_eq!(
            text(r).await,
            "weft-proxy: no-route: no rule of web matches\n"
        );
        let r = ProxyError::NoRoute("x".into()).into_response(true);
        assert_eq!(r.headers()["grpc-status"], "12");
        let r = ProxyError::BadRoute("filter ExtensionRef".into()).into_response(false);
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()[headers::PROXY_ERROR], code::BAD_ROUTE);
        assert_eq!(
            text(r).await,
            "weft-proxy: bad-route: filter ExtensionRef\n"
        );
        let r = ProxyError::BadRoute("x".into()).into_response(true);
        assert_eq!(r.headers()["grpc-status"], "14");
    }
}
