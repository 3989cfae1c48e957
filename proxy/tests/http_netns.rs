//! The proxy's HTTP path in network namespaces, end to end with real parts:
//! real HTTP/1.1, h2c and gRPC clients as the app of a client pod, real
//! hyper and tonic servers as the apps of a server pod, each pod behind the
//! real `weft-proxy init` rules and the real proxy binary under its own
//! UID, the real Certify service and controller in a control-plane
//! namespace.
//!
//! Root only (CI runs tests as root); without root it fails and says so.
//! On any failure both proxies' logs are printed.

#[path = "support/apps.rs"]
mod apps;
// Shared with other suites; not every helper is used here.
#[allow(dead_code)]
#[path = "support/mesh.rs"]
mod mesh;
#[allow(dead_code)]
#[path = "support/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "support/pair.rs"]
mod pair;
#[allow(dead_code)]
#[path = "support/plane.rs"]
mod plane;

use apps::{
    BANNER, BANNER_PORT, CLOSED_PORT, DETECTED_BANNER_PORT, DRIP_CHUNKS, DRIP_GAP, FAILING_WATCH,
    GRPC_PORT, H2C_PORT, HANGUP_PORT, HTTP_PORT, REFUSAL, REFUSAL_DETAIL, REFUSED_IDENTITY,
    SILENT_PORT, SLOW, STREAM_FAILURE, TRAILER, UPDATES_BEFORE_FAILURE, WATCH_PAUSE, WATCH_UPDATES,
    Zeros,
};
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use mesh::{Pod, SUBNET, block_in_ns};
use pair::*;
use plane::{WAIT, workload_id};
use serde_json::json;
use std::{sync::atomic::Ordering, time::Duration};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    time::Instant,
};
use weft_api::{
    contract::{deny_reason, env, headers, proxy_error},
    discovery::{DiscoveryRequest, discovery_client::DiscoveryClient, discovery_update::Kind},
    identity::{CertifyRequest, identity_client::IdentityClient},
};
use weft_controller::index::Resource;

/// 100 MiB: more than the proxies may hold at once.
const BIG: u64 = 100 * 1024 * 1024;
/// Peak RSS a proxy may reach while carrying [`BIG`] bodies; holding one
/// whole body would exceed it.
const RSS_BOUND: u64 = 100 * 1024 * 1024;
/// How long a [`BIG`] body may take (debug builds on two cores).
const BIG_WAIT: Duration = Duration::from_secs(180);

// ---- the suite ----

/// A Watch read to its end.
#[derive(Debug)]
struct Watched {
    reasons: Vec<String>,
    first_after: Option<Duration>,
    end: Result<(), tonic::Status>,
}

async fn watch_to_the_end(
    client: &mut DiscoveryClient<tonic::transport::Channel>,
    namespace: &str,
) -> Watched {
    let t0 = Instant::now();
    let req = DiscoveryRequest {
        source_namespace: namespace.into(),
        ..Default::default()
    };
    let mut stream = within("Watch", client.watch(req))
        .await
        .unwrap_or_else(|s| panic!("Watch failed: {s:?}"))
        .into_inner();
    let mut watched = Watched {
        reasons: Vec::new(),
        first_after: None,
        end: Ok(()),
    };
    loop {
        match within("the next update", stream.message()).await {
            Ok(Some(update)) => {
                watched.first_after.get_or_insert(t0.elapsed());
                match update.kind {
                    Some(Kind::Unavailable(u)) => watched.reasons.push(u.reason),
                    other => panic!("unexpected update {other:?}"),
                }
            }
            Ok(None) => return watched,
            Err(status) => {
                watched.end = Err(status);
                return watched;
            }
        }
    }
}

