//! Each kind of check against a real server on loopback.

use super::*;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;
use weft_api::probes::Header;
use weft_runtime::admin::AppProbes as _;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn probe(name: &str, port: u16, check: Check) -> AppProbe {
    AppProbe {
        name: name.into(),
        port,
        timeout_seconds: 1,
        check,
    }
}

async fn run(probes: &AppProbes, name: &str) -> ProbeResult {
    probes.run(name).expect("the probe exists").await
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    l.local_addr().unwrap().port()
}

/// An HTTP/1 server: 200 for `/healthz?full=1` carrying the probe's header
/// and the kubelet's defaults, 500 for anything else; each answer after
/// `delay`. Counts the requests it sees.
async fn http_server(
    tls: Option<tokio_rustls::TlsAcceptor>,
    delay: Duration,
) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = l.accept().await.unwrap();
            let count = count.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    count.fetch_add(1, Ordering::SeqCst);
                    async move {
                        tokio::time::sleep(delay).await;
                        let h = req.headers();
                        let ok = req.uri() == "/healthz?full=1"
                            && h["x-probe"] == "kubelet"
                            && h["user-agent"] == "kube-probe/weft"
                            && h["host"].to_str().unwrap().starts_with("127.0.0.1:");
                        let status = if ok {
                            StatusCode::OK
                        } else {
                            StatusCode::INTERNAL_SERVER_ERROR
                        };
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(sock).await {
                            let _ = http.serve_connection(TokioIo::new(s), svc).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(sock), svc).await;
                    }
                }
            });
        }
    });
    (port, seen)
}

fn healthz() -> Check {
    Check::Http {
        path: "/healthz?full=1".into(),
        https: false,
        headers: vec![Header {
            name: "X-Probe".into(),
            value: "kubelet".into(),
        }],
    }
}

fn self_signed_acceptor() -> tokio_rustls::TlsAcceptor {
    let key = rcgen::generate_simple_self_signed(vec!["app.example".into()]).unwrap();
    let cert = key.cert.der().clone();
    let private =
        rustls::pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(weft_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn tcp_passes_when_the_port_accepts() {
    let open = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let closed = closed_port().await;
    let p = AppProbes::new(
        LOOPBACK,
        vec![
            probe(
                "app/liveness",
                open.local_addr().unwrap().port(),
                Check::Tcp,
            ),
            probe("app/readiness", closed, Check::Tcp),
        ],
    );
    run(&p, "app/liveness").await.unwrap();
    let err = run(&p, "app/readiness").await.unwrap_err();
    assert!(err.contains("refused"), "{err}");
    assert!(p.run("app/startup").is_none());
}

#[tokio::test]
async fn http_sends_what_the_kubelet_sends_and_judges_the_status() {
    let (port, _) = http_server(None, Duration::ZERO).await;
    let mut wrong = healthz();
    if let Check::Http { path, .. } = &mut wrong {
        *path = "/other".into();
    }
    let p = AppProbes::new(
        LOOPBACK,
        vec![
            probe("app/readiness", port, healthz()),
            probe("app/liveness", port, wrong),
        ],
    );
    run(&p, "app/readiness").await.unwrap();
    let err = run(&p, "app/liveness").await.unwrap_err();
    assert!(err.contains("500"), "{err}");
}

#[tokio::test]
async fn https_accepts_any_certificate_like_the_kubelet() {
    let (port, seen) = http_server(Some(self_signed_acceptor()), Duration::ZERO).await;
    let Check::Http { path, headers, .. } = healthz() else {
        unreachable!()
    };
    let check = Check::Http {
        path,
        https: true,
        headers,
    };
    let p = AppProbes::new(LOOPBACK, vec![probe("app/readiness", port, check)]);
    run(&p, "app/readiness").await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1, "the request went over TLS");
}

#[tokio::test]
async fn a_silent_app_fails_within_the_timeout() {
    let l = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    // Accepts and never answers.
    let _held = tokio::spawn(async move {
        let mut socks = Vec::new();
        loop {
            socks.push(l.accept().await.unwrap());
        }
    });
    let p = AppProbes::new(LOOPBACK, vec![probe("app/readiness", port, healthz())]);
    let started = Instant::now();
    let err = run(&p, "app/readiness").await.unwrap_err();
    assert!(err.contains("did not answer within 1s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_flood_of_requests_costs_the_app_one_check() {
    let (port, seen) = http_server(None, Duration::from_millis(300)).await;
    let p = Arc::new(AppProbes::new(
        LOOPBACK,
        vec![probe("app/readiness", port, healthz())],
    ));
    let mut all = Vec::new();
    for _ in 0..50 {
        let p = p.clone();
        all.push(tokio::spawn(async move { run(&p, "app/readiness").await }));
    }
    for t in all {
        t.await.unwrap().unwrap();
    }
    assert_eq!(seen.load(Ordering::SeqCst), 1, "one check answered all 50");
    // A request after that check ended gets a fresh one.
    run(&p, "app/readiness").await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

/// A gRPC health server speaking HTTP/2 directly: `shop` is SERVING,
/// anything else NOT_SERVING.
async fn health_server() -> u16 {
    let l = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (sock, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut conn = h2::server::handshake(sock).await.unwrap();
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                    let mut body = req.into_body();
                    let mut bytes = Vec::new();
                    while let Some(chunk) = body.data().await {
                        let chunk = chunk.unwrap();
                        let _ = body.flow_control().release_capacity(chunk.len());
                        bytes.extend_from_slice(&chunk);
                    }
                    let asked =
                        <grpc::HealthCheckRequest as prost::Message>::decode(&bytes[5..]).unwrap();
                    let status = if asked.service == "shop" { 1 } else { 2 };
                    let msg = prost::Message::encode_to_vec(&grpc::HealthCheckResponse { status });
                    let mut frame = vec![0u8];
                    frame.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
                    frame.extend_from_slice(&msg);
                    let rsp = ::http::Response::builder()
                        .header("content-type", "application/grpc")
                        .body(())
                        .unwrap();
                    let mut send = respond.send_response(rsp, false).unwrap();
                    send.send_data(Bytes::from(frame), false).unwrap();
                    let mut trailers = ::http::HeaderMap::new();
                    trailers.insert("grpc-status", "0".parse().unwrap());
                    send.send_trailers(trailers).unwrap();
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn grpc_passes_only_when_serving() {
    let port = health_server().await;
    let p = AppProbes::new(
        LOOPBACK,
        vec![
            probe(
                "app/readiness",
                port,
                Check::Grpc {
                    service: Some("shop".into()),
                },
            ),
            probe("app/liveness", port, Check::Grpc { service: None }),
        ],
    );
    run(&p, "app/readiness").await.unwrap();
    let err = run(&p, "app/liveness").await.unwrap_err();
    assert!(err.contains("NOT_SERVING"), "{err}");
}
