//! An attacker's probes against the data plane, in network namespaces with
//! real parts (the pair of meshed pods of [`pair::Mesh`]). Each test is a way
//! past the mesh's promise that was open once: an app sees only a verified
//! client identity and only the requests its policy allows, and the proxy
//! lends its pod's address to no one.
//!
//! Root only (CI runs tests as root); without root it fails and says so.
//! On any failure both proxies' logs are printed.

#[allow(dead_code)]
#[path = "support/apps.rs"]
mod apps;
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

use apps::{BANNER_PORT, CLOSED_PORT, HTTP_PORT, LISTENING};
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use mesh::{SUBNET, block_in_ns, in_ns};
use pair::{
    DETECT_TIMEOUT, FORGED_ID, HOST, Mesh, admin_get, connect, get, h2c, http1, send1, within,
};
use plane::{WAIT, pod_object, workload_id};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    time::Instant,
};
use weft_api::contract::{annotations, deny_reason, headers, proxy_error};
use weft_controller::index::Resource;

/// Writes `pieces` with `gap` before each, then reads until the server
/// closes (each request says `Connection: close`): everything it sent back.
async fn raw_exchange(addr: String, pieces: Vec<Vec<u8>>, gap: Duration) -> Vec<u8> {
    let mut s = connect(&addr).await;
    for p in pieces {
        tokio::time::sleep(gap).await;
        if s.write_all(&p).await.is_err() {
            break;
        }
    }
    let mut back = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut back)).await;
    back
}

/// A request naming itself with a forged `weft-client-id`, split in
/// `pieces` where the `|`s are.
fn forged(request_line: &str) -> Vec<Vec<u8>> {
    let whole = format!(
        "{request_line}\r\nHost: {HOST}\r\n{}: {FORGED_ID}\r\nConnection: close\r\n\r\n",
        headers::CLIENT_ID
    );
    whole.split('|').map(|p| p.as_bytes().to_vec()).collect()
}

/// The app's description of what it received, when `back` is its answer.
fn described(back: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(back);
    let (_, body) = text.split_once("\r\n\r\n")?;
    let start = body.find('{')?;
    serde_json::from_str(body[start..].trim_end_matches(['\r', '\n', '0'])).ok()
}

/// No pause, split or method lets a client deliver its own
/// `weft-client-id` to the app: silent past the detection timeout before
/// the request, the method sent in pieces with pauses between them, a
/// method outside any fixed list, empty lines before the request line. The
/// app either gets the request with the verified identity, or not at all.
#[test]
fn no_pause_split_or_method_forges_the_client_id() {
    let m = Mesh::start(&[]);
    let addr = m.server_addr(HTTP_PORT);
    let silence = DETECT_TIMEOUT * 5 / 2;
    let cases: Vec<(&str, Vec<Vec<u8>>, Duration)> = vec![
        ("silent first", forged("GET /silent HTTP/1.1"), silence),
        (
            "method in pieces",
            forged("PROP|FIND /pieces| HTTP/1.1"),
            silence / 2,
        ),
        (
            "WebDAV method",
            forged("PROPFIND /dav HTTP/1.1"),
            Duration::ZERO,
        ),
        (
            "custom method",
            forged("X-WEFT-PROBE /custom HTTP/1.1"),
            Duration::ZERO,
        ),
        (
            "empty lines first",
            forged("\r\n\r\nGET /lines HTTP/1.1"),
            Duration::ZERO,
        ),
        (
            "lower-case version",
            forged("GET /lower http/1.1"),
            Duration::ZERO,
        ),
    ];
    let mut outcomes = Vec::new();
    for (what, pieces, gap) in cases {
        let a = addr.clone();
        let back = m.in_client(move || raw_exchange(a, pieces, gap));
        assert!(
            !String::from_utf8_lossy(&back).contains(FORGED_ID),
            "{what}: the forged identity reached the app: {}",
            String::from_utf8_lossy(&back)
        );
        let outcome = match described(&back) {
            Some(seen) => {
                assert_eq!(
                    seen["client_ids"],
                    json!([workload_id("client")]),
                    "{what}: {seen}"
                );
                "served with the verified id"
            }
            None => "refused",
        };
        outcomes.push(format!("{what}: {outcome}"));
    }
    // Without a proxy of its own the caller has no identity to name.
    let plain = block_in_ns(&m.cp.ns.name, move || {
        raw_exchange(addr, forged("GET /plain HTTP/1.1"), silence)
    });
    assert!(
        !String::from_utf8_lossy(&plain).contains(FORGED_ID),
        "an unauthenticated client's forged identity reached the app: {}",
        String::from_utf8_lossy(&plain)
    );
    if let Some(seen) = described(&plain) {
        assert_eq!(seen["client_ids"], json!([]), "{seen}");
    }
    eprintln!("{}", outcomes.join("; "));
}

