//! The server pod's apps for the HTTP suite: real hyper and tonic servers
//! on the pod IP, each telling the test what it received, plus a banner
//! server and a server that never answers. They run on one thread in the
//! pod's namespace until dropped.

use super::mesh::{Pod, in_ns};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{
    collections::VecDeque,
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use weft_api::{
    contract::headers,
    discovery::{
        DiscoveryRequest, DiscoveryUpdate, Unavailable,
        discovery_server::{Discovery, DiscoveryServer},
        discovery_update::Kind,
    },
    identity::{
        CertifyRequest, CertifyResponse,
        identity_server::{Identity, IdentityServer},
    },
};
use weft_runtime::shutdown;

/// HTTP/1.1 and HTTP/2 (the server accepts either and reports which).
pub const HTTP_PORT: u16 = 8080;
/// The same server, which the suite speaks h2c to.
pub const H2C_PORT: u16 = 8081;
pub const GRPC_PORT: u16 = 8082;
/// Accepts, reads, never answers.
pub const SILENT_PORT: u16 = 8083;
/// Accepts, reads the request's first bytes, closes without answering.
pub const HANGUP_PORT: u16 = 8084;
/// Speaks first: sends [`BANNER`] on accept, then echoes. Declared opaque.
pub const BANNER_PORT: u16 = 2525;
/// The same server on a port left to protocol detection.
pub const DETECTED_BANNER_PORT: u16 = 2526;
/// Declared by the pod, listened on by nothing.
pub const CLOSED_PORT: u16 = 8089;
/// The ports with a listener.
pub const LISTENING: [u16; 7] = [
    HTTP_PORT,
    H2C_PORT,
    GRPC_PORT,
    SILENT_PORT,
    HANGUP_PORT,
    BANNER_PORT,
    DETECTED_BANNER_PORT,
];

pub const BANNER: &[u8] = b"220 banner.weft.test ESMTP ready\r\n";
/// How long `/slow` takes to answer.
pub const SLOW: Duration = Duration::from_millis(400);
/// `/drip` sends its head at once, then this many chunks [`DRIP_GAP`] apart.
pub const DRIP_CHUNKS: usize = 6;
pub const DRIP_GAP: Duration = Duration::from_millis(500);
/// The trailer `/trailers` sends after its body.
pub const TRAILER: (&str, &str) = ("x-checksum", "c0ffee");
/// The gRPC identity the Certify service refuses, and how.
pub const REFUSED_IDENTITY: &str = "refuse-me";
pub const REFUSAL: &str = "the test app refuses this identity";
pub const REFUSAL_DETAIL: (&str, &str) = ("weft-test-detail", "kept-in-trailers");
/// Watch sends one update, pauses this long, then sends the rest and ends.
pub const WATCH_PAUSE: Duration = Duration::from_secs(1);
pub const WATCH_UPDATES: usize = 5;
/// A Watch from this namespace ends with [`STREAM_FAILURE`] after
/// [`UPDATES_BEFORE_FAILURE`] updates.
pub const FAILING_WATCH: &str = "fail-midway";
pub const UPDATES_BEFORE_FAILURE: usize = 2;
pub const STREAM_FAILURE: &str = "the test app ends this stream with an error";

type AppBody = BoxBody<Bytes, Infallible>;

/// Connections each HTTP listener accepted, and Watch streams whose
/// client went away before their end.
#[derive(Default)]
pub struct Accepted {
    pub http: Arc<AtomicUsize>,
    pub h2c: Arc<AtomicUsize>,
    pub abandoned_watches: Arc<AtomicUsize>,
}

/// The apps, serving until dropped.
pub struct ServerApps {
    pub accepted: Accepted,
    stop: shutdown::Trigger,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerApps {
    pub fn start(pod: &Pod) -> Self {
        let accepted = Accepted::default();
        let (stop, signal) = shutdown::channel();
        let (ip, http_count, h2c_count) =
            (pod.ip.clone(), accepted.http.clone(), accepted.h2c.clone());
        let watcher = Watcher(accepted.abandoned_watches.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = in_ns(&pod.ns.name, move || async move {
            let bind = |port| TcpListener::bind((ip.clone(), port));
            let http = bind(HTTP_PORT).await.unwrap();
            let h2c = bind(H2C_PORT).await.unwrap();
            let grpc = bind(GRPC_PORT).await.unwrap();
            let silent = bind(SILENT_PORT).await.unwrap();
            let hangup = bind(HANGUP_PORT).await.unwrap();
            let banner = bind(BANNER_PORT).await.unwrap();
            let detected_banner = bind(DETECTED_BANNER_PORT).await.unwrap();
            tx.send(()).unwrap();
            let grpc = tonic::transport::Server::builder()
                .add_service(IdentityServer::new(Certifier))
                .add_service(DiscoveryServer::new(watcher))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(grpc),
                    signal.clone().wait(),
                );
            tokio::select! {
                () = serve_http(http, http_count) => {}
                () = serve_http(h2c, h2c_count) => {}
                r = grpc => r.unwrap(),
                () = serve_silent(silent) => {}
                () = serve_hangup(hangup) => {}
                () = serve_banner(banner) => {}
                () = serve_banner(detected_banner) => {}
                () = signal.wait() => {}
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the server apps listen");
        Self {
            accepted,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ServerApps {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves HTTP/1.1 (with upgrades) or HTTP/2, whichever the peer speaks,
/// counting accepted connections in `accepted`.
async fn serve_http(l: TcpListener, accepted: Arc<AtomicUsize>) {
    loop {
        let Ok((sock, _)) = l.accept().await else {
            continue;
        };
        let conn = accepted.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(req, conn));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(sock), svc)
                .await;
        });
    }
}

async fn answer(mut req: Request<Incoming>, conn: usize) -> Result<Response<AppBody>, Infallible> {
    let path = req.uri().path().to_string();
    let res = if req.headers().contains_key(header::UPGRADE) {
        switch_to_echo(&mut req)
    } else if path == "/count" {
        count_body(req.into_body()).await
    } else if let Some(n) = path.strip_prefix("/zeros/") {
        let n = n.parse().unwrap_or(0);
        let mut r = Response::new(Zeros(n).boxed());
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        r
    } else if path == "/trailers" {
        with_trailer()
    } else if path == "/drip" {
        drip()
    } else {
        if path == "/slow" {
            tokio::time::sleep(SLOW).await;
        }
        describe(&req, conn)
    };
    Ok(res)
}

/// What the app received, as JSON: method, path, version, host, every
/// `weft-client-id` value, and which accepted connection carried it.
fn describe(req: &Request<Incoming>, conn: usize) -> Response<AppBody> {
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    let seen = serde_json::json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "version": format!("{:?}", req.version()),
        "host": req.headers().get(header::HOST).map(text),
        "authority": req.uri().authority().map(|a| a.to_string()),
        "client_ids": req.headers().get_all(headers::CLIENT_ID).iter().map(text).collect::<Vec<_>>(),
        "header_names": req.headers().keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        "conn": conn,
    });
    full(StatusCode::OK, seen.to_string())
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<AppBody> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r
}

/// Answers with the number of body bytes received, read as they stream in.
async fn count_body(mut body: Incoming) -> Response<AppBody> {
    let mut n: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
            Err(e) => return full(StatusCode::BAD_REQUEST, format!("body failed: {e}")),
        }
    }
    full(StatusCode::OK, n.to_string())
}

/// A chunked body, then a trailer (sent only to clients that said
/// `TE: trailers`, as HTTP/1.1 requires).
fn with_trailer() -> Response<AppBody> {
    let mut trailers = http::HeaderMap::new();
    trailers.insert(TRAILER.0, HeaderValue::from_static(TRAILER.1));
    let frames = Frames(VecDeque::from([
        Frame::data(Bytes::from_static(b"chunk-1;")),
        Frame::data(Bytes::from_static(b"chunk-2")),
        Frame::trailers(trailers),
    ]));
    let mut r = Response::new(frames.boxed());
    r.headers_mut()
        .insert(header::TRAILER, HeaderValue::from_static(TRAILER.0));
    r
}

/// A response whose body outlasts a short request timeout.
fn drip() -> Response<AppBody> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        for i in 0..DRIP_CHUNKS {
            if i > 0 {
                tokio::time::sleep(DRIP_GAP).await;
            }
            let chunk = Frame::data(Bytes::from(format!("drop {i};")));
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
    });
    Response::new(StreamBody::new(ReceiverStream::new(rx)).boxed())
}

