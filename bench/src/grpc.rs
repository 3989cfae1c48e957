//! gRPC unary without generated code: a codec that passes message bytes
//! through, tonic's own client and server halves, and one method,
//! `/weft.bench.Echo/Call`, that returns what it receives.

use crate::latency;
use bytes::{Buf as _, BufMut as _, Bytes};
use serde_json::json;
use std::{convert::Infallible, net::SocketAddr, sync::atomic::Ordering, time::Duration};
use tokio::time::Instant;
use tonic::{
    Request, Response, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};

const METHOD: &str = "/weft.bench.Echo/Call";

#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

struct Echo;

impl tonic::server::UnaryService<Bytes> for Echo {
    type Response = Bytes;
    type Future = std::future::Ready<Result<Response<Bytes>, Status>>;
    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        std::future::ready(Ok(Response::new(req.into_inner())))
    }
}

pub async fn serve(listen: SocketAddr) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let l = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    loop {
        let (s, _) = l.accept().await?;
        s.set_nodelay(true)?;
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(
                |req: http::Request<hyper::body::Incoming>| async move {
                    if req.uri().path() != METHOD {
                        let mut r = http::Response::new(tonic::body::Body::empty());
                        *r.status_mut() = http::StatusCode::NOT_FOUND;
                        return Ok::<_, Infallible>(r);
                    }
                    Ok(tonic::server::Grpc::new(Raw).unary(Echo, req).await)
                },
            );
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                .await;
        });
    }
}

pub async fn load(
    target: SocketAddr,
    concurrency: usize,
    run_for: Duration,
    payload: usize,
    max_calls: Option<u64>,
) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{target}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("gRPC connection to {target}"))?;
    let body = Bytes::from(vec![b'x'; payload]);
    let start = Instant::now();
    let deadline = start + run_for;
    // A fixed count (the instruction counts' loads) is shared by the workers:
    // each takes one call from it before making it.
    let left = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(
        max_calls.unwrap_or(u64::MAX),
    ));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (channel, body, left) = (channel.clone(), body.clone(), left.clone());
        workers.push(tokio::spawn(async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            let path = http::uri::PathAndQuery::from_static(METHOD);
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            let take = || {
                left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            };
            while Instant::now() < deadline && take() {
                let t0 = Instant::now();
                let ok = match tokio::time::timeout(Duration::from_secs(5), async {
                    grpc.ready()
                        .await
                        .map_err(|e| Status::unknown(e.to_string()))?;
                    grpc.unary(Request::new(body.clone()), path.clone(), Raw)
                        .await
                })
                .await
                {
                    Ok(Ok(r)) => r.get_ref().len() == body.len(),
                    _ => false,
                };
                if ok {
                    lat.push(t0.elapsed());
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = all.len();
    let mut out = json!({"requests": n, "errors": errors, "seconds": secs, "rps": n as f64 / secs});
    out.as_object_mut()
        .unwrap()
        .extend(latency::summary(all).as_object().unwrap().clone());
    Ok(out.to_string())
}