/// A port declared HTTP (`weft.io/http-ports` here) is never carried as
/// bytes: a client that stays silent past detection and then sends a
/// request is served as HTTP, with its verified identity, where on an
/// undeclared port its connection is refused.
#[test]
fn a_port_declared_http_is_always_served_as_http() {
    let m = Mesh::start(&[]);
    let declared: Vec<u16> = LISTENING.into_iter().chain([CLOSED_PORT]).collect();
    let opaque = BANNER_PORT.to_string();
    let http = HTTP_PORT.to_string();
    m.control.apply([pod_object(
        "server-0",
        "server",
        &m.server.ip,
        &declared,
        &[
            (annotations::OPAQUE_PORTS, &opaque),
            (annotations::HTTP_PORTS, &http),
        ],
    )]);
    let addr = m.server_addr(HTTP_PORT);
    let silence = DETECT_TIMEOUT * 5 / 2;
    let t0 = Instant::now();
    let seen = loop {
        let a = addr.clone();
        let back = m.in_client(move || raw_exchange(a, forged("GET /late HTTP/1.1"), silence));
        assert!(
            !String::from_utf8_lossy(&back).contains(FORGED_ID),
            "the forged identity reached the app: {}",
            String::from_utf8_lossy(&back)
        );
        if let Some(seen) = described(&back) {
            break seen;
        }
        assert!(
            t0.elapsed() < WAIT,
            "a silent client of a port declared HTTP was never served"
        );
    };
    assert_eq!(seen["client_ids"], json!([workload_id("client")]), "{seen}");
    assert_eq!(seen["path"], "/late", "{seen}");
}

/// The client may GET /allowed, send /tenant with `x-tenant: acme`, and
/// upgrade /ws; `granted` picks which of those the TrafficTarget grants.
fn policy(granted: &[&str]) -> [Resource; 2] {
    [
        Resource::HttpRouteGroup(
            serde_json::from_value(json!({
                "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
                "metadata": {"name": "routes", "namespace": "shop"},
                "spec": {"matches": [
                    {"name": "allowed", "pathRegex": "/allowed", "methods": ["GET"]},
                    {"name": "tenant", "pathRegex": "/tenant", "headers": {"x-tenant": "acme"}},
                    {"name": "ws", "pathRegex": "/ws$", "methods": ["GET"]}
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
                                    "matches": granted}]}
            }))
            .unwrap(),
        ),
    ]
}