/// Agrees to any upgrade, then echoes raw bytes on the upgraded connection.
fn switch_to_echo(req: &mut Request<Incoming>) -> Response<AppBody> {
    let upgrade = hyper::upgrade::on(&mut *req);
    let protocol = req.headers()[header::UPGRADE].clone();
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut io = TokioIo::new(upgraded);
        let mut buf = [0u8; 4096];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut r = full(StatusCode::SWITCHING_PROTOCOLS, Bytes::new());
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    r.headers_mut().insert(header::UPGRADE, protocol);
    r
}

async fn serve_silent(l: TcpListener) {
    loop {
        let Ok((mut sock, _)) = l.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
        });
    }
}

async fn serve_hangup(l: TcpListener) {
    loop {
        let Ok((mut sock, _)) = l.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
        });
    }
}

async fn serve_banner(l: TcpListener) {
    loop {
        let Ok((mut sock, _)) = l.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            if sock.write_all(BANNER).await.is_err() {
                return;
            }
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.read(&mut buf).await {
                if n == 0 || sock.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Certify answers with the `weft-client-id` the request carried, or
/// refuses [`REFUSED_IDENTITY`] with a status and trailer metadata.
struct Certifier;

#[tonic::async_trait]
impl Identity for Certifier {
    async fn certify(
        &self,
        req: tonic::Request<CertifyRequest>,
    ) -> Result<tonic::Response<CertifyResponse>, tonic::Status> {
        let client_id = req
            .metadata()
            .get(headers::CLIENT_ID)
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        if req.get_ref().identity == REFUSED_IDENTITY {
            let mut status = tonic::Status::failed_precondition(REFUSAL);
            status
                .metadata_mut()
                .insert(REFUSAL_DETAIL.0, REFUSAL_DETAIL.1.parse().unwrap());
            return Err(status);
        }
        Ok(tonic::Response::new(CertifyResponse {
            leaf_certificate: client_id,
            ..Default::default()
        }))
    }

    async fn trust_anchors(
        &self,
        _: tonic::Request<weft_api::identity::TrustAnchorsRequest>,
    ) -> Result<tonic::Response<weft_api::identity::TrustAnchorsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "a test app, not weft-identity",
        ))
    }
}

