//! The one body type every request and response in the proxy carries.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use hyper::body::Incoming;
use std::convert::Infallible;

/// Every body the proxy handles: the peer's, streamed, or its own.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// A body the proxy wrote itself.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A peer's body, streamed on unchanged.
pub fn boxed(body: Incoming) -> Body {
    body.boxed()
}
