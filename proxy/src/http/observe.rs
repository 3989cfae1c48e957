//! Recording a response once its body has ended, so a gRPC status sent in
//! trailers is counted as well as one sent in headers. Both directions count
//! through [`count`].

use super::body::Body;
use crate::metrics::{
    ConnMetrics, Direction, Label, ResponseLabels, deny_reason, grpc_status, status_class,
};
use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::BodyExt as _;
use hyper::body::{Frame, SizeHint};
use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

/// Who a response was exchanged with, as its metrics name them.
pub struct Exchange {
    pub direction: Direction,
    pub peer: Label,
    /// The destination Service (outbound, when known).
    pub service: Label,
    pub port: u16,
    /// The authorization that allowed the request (inbound).
    pub authorization: Label,
}

/// `resp`, counted in `metrics` once its body has ended: its status class,
/// its gRPC status and a weft denial's reason, with the latency from `start`
/// to its headers.
pub fn count(
    metrics: &Arc<ConnMetrics>,
    x: Exchange,
    start: tokio::time::Instant,
    resp: Response<Body>,
) -> Response<Body> {
    let latency = start.elapsed();
    let (parts, body) = resp.into_parts();
    let labels = ResponseLabels {
        direction: x.direction,
        peer: x.peer,
        service: x.service,
        port: x.port,
        authorization: x.authorization,
        status_class: status_class(parts.status),
        grpc_status: "",
        deny_reason: deny_reason(&parts.headers),
    };
    let body = Observed {
        inner: body,
        grpc_status: grpc_status_of(&parts.headers),
        pending: Some(Pending {
            metrics: metrics.clone(),
            labels,
            latency,
        }),
    };
    Response::from_parts(parts, body.boxed())
}

fn grpc_status_of(h: &HeaderMap) -> Option<&'static str> {
    h.get("grpc-status").map(|v| grpc_status(v.as_bytes()))
}

/// A response's body, recording the response when it ends, fails or is
/// dropped, with the gRPC status from its headers, else its trailers.
struct Observed {
    inner: Body,
    grpc_status: Option<&'static str>,
    pending: Option<Pending>,
}

/// What is recorded once the body has ended.
struct Pending {
    metrics: Arc<ConnMetrics>,
    labels: ResponseLabels,
    latency: Duration,
}

impl Observed {
    fn finish(&mut self) {
        if let Some(p) = self.pending.take() {
            let labels = ResponseLabels {
                grpc_status: self.grpc_status.unwrap_or_default(),
                ..p.labels
            };
            p.metrics.response(labels, p.latency);
        }
    }
}

impl hyper::body::Body for Observed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(t) = frame.trailers_ref()
                    && let Some(s) = grpc_status_of(t)
                {
                    this.grpc_status = Some(s);
                }
            }
            Poll::Ready(_) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.finish();
    }
}
