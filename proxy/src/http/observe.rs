//! Recording a response once its body has ended, so a gRPC status sent in
//! trailers is counted as well as one sent in headers.

use super::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt as _;
use hyper::body::{Frame, SizeHint};
use std::{
    pin::Pin,
    task::{Context, Poll},
};

type OnEnd = Box<dyn FnOnce(Option<String>) + Send + Sync>;

/// `body`, calling `on_end` with the gRPC status (from `headers`, else the
/// trailers) when it ends, fails or is dropped.
pub fn observe(headers: &HeaderMap, body: Body, on_end: OnEnd) -> Body {
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