/// Watch streams [`WATCH_UPDATES`] updates, numbered in their reason, with
/// a [`WATCH_PAUSE`] after the first: a proxy that buffered the stream
/// would hold the first back. A [`FAILING_WATCH`] fails midway instead, so
/// its status travels in trailers after data.
struct Watcher(Arc<AtomicUsize>);

#[tonic::async_trait]
impl Discovery for Watcher {
    type WatchStream = ReceiverStream<Result<DiscoveryUpdate, tonic::Status>>;

    async fn watch(
        &self,
        req: tonic::Request<DiscoveryRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        let fail = req.get_ref().source_namespace == FAILING_WATCH;
        let (tx, rx) = tokio::sync::mpsc::channel(WATCH_UPDATES);
        let abandoned = self.0.clone();
        tokio::spawn(async move {
            for i in 0..WATCH_UPDATES {
                if fail && i == UPDATES_BEFORE_FAILURE {
                    let _ = tx
                        .send(Err(tonic::Status::resource_exhausted(STREAM_FAILURE)))
                        .await;
                    return;
                }
                if i == 1 && !fail {
                    tokio::time::sleep(WATCH_PAUSE).await;
                }
                let update = DiscoveryUpdate {
                    kind: Some(Kind::Unavailable(Unavailable {
                        reason: format!("update {i}"),
                    })),
                };
                if tx.send(Ok(update)).await.is_err() {
                    abandoned.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        });
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
}

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// `n` zero bytes, produced as they are polled: a body of any size in no
/// memory.
pub struct Zeros(pub u64);

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let left = &mut self.get_mut().0;
        if *left == 0 {
            return Poll::Ready(None);
        }
        let n = (*left).min(ZEROS.len() as u64);
        *left -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
            &ZEROS[..n as usize],
        )))))
    }

    fn is_end_stream(&self) -> bool {
        self.0 == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0)
    }
}

/// A body of the given frames, trailers included, of unknown length.
struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.pop_front().map(Ok))
    }
}