/// Applies the route policy and waits until the server proxy enforces it.
fn enforce(m: &Mesh) {
    m.control.apply(policy(&["allowed", "tenant", "ws"]));
    let a = m.server_addr(HTTP_PORT);
    let t0 = Instant::now();
    loop {
        let a = a.clone();
        let r = m.in_client(move || async move {
            let mut s = http1(&a).await;
            send1(&mut s, get("/denied", &[])).await
        });
        if r.status == StatusCode::FORBIDDEN {
            return;
        }
        assert!(t0.elapsed() < WAIT, "the route policy never applied: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Paths that a route allowing `/allowed` must not let through to
/// something else, and what each must get: the app's 200 for the path it
/// then sees, a 403, or a 400 for a path servers read differently.
const PATHS: &[(&str, Result<&str, StatusCode>)] = &[
    ("/allowed/../denied", Err(StatusCode::FORBIDDEN)),
    ("/allowed/%2e%2e/denied", Err(StatusCode::FORBIDDEN)),
    ("/allowed/.%2E/.%2e/denied", Err(StatusCode::FORBIDDEN)),
    ("/allowed//../denied", Err(StatusCode::FORBIDDEN)),
    ("/allowed/..%2Fdenied", Err(StatusCode::BAD_REQUEST)),
    ("/allowed/..%5cdenied", Err(StatusCode::BAD_REQUEST)),
    ("/allowed/..;/denied", Err(StatusCode::BAD_REQUEST)),
    ("/allowed//x", Ok("/allowed/x")),
    ("/allowed/%78/./y", Ok("/allowed/x/y")),
    ("/%61llowed", Ok("/allowed")),
];

fn check_paths(how: &str, replies: &[pair::Reply]) {
    for ((path, want), r) in PATHS.iter().zip(replies) {
        match want {
            Ok(seen) => assert_eq!(r.seen()["path"], *seen, "{how} {path}: {r:?}"),
            Err(status) => {
                assert_eq!(r.status, *status, "{how} {path}: {r:?}");
                let code = match *status {
                    StatusCode::FORBIDDEN => r.header(headers::DENY_REASON),
                    _ => r.header(headers::PROXY_ERROR),
                };
                let want_code = match *status {
                    StatusCode::FORBIDDEN => deny_reason::ROUTE_NOT_MATCHED,
                    _ => proxy_error::BAD_REQUEST,
                };
                assert_eq!(code, Some(want_code), "{how} {path}: {r:?}");
            }
        }
    }
}

/// The path a route matches is the path the app receives: dot segments,
/// encoded dots and doubled slashes are normalised before matching and
/// forwarded normalised; encoded slashes and dot segments with parameters
/// are refused with 400; the same over HTTP/1 and HTTP/2.
#[test]
fn routes_match_the_path_the_app_receives() {
    let m = Mesh::start(&[]);
    enforce(&m);
    let a = m.server_addr(HTTP_PORT);
    let a2 = a.clone();
    let over_http1 = m.in_client(move || async move {
        let mut s = http1(&a2).await;
        let mut out = Vec::new();
        for (path, _) in PATHS {
            out.push(send1(&mut s, get(path, &[])).await);
        }
        out
    });
    check_paths("HTTP/1", &over_http1);
    let over_h2 = m.in_client(move || async move {
        let mut s = h2c(&a).await;
        let mut out = Vec::new();
        for (path, _) in PATHS {
            let req = Request::get(format!("http://{HOST}{path}"))
                .body(Full::<Bytes>::default())
                .unwrap();
            let res = within(path, s.send_request(req))
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            out.push(pair::read_reply(res).await.unwrap());
        }
        out
    });
    check_paths("HTTP/2", &over_h2);
}

/// A header match is judged on all of a header's values together: a
/// second `x-tenant` beside an honest one does not pass `^acme$`.
#[test]
fn a_repeated_header_cannot_satisfy_a_match() {
    let m = Mesh::start(&[]);
    enforce(&m);
    let a = m.server_addr(HTTP_PORT);
    let replies = m.in_client(move || async move {
        let mut s = http1::<Full<Bytes>>(&a).await;
        let mut out = Vec::new();
        for values in [&["acme"][..], &["evil", "acme"], &["acme", "evil"]] {
            let mut req = Request::get("/tenant").header(header::HOST, HOST);
            for v in values {
                req = req.header("x-tenant", *v);
            }
            out.push(send1(&mut s, req.body(Full::default()).unwrap()).await);
        }
        out
    });
    assert_eq!(replies[0].seen()["path"], "/tenant", "{:?}", replies[0]);
    for r in &replies[1..] {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
        assert_eq!(
            r.header(headers::DENY_REASON),
            Some(deny_reason::ROUTE_NOT_MATCHED),
            "{r:?}"
        );
    }
}

/// `Upgrade: h2c` never switches (the request is answered as plain
/// HTTP/1.1); a WebSocket-style upgrade is allowed by its route and closed
/// when a policy update takes the route away, like a TCP connection.
#[test]
fn h2c_upgrades_are_refused_and_revoking_a_route_closes_its_upgraded_stream() {
    let m = Mesh::start(&[]);
    enforce(&m);
    let a = m.server_addr(HTTP_PORT);
    let head = format!(
        "GET /allowed HTTP/1.1\r\nHost: {HOST}\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    );
    let a2 = a.clone();
    let back = m.in_client(move || async move {
        let mut s = connect(&a2).await;
        s.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = within("the h2c answer", s.read(&mut buf)).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    assert!(
        back.starts_with("HTTP/1.1 200"),
        "an h2c upgrade must be answered as HTTP/1.1: {back}"
    );
    assert!(
        !back.to_ascii_lowercase().contains("\"upgrade\""),
        "the app saw the Upgrade header: {back}"
    );

    // A WebSocket-style upgrade the route allows, echoing until revoked.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (revoked_tx, revoked_rx) = tokio::sync::oneshot::channel::<()>();
    let stream = in_ns(&m.client.ns.name, move || async move {
        let mut s = http1::<Full<Bytes>>(&a).await;
        let req = Request::get("/ws")
            .header(header::HOST, HOST)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .body(Full::default())
            .unwrap();
        let res = within("the upgrade", s.send_request(req)).await.unwrap();
        assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS, "{res:?}");
        let mut io = TokioIo::new(within("the switch", hyper::upgrade::on(res)).await.unwrap());
        io.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        within("the echo", io.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"ping");
        ready_tx.send(()).unwrap();
        revoked_rx.await.unwrap();
        let t0 = Instant::now();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(WAIT, io.read_to_end(&mut rest)).await;
        (closed.is_ok(), t0.elapsed())
    });
    ready_rx
        .recv_timeout(WAIT)
        .expect("the upgraded stream echoes");
    m.control.apply(policy(&["allowed", "tenant"]));
    revoked_tx.send(()).unwrap();
    let (closed, after) = stream.join().expect("the WebSocket client");
    assert!(
        closed,
        "the upgraded stream stayed open {WAIT:?} after its route was revoked"
    );
    eprintln!("the upgraded stream closed {after:?} after the revocation");
}

/// A connection routed to the pod for another address is not dialled on
/// from the pod's address: the inbound side refuses any original
/// destination that is not one of the pod's own, and counts it.
#[test]
fn the_inbound_side_dials_only_its_own_pod() {
    let m = Mesh::start(&[]);
    let elsewhere = format!("{SUBNET}.50");
    let outside = m.node.pod("outside", "v-outside", 50);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ip = elsewhere.clone();
    let echo = in_ns(&outside.ns.name, move || async move {
        let l = tokio::net::TcpListener::bind((ip.as_str(), 9999))
            .await
            .unwrap();
        let serve = async {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        };
        tokio::select! {
            () = serve => {}
            _ = stopped => {}
        }
    });
    // The attacker (the control plane's namespace, on the same bridge)
    // routes the other host's address through the server pod.
    m.cp.ns.ok(&[
        "ip",
        "route",
        "add",
        &format!("{elsewhere}/32"),
        "via",
        &m.server.ip,
    ]);
    let target = format!("{elsewhere}:9999");
    let reached = block_in_ns(&m.cp.ns.name, move || async move {
        let Ok(Ok(mut s)) =
            tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(&target)).await
        else {
            return false;
        };
        if s.write_all(b"lend me your address").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 20];
        matches!(
            tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut buf)).await,
            Ok(Ok(_))
        )
    });
    let _ = stop.send(());
    echo.join().expect("the other host's echo server");
    assert!(
        !reached,
        "the server pod's proxy carried a connection to {elsewhere}"
    );
    let metrics = admin_get(&m.server, "/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("weft_proxy_refused_connections")
                && l.contains("reason=\"not-this-pod\"")
                && !l.ends_with(" 0")),
        "the refusal is counted:\n{metrics}"
    );
}
