//! Recording a response once its body has ended, so a gRPC status sent in
//! trailers is counted as well as one sent in headers. Both directions count
//! through [`count`].

use super::body::Body;
use crate::metrics::{Direction, Metrics, ResponseLabels, deny_reason, status_class};
use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::BodyExt as _;
use hyper::body::{Frame, SizeHint};
use std::{
    pin::Pin,
    task::{Context, Poll},
};

type OnEnd = Box<dyn FnOnce(Option<String>) + Send + Sync>;

/// Who a response was exchanged with, as its metrics name them.
pub struct Exchange {
    pub direction: Direction,
    pub peer: String,
    /// The destination Service (outbound, when known).
    pub service: String,
    pub port: u16,
    /// The authorization that allowed the request (inbound).
    pub authorization: String,
}

/// `resp`, counted in `metrics` once its body has ended: its status class,
/// its gRPC status and a weft denial's reason, with the latency from `start`
/// to its headers.
pub fn count(
    metrics: &Metrics,
    x: Exchange,
    start: tokio::time::Instant,
    resp: Response<Body>,
) -> Response<Body> {
    let latency = start.elapsed();
    let (parts, body) = resp.into_parts();
    let metrics = metrics.clone();
    let labels = ResponseLabels {
        direction: x.direction,
        peer: x.peer,
        service: x.service,
        port: x.port,
        authorization: x.authorization,
        status_class: status_class(parts.status),
        grpc_status: String::new(),
        deny_reason: deny_reason(&parts.headers),
    };
    let body = observe(
        &parts.headers,
        body,
        Box::new(move |grpc| {
            metrics.response(
                ResponseLabels {
                    grpc_status: grpc.unwrap_or_default(),
                    ..labels
                },
                latency,
            )
        }),
    );
    Response::from_parts(parts, body)
}

/// `body`, calling `on_end` with the gRPC status (from `headers`, else the
/// trailers) when it ends, fails or is dropped.
fn observe(headers: &HeaderMap, body: Body, on_end: OnEnd) -> Body {
    Observed {
        inner: body,
        grpc_status: grpc_status(headers),
        on_end: Some(on_end),
    }
    .boxed()
}

fn grpc_status(h: &HeaderMap) -> Option<String> {
    h.get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

struct Observed {
    inner: Body,
    grpc_status: Option<String>,
    on_end: Option<OnEnd>,
}

impl Observed {
    fn finish(&mut self) {
        if let Some(f) = self.on_end.take() {
            f(self.grpc_status.take());
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
                    && let Some(s) = grpc_status(t)
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
