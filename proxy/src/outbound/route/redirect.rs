//! Gateway API's RequestRedirect: the proxy answers with a `Location`
//! instead of forwarding.
//!
//! The `Location` is absolute. Each part the filter leaves unset comes from
//! the request: the scheme (`http` in the mesh, where apps send plaintext),
//! the host (the authority, else the `Host` header, without its port), the
//! path (normal, see [`crate::path`]) and the query (always kept). The
//! port follows the spec: the filter's, else the well-known port of the
//! filter's scheme when it sets one (even to the request's own), else the
//! port the request was sent to, which plays the Gateway listener's part
//! in the mesh. The scheme's well-known port is left out.

use super::rewrite::PathEdit;
use crate::{
    error::ProxyError,
    http::body::{Body, full},
};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header, request::Parts, uri::Authority};
use std::fmt::Write as _;
use weft_api::discovery as pb;

/// One RequestRedirect, checked once.
#[derive(Debug, Clone)]
pub(super) struct Redirect {
    scheme: Option<&'static str>,
    host: Option<String>,
    path: Option<PathEdit>,
    port: Option<u16>,
    status: StatusCode,
}

impl Redirect {
    /// `r` for a rule whose match covers `prefix` (for ReplacePrefixMatch).
    pub(super) fn new(r: &pb::RequestRedirect, prefix: Option<&str>) -> Result<Self, String> {
        let scheme = match r.scheme.as_str() {
            "" => None,
            "http" => Some("http"),
            "https" => Some("https"),
            s => {
                return Err(format!(
                    "the redirect scheme {s:?} is neither http nor https"
                ));
            }
        };
        let host = match r.hostname.as_str() {
            "" => None,
            h => match Authority::try_from(h) {
                Ok(a) if a.port().is_none() => Some(h.to_string()),
                _ => return Err(format!("the redirect hostname {h:?} is not a hostname")),
            },
        };
        let port = match r.port {
            0 => None,
            p => {
                Some(u16::try_from(p).map_err(|_| format!("the redirect port {p} is not a port"))?)
            }
        };
        let status = match r.status_code {
            0 => StatusCode::FOUND,
            c @ (301 | 302 | 303 | 307 | 308) => {
                StatusCode::from_u16(u16::try_from(c).unwrap_or(302)).unwrap_or(StatusCode::FOUND)
            }
            c => {
                return Err(format!(
                    "the redirect status {c} is not one Gateway API allows"
                ));
            }
        };
        Ok(Self {
            scheme,
            host,
            path: PathEdit::new(r.path.as_ref(), prefix)?,
            port,
            status,
        })
    }

    /// The answer to `req`, sent to `port`. No body: clients follow the
    /// `Location`.
    pub(super) fn respond(&self, req: &Parts, port: u16) -> Result<Response<Body>, ProxyError> {
        let scheme = self
            .scheme
            .unwrap_or_else(|| req.uri.scheme_str().unwrap_or("http"));
        let host = match &self.host {
            Some(h) => h.clone(),
            None => request_host(req).ok_or_else(|| {
                ProxyError::BadRequest(
                    "a redirect needs the request's host, and it has none".into(),
                )
            })?,
        };
        let port = match (self.port, self.scheme) {
            (Some(p), _) => p,
            (None, Some(s)) => well_known(s).unwrap_or(port),
            (None, None) => port,
        };
        let mut location = format!("{scheme}://{host}");
        if well_known(scheme) != Some(port) {
            let _ = write!(location, ":{port}");
        }
        match &self.path {
            Some(edit) => location.push_str(&edit.apply(req.uri.path())),
            None => location.push_str(req.uri.path()),
        }
        if let Some(q) = req.uri.query() {
            location.push('?');
            location.push_str(q);
        }
        let location = HeaderValue::try_from(location.as_str()).map_err(|_| {
            ProxyError::BadRoute(format!(
                "the redirect's Location {location:?} is not a header value"
            ))
        })?;
        let mut resp = Response::new(full(Bytes::new()));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(header::LOCATION, location);
        Ok(resp)
    }
}

/// The host the request names, without its port.
fn request_host(req: &Parts) -> Option<String> {
    if let Some(a) = req.uri.authority() {
        return Some(a.host().to_string());
    }
    let h = req.headers.get(header::HOST)?;
    Authority::try_from(h.as_bytes())
        .ok()
        .map(|a| a.host().to_string())
}

fn well_known(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
