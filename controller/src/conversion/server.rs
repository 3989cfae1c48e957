//! The HTTPS listener the kube-apiserver sends ConversionReviews to: an
//! explicit accept loop and a task per connection. Conversion is a pure
//! function of the request, so callers need no client certificate: an
//! unauthenticated caller learns nothing it did not send.

use super::review;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming as Body;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{convert::Infallible, sync::Arc};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument as _, debug, info_span};
use weft_runtime::{listen, shutdown};

/// The path the CRDs name.
pub const PATH: &str = "/convert";
/// Largest review accepted: the API server converts a list in one review,
/// and each object may be up to 1.5 MiB.
const MAX_BODY: usize = 64 * 1024 * 1024;

pub(super) async fn serve(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    stop: shutdown::Signal,
) {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let mut incoming = listen::Incoming::new(listener, stop, "conversion webhook");
    while let Some((sock, peer)) = incoming.next().await {
        let acceptor = acceptor.clone();
        tokio::spawn(serve_conn(sock, acceptor).instrument(info_span!("conversion", %peer)));
    }
}

async fn serve_conn(sock: TcpStream, acceptor: TlsAcceptor) {
    let Some(tls) = weft_tls::handshake(&acceptor, sock).await else {
        return;
    };
    let service =
        hyper::service::service_fn(|req| async { Ok::<_, Infallible>(handle(req).await) });
    if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        debug!(error = %e, "connection ended");
    }
}

async fn handle(req: Request<Body>) -> Response<Full<Bytes>> {
    if req.uri().path() != PATH {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: the conversion webhook serves POST /convert",
        );
    }
    if req.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "POST a ConversionReview");
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("reading the review: {e}"),
            );
        }
    };
    let answer = review::answer(&body);
    Response::builder()
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(answer.to_string())))
        .expect("static headers are valid")
}

fn plain(code: StatusCode, msg: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from(format!("{msg}\n"))))
        .expect("static headers are valid")
}