/// HTTP/1.1 through both proxies stays HTTP/1.1 with the app's Host and
/// end-to-end headers (hop-by-hop ones stop at the first hop), and the app
/// learns the client's verified identity, never a forged one; the server
/// proxy reuses its connections to the app; a plaintext client's forged
/// identity is stripped.
#[test]
fn http1_keeps_host_carries_the_verified_client_id_and_reuses_connections() {
    let m = Mesh::start(&[]);
    let addr = m.server_addr(HTTP_PORT);
    let client_id = workload_id("client");

    let a = addr.clone();
    let (hello, count) = m.in_client(move || async move {
        let mut s = http1(&a).await;
        let hello = get(
            "/hello",
            &[
                (headers::CLIENT_ID, FORGED_ID),
                ("x-end-to-end", "kept"),
                // A hop-by-hop header, named by Connection: for the next hop only.
                ("connection", "keep-alive, x-hop"),
                ("x-hop", "dropped"),
            ],
        );
        let hello = send1(&mut s, hello).await;
        let post = Request::post("/count")
            .header(header::HOST, HOST)
            .body(Full::from("hello world"))
            .unwrap();
        (hello, send1(&mut s, post).await)
    });
    let seen = hello.seen();
    assert_eq!(seen["version"], "HTTP/1.1", "{seen}");
    assert_eq!(seen["method"], "GET", "{seen}");
    assert_eq!(seen["path"], "/hello", "{seen}");
    assert_eq!(seen["host"], HOST, "the Host the app sent: {seen}");
    let names = seen["header_names"].as_array().unwrap();
    assert!(names.contains(&json!("x-end-to-end")), "{seen}");
    assert!(
        !names.contains(&json!("x-hop")),
        "a header the client's Connection named went past the first hop: {seen}"
    );
    assert_eq!(
        seen["client_ids"],
        json!([client_id]),
        "the app sees exactly the verified client id, not the forged one"
    );
    assert_eq!(
        (count.status, &count.body[..]),
        (StatusCode::OK, &b"11"[..])
    );

    // 20 requests on one connection, then 20 on fresh connections.
    let a = addr.clone();
    m.in_client(move || async move {
        let mut s = http1(&a).await;
        for i in 0..20 {
            let r = send1(&mut s, get(&format!("/same/{i}"), &[])).await;
            assert_eq!(r.seen()["path"], format!("/same/{i}"));
        }
        for i in 0..20 {
            let mut s = http1(&a).await;
            let r = send1(&mut s, get(&format!("/fresh/{i}"), &[])).await;
            assert_eq!(r.seen()["path"], format!("/fresh/{i}"));
        }
    });
    let accepted = m.apps.accepted.http.load(Ordering::SeqCst);
    eprintln!("42 requests on 22 client connections reached the app on {accepted} connections");
    assert!(
        accepted <= 2,
        "the server proxy opened {accepted} connections to the app for 42 requests; \
         it should reuse them"
    );

    // A client without a proxy, in plaintext: its forged id never arrives.
    let a = addr.clone();
    let plain = block_in_ns(&m.cp.ns.name, move || async move {
        let mut s = http1(&a).await;
        send1(&mut s, get("/plain", &[(headers::CLIENT_ID, FORGED_ID)])).await
    });
    let seen = plain.seen();
    assert_eq!(
        seen["client_ids"],
        json!([]),
        "a plaintext client's weft-client-id reached the app"
    );
}

/// h2c spoken by the app stays HTTP/2 to the server app, and concurrent
/// streams on one client connection run concurrently.
#[test]
fn h2c_stays_http2_and_multiplexes_streams() {
    const STREAMS: u32 = 8;
    let m = Mesh::start(&[]);
    let authority = format!("app.weft.test:{H2C_PORT}");
    let a = m.server_addr(H2C_PORT);
    let auth = authority.clone();
    let (replies, took) = m.in_client(move || async move {
        let s = h2c(&a).await;
        let t0 = Instant::now();
        let streams: Vec<_> = (0..STREAMS)
            .map(|i| {
                let mut s = s.clone();
                let req = Request::get(format!("http://{auth}/slow?stream={i}"))
                    .header(headers::CLIENT_ID, FORGED_ID)
                    .body(Full::default())
                    .unwrap();
                tokio::spawn(async move {
                    let res = within("an HTTP/2 response", s.send_request(req))
                        .await
                        .unwrap_or_else(|e| panic!("stream {i}: {e}"));
                    read_reply(res).await.unwrap_or_else(|e| panic!("{e}"))
                })
            })
            .collect();
        let mut replies = Vec::new();
        for s in streams {
            replies.push(s.await.expect("a stream task"));
        }
        (replies, t0.elapsed())
    });
    for r in &replies {
        let seen = r.seen();
        assert_eq!(seen["version"], "HTTP/2.0", "the app spoke h2c: {seen}");
        assert_eq!(seen["authority"], authority, "{seen}");
        assert_eq!(
            seen["client_ids"],
            json!([workload_id("client")]),
            "the verified client id, not the forged one: {seen}"
        );
    }
    eprintln!(
        "{STREAMS} concurrent streams of {SLOW:?} each took {took:?}; the app accepted {} connections",
        m.apps.accepted.h2c.load(Ordering::SeqCst)
    );
    assert!(
        took < SLOW * STREAMS / 2,
        "{STREAMS} streams of {SLOW:?} took {took:?}: they were not carried concurrently"
    );
}

/// gRPC through both proxies: unary and server streaming, an error status
/// with its message and metadata (alone, and in trailers after data), the
/// stream's end, a client's cancel reaching the server; and HTTP/1.1
/// chunked trailers asked for with `TE: trailers`.
#[test]
fn grpc_statuses_streams_and_trailers_survive_both_proxies() {
    let m = Mesh::start(&[]);
    let grpc = m.server_addr(GRPC_PORT);
    let http = m.server_addr(HTTP_PORT);
    let abandoned = m.apps.accepted.abandoned_watches.clone();
    m.in_client(move || async move {
        let channel = grpc_channel(&grpc).await;

        let mut identity = IdentityClient::new(channel.clone());
        let ok = within(
            "Certify",
            identity.certify(CertifyRequest {
                identity: "me".into(),
                ..Default::default()
            }),
        )
        .await
        .unwrap_or_else(|s| panic!("Certify failed: {s:?}"));
        assert_eq!(
            String::from_utf8_lossy(&ok.get_ref().leaf_certificate),
            workload_id("client"),
            "the gRPC server sees the verified client id"
        );

        let refused = within(
            "a refused Certify",
            identity.certify(CertifyRequest {
                identity: REFUSED_IDENTITY.into(),
                ..Default::default()
            }),
        )
        .await
        .expect_err("the app refuses this identity");
        assert_eq!(
            (refused.code(), refused.message()),
            (tonic::Code::FailedPrecondition, REFUSAL),
            "{refused:?}"
        );
        assert_eq!(
            refused
                .metadata()
                .get(REFUSAL_DETAIL.0)
                .and_then(|v| v.to_str().ok()),
            Some(REFUSAL_DETAIL.1),
            "the status's metadata: {refused:?}"
        );

        let mut discovery = DiscoveryClient::new(channel);
        let watch = watch_to_the_end(&mut discovery, "").await;
        let want: Vec<_> = (0..WATCH_UPDATES).map(|i| format!("update {i}")).collect();
        assert_eq!(watch.reasons, want, "every update, in order: {watch:?}");
        assert!(watch.end.is_ok(), "the stream ends with OK: {watch:?}");
        let first_after = watch.first_after.unwrap();
        eprintln!("first streamed update after {first_after:?}");
        assert!(
            first_after < WATCH_PAUSE * 8 / 10,
            "the first update took {first_after:?}: held back until the server's pause ended"
        );

        // A status after data travels in trailers.
        let watch = watch_to_the_end(&mut discovery, FAILING_WATCH).await;
        assert_eq!(watch.reasons.len(), UPDATES_BEFORE_FAILURE, "{watch:?}");
        let end = watch.end.as_ref().expect_err("the stream fails midway");
        assert_eq!(
            (end.code(), end.message()),
            (tonic::Code::ResourceExhausted, STREAM_FAILURE),
            "{watch:?}"
        );

        // A client that walks away mid-stream: the server app learns it.
        let mut stream = within("Watch", discovery.watch(DiscoveryRequest::default()))
            .await
            .unwrap_or_else(|s| panic!("Watch failed: {s:?}"))
            .into_inner();
        within("the first update", stream.message())
            .await
            .expect("the first update");
        drop(stream);
        let t0 = Instant::now();
        while abandoned.load(Ordering::SeqCst) == 0 {
            assert!(
                t0.elapsed() < WAIT,
                "the server app never saw the cancelled stream go"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut s = http1(&http).await;
        let r = send1(&mut s, get("/trailers", &[("te", "trailers")])).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(&r.body[..], b"chunk-1;chunk-2", "{r:?}");
        let trailer = r.trailers.as_ref().and_then(|t| t.get(TRAILER.0));
        assert_eq!(
            trailer.and_then(|v| v.to_str().ok()),
            Some(TRAILER.1),
            "the chunked trailer: {r:?}"
        );
    });
}

/// An HTTP/1.1 upgrade switches protocols end to end and then carries raw
/// bytes both ways; `Expect: 100-continue` gets its interim answer before
/// the body is sent.
#[test]
fn upgrades_and_expect_continue_pass_through_http1() {
    let m = Mesh::start(&[]);
    let a = m.server_addr(HTTP_PORT);
    m.in_client(move || async move {
        let mut s = connect(&a).await;
        let upgrade = format!(
            "GET /chat HTTP/1.1\r\nHost: {HOST}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(upgrade.as_bytes()).await.unwrap();
        let (head, rest) = read_head(&mut s, WAIT, "the upgrade's answer").await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("upgrade: websocket"),
            "{head}"
        );
        assert!(rest.is_empty(), "bytes after the 101: {rest:?}");
        for msg in [
            &b"raw bytes after the switch"[..],
            b"\x00\x81\xffbinary\r\n\r\n",
        ] {
            s.write_all(msg).await.unwrap();
            let mut got = vec![0u8; msg.len()];
            within("the upgraded echo", s.read_exact(&mut got))
                .await
                .expect("the echo over the upgraded connection");
            assert_eq!(got, msg);
        }
    });

    let a = m.server_addr(HTTP_PORT);
    m.in_client(move || async move {
        let mut s = connect(&a).await;
        let head = format!(
            "POST /count HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let (interim, rest) =
            read_head(&mut s, Duration::from_secs(5), "100 Continue before the body").await;
        assert!(interim.starts_with("HTTP/1.1 100 "), "{interim}");
        assert!(rest.is_empty(), "a final answer before the body: {rest:?}");
        s.write_all(b"hello world").await.unwrap();
        let (head, mut body) = read_head(&mut s, WAIT, "the final answer").await;
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        let len = content_length(&head);
        while body.len() < len {
            let mut chunk = [0u8; 64];
            let n = within("the final body", s.read(&mut chunk))
                .await
                .unwrap();
            assert!(n > 0, "closed inside the body: {body:?}");
            body.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(body, b"11");
    });
}

/// 100 MiB up and 100 MiB down stream through both proxies, neither of
/// which ever holds a body.
#[test]
fn hundred_megabyte_bodies_stream_through_both_proxies() {
    let m = Mesh::start(&[]);
    let before = [peak_rss(&m.client_proxy), peak_rss(&m.server_proxy)];
    let a = m.server_addr(HTTP_PORT);
    let (up, up_took, down, down_took) = m.in_client(move || async move {
        let mut s = http1::<Zeros>(&a).await;
        let t0 = Instant::now();
        let req = Request::post("/count")
            .header(header::HOST, HOST)
            .body(Zeros(BIG))
            .unwrap();
        let up = within_for(BIG_WAIT, "the upload's answer", s.send_request(req))
            .await
            .expect("the upload's answer");
        let up = read_reply(up).await.unwrap();
        let up_took = t0.elapsed();

        let t0 = Instant::now();
        let req = Request::get(format!("/zeros/{BIG}"))
            .header(header::HOST, HOST)
            .body(Zeros(0))
            .unwrap();
        within("ready for the download", s.ready())
            .await
            .expect("the connection survives the upload");
        let res = within("the download's head", s.send_request(req))
            .await
            .expect("the download's head");
        assert_eq!(res.status(), StatusCode::OK, "{res:?}");
        let mut body = res.into_body();
        let mut down = 0u64;
        within_for(BIG_WAIT, "the download", async {
            while let Some(frame) = body.frame().await {
                let frame = frame.unwrap_or_else(|e| panic!("the download failed at {down}: {e}"));
                down += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
        })
        .await;
        (up, up_took, down, t0.elapsed())
    });
    let after = [peak_rss(&m.client_proxy), peak_rss(&m.server_proxy)];
    eprintln!(
        "upload {up_took:?}, download {down_took:?}; peak RSS (VmHWM): \
         client proxy {:.1} → {:.1} MiB, server proxy {:.1} → {:.1} MiB",
        mib(before[0]),
        mib(after[0]),
        mib(before[1]),
        mib(after[1])
    );
    assert_eq!(
        (up.status, String::from_utf8_lossy(&up.body).into_owned()),
        (StatusCode::OK, BIG.to_string()),
        "the app counted every uploaded byte: {up:?}"
    );
    assert_eq!(down, BIG, "every downloaded byte arrived");
    for (who, peak) in [("client", after[0]), ("server", after[1])] {
        assert!(
            peak < RSS_BOUND,
            "the {who} proxy peaked at {:.1} MiB: it buffered a body",
            mib(peak)
        );
    }
}

/// The client may GET /allowed and nothing else.
fn route_policy() -> [Resource; 2] {
    [
        Resource::HttpRouteGroup(
            serde_json::from_value(json!({
                "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
                "metadata": {"name": "routes", "namespace": "shop"},
                "spec": {"matches": [
                    {"name": "allowed", "pathRegex": "/allowed", "methods": ["GET"]},
                    {"name": "other", "pathRegex": "/other"}
                ]}
            }))
            .unwrap(),
        ),
        Resource::TrafficTarget(
            serde_json::from_value(json!({
                "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
                "metadata": {"name": "to-server", "namespace": "shop"},
                "spec": {"destination": {"kind": "ServiceAccount", "name": "server"},
                         "sources": [{"kind": "ServiceAccount", "name": "client"}],
                         "rules": [{"kind": "HTTPRouteGroup", "name": "routes",
                                    "matches": ["allowed"]}]}
            }))
            .unwrap(),
        ),
    ]
}

/// With an HTTPRouteGroup grant, each request is authorized on its own:
/// a matching one reaches the app, others get a 403 that says why (gRPC a
/// PERMISSION_DENIED, a client without identity `unauthenticated`), and
/// the connection keeps serving.
#[test]
fn http_routes_are_authorized_per_request() {
    let m = Mesh::start(&[]);
    let a = m.server_addr(HTTP_PORT);
    m.control.apply(route_policy());

    // Poll on fresh connections until the policy has reached the server
    // proxy (until then the default allows /denied).
    let t0 = Instant::now();
    loop {
        let a = a.clone();
        let r = m.in_client(move || async move {
            let mut s = http1(&a).await;
            try_send1(&mut s, get("/denied", &[])).await
        });
        match r {
            Ok(r) if r.status == StatusCode::FORBIDDEN => break,
            Ok(r) if r.status == StatusCode::OK => {}
            other => panic!("while the route policy applies: {other:?}"),
        }
        assert!(t0.elapsed() < WAIT, "the route policy never applied");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("route policy applied after {:?}", t0.elapsed());

    let a2 = a.clone();
    let (allowed, denied, ungranted, wrong_method, later) = m.in_client(move || async move {
        let mut s = http1(&a2).await;
        let allowed = send1(&mut s, get("/allowed", &[])).await;
        let denied = send1(&mut s, get("/denied", &[])).await;
        // In the route group, but not among the matches the target grants.
        let ungranted = send1(&mut s, get("/other", &[])).await;
        let post = Request::post("/allowed")
            .header(header::HOST, HOST)
            .body(Full::default())
            .unwrap();
        let wrong_method = send1(&mut s, post).await;
        let mut later = Vec::new();
        for i in 0..3 {
            later.push(send1(&mut s, get(&format!("/allowed/{i}"), &[])).await);
        }
        (allowed, denied, ungranted, wrong_method, later)
    });
    assert_eq!(allowed.seen()["client_ids"], json!([workload_id("client")]));
    for r in [&denied, &ungranted, &wrong_method] {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
        assert_eq!(
            r.header(headers::DENY_REASON),
            Some(deny_reason::ROUTE_NOT_MATCHED),
            "{r:?}"
        );
        assert!(
            r.header(headers::REQUEST_ID)
                .is_some_and(|id| !id.is_empty()),
            "a denial carries a request id: {r:?}"
        );
    }
    for (i, r) in later.iter().enumerate() {
        assert_eq!(r.seen()["path"], format!("/allowed/{i}"), "{r:?}");
    }

    // The proxy logs the id it sent, so a denial can be traced.
    let id = denied.header(headers::REQUEST_ID).unwrap().to_string();
    let t0 = Instant::now();
    while !m.server_proxy.log().contains(&id) {
        assert!(
            t0.elapsed() < WAIT,
            "request id {id} is not in the server proxy's log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A client without a proxy holds no identity the TrafficTarget names.
    let plain = block_in_ns(&m.cp.ns.name, move || async move {
        let mut s = http1(&a).await;
        send1(&mut s, get("/allowed", &[])).await
    });
    assert_eq!(plain.status, StatusCode::FORBIDDEN, "{plain:?}");
    assert_eq!(
        plain.header(headers::DENY_REASON),
        Some(deny_reason::UNAUTHENTICATED),
        "{plain:?}"
    );

    // gRPC matches no route: PERMISSION_DENIED.
    let grpc = m.server_addr(GRPC_PORT);
    let status = m.in_client(move || async move {
        let channel = grpc_channel(&grpc).await;
        within(
            "a denied Certify",
            IdentityClient::new(channel).certify(CertifyRequest::default()),
        )
        .await
        .expect_err("no route admits gRPC")
    });
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
}

/// Connects from the client pod, reads the banner without sending
/// anything, then checks the echo: how long the banner took.
fn banner_after(m: &Mesh, port: u16) -> Duration {
    const EHLO: &[u8] = b"EHLO client.weft.test\r\n";
    let a = m.server_addr(port);
    m.in_client(move || async move {
        let t0 = Instant::now();
        let mut s = connect(&a).await;
        let mut banner = vec![0u8; BANNER.len()];
        within("the banner", s.read_exact(&mut banner))
            .await
            .expect("the banner");
        let took = t0.elapsed();
        assert_eq!(banner, BANNER);
        s.write_all(EHLO).await.unwrap();
        let mut echo = vec![0u8; EHLO.len()];
        within("the echo", s.read_exact(&mut echo))
            .await
            .expect("the echo");
        assert_eq!(echo, EHLO, "the banner server's echo");
        took
    })
}

/// A server that speaks first gets through: at once on a port the server
/// pod declares opaque (no protocol detection), and carried opaquely once
/// detection times out on any other port.
#[test]
fn servers_that_speak_first_are_carried_opaquely() {
    let m = Mesh::start(&[]);
    let opaque = banner_after(&m, BANNER_PORT);
    let detected = banner_after(&m, DETECTED_BANNER_PORT);
    eprintln!("banner after {opaque:?} on the opaque port, {detected:?} on a detected one");
    assert!(
        opaque < DETECT_TIMEOUT * 9 / 10,
        "the banner took {opaque:?}: held for protocol detection on an opaque port"
    );
    assert!(
        detected < DETECT_TIMEOUT * 4,
        "after detection timed out the banner took {detected:?}"
    );

    let timeouts = |pod: &Pod, port: u16| {
        let metrics = admin_get(pod, "/metrics");
        let label = format!("port=\"{port}\"");
        metrics
            .lines()
            .filter(|l| l.starts_with("weft_proxy_protocol_detect_timeouts") && l.contains(&label))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert!(
        timeouts(&m.client, DETECTED_BANNER_PORT) >= 1.0,
        "the client proxy counts the detection timeout:\n{}",
        admin_get(&m.client, "/metrics")
    );
    for pod in [&m.client, &m.server] {
        assert_eq!(
            timeouts(pod, BANNER_PORT),
            0.0,
            "no detection on the opaque port:\n{}",
            admin_get(pod, "/metrics")
        );
    }
}

/// A client that opens its connection early (a pool warming up) and sends
/// its first request only after detection gave up is served as HTTP, with
/// its verified identity: the server never spoke, so it is no server-first
/// protocol. Before, the request was refused as a late HTTP request.
#[test]
fn a_request_sent_after_detection_gave_up_is_served() {
    let m = Mesh::start(&[]);
    let addr = m.server_addr(HTTP_PORT);
    let (late, next) = m.in_client(move || async move {
        let mut s = http1(&addr).await;
        tokio::time::sleep(DETECT_TIMEOUT * 5 / 2).await;
        let late = send1(&mut s, get("/late", &[])).await;
        (late, send1(&mut s, get("/next", &[])).await)
    });
    let seen = late.seen();
    assert_eq!(seen["path"], "/late", "{seen}");
    assert_eq!(seen["client_ids"], json!([workload_id("client")]), "{seen}");
    assert_eq!(next.seen()["path"], "/next", "the connection stays HTTP");
}

/// Responses the proxy makes itself say why: 504 `timeout` once the
/// request timeout passes without response headers, 502 `connect-failed`
/// when nothing listens, 502 `upstream-failed` when the app hangs up, 503
/// `unavailable` for an address discovery cannot place; gRPC clients get
/// the matching status. The timeout never cuts a response whose headers
/// arrived.
#[test]
fn proxy_made_errors_say_why() {
    let m = Mesh::start(&[(env::REQUEST_TIMEOUT, "2s")]);
    // Each with how soon it must answer: the timeout's own 2 s, at once
    // for a refused or dropped upstream, and discovery's bounded wait for
    // an address it cannot place.
    let prompt = Duration::ZERO..Duration::from_secs(2);
    let cases = [
        (
            m.server_addr(SILENT_PORT),
            StatusCode::GATEWAY_TIMEOUT,
            proxy_error::TIMEOUT,
            Duration::from_millis(1900)..Duration::from_secs(5),
        ),
        (
            m.server_addr(CLOSED_PORT),
            StatusCode::BAD_GATEWAY,
            proxy_error::CONNECT_FAILED,
            prompt.clone(),
        ),
        (
            m.server_addr(HANGUP_PORT),
            StatusCode::BAD_GATEWAY,
            proxy_error::UPSTREAM_FAILED,
            prompt,
        ),
        (
            format!("{SUBNET}.99:{HTTP_PORT}"),
            StatusCode::SERVICE_UNAVAILABLE,
            proxy_error::UNAVAILABLE,
            Duration::ZERO..WAIT,
        ),
    ];
    for (addr, status, reason, expected) in cases {
        let a = addr.clone();
        let (r, after) = m.in_client(move || async move {
            let mut s = http1(&a).await;
            let t0 = Instant::now();
            (send1(&mut s, get("/", &[])).await, t0.elapsed())
        });
        eprintln!("{addr}: {} {reason:?} after {after:?}", r.status);
        assert_eq!(r.status, status, "{addr}: {r:?}");
        assert_eq!(r.header(headers::PROXY_ERROR), Some(reason), "{r:?}");
        assert!(
            !r.body.is_empty(),
            "a short text body says what failed: {r:?}"
        );
        assert!(
            expected.contains(&after),
            "{addr}: {reason} after {after:?}, expected within {expected:?}"
        );
    }

    let grpc_cases = [
        (SILENT_PORT, tonic::Code::DeadlineExceeded),
        (CLOSED_PORT, tonic::Code::Unavailable),
    ];
    for (port, code) in grpc_cases {
        let grpc = m.server_addr(port);
        let status = m.in_client(move || async move {
            let mut client = IdentityClient::new(grpc_channel(&grpc).await);
            within(
                "a failing Certify",
                client.certify(CertifyRequest::default()),
            )
            .await
            .expect_err("nothing answers gRPC there")
        });
        assert_eq!(status.code(), code, "gRPC to port {port}: {status:?}");
    }

    // Headers within the timeout, the body for longer than it.
    let a = m.server_addr(HTTP_PORT);
    let (r, after) = m.in_client(move || async move {
        let mut s = http1(&a).await;
        let t0 = Instant::now();
        (send1(&mut s, get("/drip", &[])).await, t0.elapsed())
    });
    let want: String = (0..DRIP_CHUNKS).map(|i| format!("drop {i};")).collect();
    assert_eq!(
        (r.status, String::from_utf8_lossy(&r.body).into_owned()),
        (StatusCode::OK, want),
        "a response streaming for {after:?} under a 2 s request timeout: {r:?}"
    );
    assert!(after > DRIP_GAP * (DRIP_CHUNKS as u32 - 1), "{after:?}");
}
