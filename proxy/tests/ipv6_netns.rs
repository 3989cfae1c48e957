//! IPv6 through the mesh, in network namespaces with real parts: dual-stack
//! pods (IPv4 and IPv6 on one bridge), the real `weft-proxy init` rules
//! (IPv6 redirected by default), the real proxy binary under its own UID,
//! the control plane in-process with both pod IPs in `status.podIPs`.
//!
//! Every check proves IPv6 really carried the traffic: the server app sees
//! an IPv6 peer (its own proxy, at the pod's IPv6 address), or the wire
//! shows the IPv6 addresses.
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
#[path = "support/objects.rs"]
mod objects;
#[allow(dead_code)]
#[path = "support/pair.rs"]
mod pair;
#[allow(dead_code)]
#[path = "support/plane.rs"]
mod plane;
#[path = "support/wire.rs"]
mod wire;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mesh::{Node, Pod, Proxy, block_in_ns, in_ns};
use pair::{CLIENT_HOST, Reply, SERVER_HOST, get, http1, send1, within};
use plane::{
    CP_HOST, ControlPlane, Shared, WAIT, pod_object_ips, proxy_env, wait_ready, workload_id,
};
use serde_json::json;
use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    time::Instant,
};
use weft_api::contract::{annotations, deny_reason, headers};
use weft_controller::index::Resource;
use wire::{capture, contains};

/// Echoes, noting each connection's listener and peer.
const ECHO_PORT: u16 = 7070;
/// Answers HTTP/1 with what it received and from whom.
const WEB_PORT: u16 = 8080;
/// A single-stack IPv6 Service in front of the server's web port.
const SERVICE6: &str = "fd00:198:18:200::100";
const SERVICE_PORT: u16 = 80;

/// (listener, peer) of every connection the echo app accepted.
type Seen = Arc<Mutex<Vec<(SocketAddr, SocketAddr)>>>;

/// `ip:port`, bracketed for IPv6.
fn at(ip: &str, port: u16) -> String {
    SocketAddr::new(ip.parse().unwrap(), port).to_string()
}

fn ip6(pod: &Pod) -> String {
    pod.ip6.clone().expect("a dual-stack pod")
}

/// A client pod and a server pod, both dual-stack and meshed, a control
/// plane pod (dual-stack, no proxy: an unauthenticated peer), the server's
/// apps on both its addresses and ready proxies.
struct Mesh {
    // Processes first: they go before their namespaces.
    client_proxy: Proxy,
    server_proxy: Proxy,
    echoed: Seen,
    control: ControlPlane,
    shared: Shared,
    client: Pod,
    server: Pod,
    cp: Pod,
    node: Node,
}

impl Mesh {
    fn start() -> Self {
        netns::require_root();
        let node = Node::new();
        let cp = node.pod_dual("cp", "v-cp", CP_HOST);
        let client = node.pod_dual("client", "v-client", CLIENT_HOST);
        let server = node.pod_dual("server", "v-server", SERVER_HOST);
        let control = ControlPlane::start(
            &cp,
            [
                pod_object_ips("client-0", "client", &client.ips(), &[], &[]),
                server_object(&server, &[]),
                objects::service("web6", SERVICE6, &[("http", SERVICE_PORT, WEB_PORT)]),
                objects::endpoint_slice(
                    "web6",
                    &[("http", WEB_PORT)],
                    &[("server-0", &ip6(&server))],
                ),
            ],
        );
        let shared = Shared::new(&control.anchors_pem, &["client", "server"]);
        let bin = shared.bin();
        for pod in [&client, &server] {
            // No `--ipv6`: the default must redirect IPv6.
            pod.ns.ok(&[bin.to_str().unwrap(), "init"]);
        }
        let echoed = start_apps(&server);
        let proxy = |pod: &Pod, name: &str, sa: &str, ports: &[u16]| {
            let env = proxy_env(pod, name, sa, &shared.0, ports);
            let p = Proxy::start(pod, &bin, &env, shared.0.join(format!("{name}.log")));
            wait_ready(pod, &p);
            p
        };
        let server_proxy = proxy(&server, "server-0", "server", &[ECHO_PORT, WEB_PORT]);
        let client_proxy = proxy(&client, "client-0", "client", &[]);
        Self {
            client_proxy,
            server_proxy,
            echoed,
            control,
            shared,
            client,
            server,
            cp,
            node,
        }
    }

    /// Reruns `weft-proxy init` in `pod` with `args`.
    fn init(&self, pod: &Pod, args: &[&str]) {
        let bin = self.shared.bin();
        let mut argv = vec![bin.to_str().unwrap(), "init"];
        argv.extend_from_slice(args);
        pod.ns.ok(&argv);
    }

    /// `GET path` over one connection to `addr` from the client app.
    fn get_from(&self, pod: &Pod, addr: String, paths: &'static [&'static str]) -> Vec<Reply> {
        block_in_ns(&pod.ns.name, move || async move {
            let mut s = http1(&addr).await;
            let mut out = Vec::new();
            for p in paths {
                // A forged id, which must never reach the app.
                let forged = [(headers::CLIENT_ID, pair::FORGED_ID)];
                out.push(send1(&mut s, get(p, &forged)).await);
            }
            out
        })
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "===== client proxy log =====\n{}\n===== server proxy log =====\n{}",
                self.client_proxy.log(),
                self.server_proxy.log()
            );
        }
    }
}

/// The server pod as the controller sees it: both addresses, its app ports.
fn server_object(server: &Pod, annotations: &[(&str, &str)]) -> Resource {
    pod_object_ips(
        "server-0",
        "server",
        &server.ips(),
        &[ECHO_PORT, WEB_PORT],
        annotations,
    )
}

/// The server's echo and web apps, on each of its addresses.
fn start_apps(pod: &Pod) -> Seen {
    let seen = Seen::default();
    let (ips, noted) = (pod.ips(), seen.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    in_ns(&pod.ns.name, move || async move {
        for ip in &ips {
            let echo = TcpListener::bind(at(ip, ECHO_PORT)).await.unwrap();
            let web = TcpListener::bind(at(ip, WEB_PORT)).await.unwrap();
            tokio::spawn(serve_echo(echo, noted.clone()));
            tokio::spawn(serve_web(web));
        }
        tx.send(()).unwrap();
        std::future::pending::<()>().await;
    });
    rx.recv_timeout(WAIT).expect("the server apps listen");
    seen
}

async fn serve_echo(l: TcpListener, seen: Seen) {
    let local = l.local_addr().unwrap();
    while let Ok((mut s, peer)) = l.accept().await {
        seen.lock().unwrap().push((local, peer));
        tokio::spawn(async move {
            let (mut r, mut w) = s.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
    }
}

/// Answers with JSON: the path, every `weft-client-id` value and the peer.
async fn serve_web(l: TcpListener) {
    while let Ok((sock, peer)) = l.accept().await {
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                let ids: Vec<String> = req
                    .headers()
                    .get_all(headers::CLIENT_ID)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                let seen = json!({
                    "path": req.uri().path(),
                    "client_ids": ids,
                    "peer": peer.ip().to_string(),
                });
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(seen.to_string()))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(sock), svc)
                .await;
        });
    }
}

/// From `pod`, as its app (root, so redirected): sends `msg` to `addr` and
/// returns what comes back (short if the connection closes first). Each
/// message starts with `@`, which no HTTP method has, so the proxy carries
/// it as bytes at once (what could still be a request line is waited on,
/// then served as HTTP).
fn exchange(pod: &Pod, addr: String, msg: &'static [u8]) -> io::Result<Vec<u8>> {
    block_in_ns(&pod.ns.name, move || async move {
        let mut s = tokio::time::timeout(WAIT, TcpStream::connect(&addr))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        s.write_all(msg).await?;
        let mut got = vec![0u8; msg.len()];
        let mut n = 0;
        while n < got.len() {
            match tokio::time::timeout(WAIT, s.read(&mut got[n..])).await {
                Ok(Ok(k)) if k > 0 => n += k,
                _ => break,
            }
        }
        got.truncate(n);
        Ok(got)
    })
}

#[test]
fn tcp_over_ipv6_crosses_both_proxies_inside_mesh_mtls() {
    let m = Mesh::start();
    let server6 = ip6(&m.server);
    let (stop, captured) = capture(&m.node, &m.server.port);
    let marker: &'static [u8] = b"@weft-ipv6-plaintext-marker-7c1e";
    let got = exchange(&m.client, at(&server6, ECHO_PORT), marker);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let wire = captured.join().unwrap();
    assert_eq!(got.unwrap(), marker, "echo over IPv6 through both proxies");

    // On the wire: IPv6 packets between the two pods, carrying mesh TLS
    // and never the app's bytes.
    for pod in [&m.client, &m.server] {
        let octets = ip6(pod).parse::<std::net::Ipv6Addr>().unwrap().octets();
        assert!(contains(&wire, &octets), "no IPv6 packet of {}", ip6(pod));
    }
    assert!(
        contains(&wire, b"weft/1"),
        "the mesh ALPN id is on the wire"
    );
    assert!(
        !contains(&wire, marker),
        "the app's bytes crossed in plaintext"
    );

    // The server app was dialled on its IPv6 address by its own proxy (from
    // inside the pod), which verified the client's identity.
    let seen = m.echoed.lock().unwrap().clone();
    let on_v6: Vec<_> = seen.iter().filter(|(l, _)| l.is_ipv6()).collect();
    assert!(
        !on_v6.is_empty(),
        "nothing reached the IPv6 listener: {seen:?}"
    );
    for (_, peer) in &on_v6 {
        assert_eq!(peer.ip().to_string(), server6, "{seen:?}");
    }
    let client_id = workload_id("client");
    assert!(
        m.server_proxy.log().contains(&client_id),
        "the server proxy names {client_id}"
    );

    // Dual-stack: IPv4 still takes the same path.
    let got = exchange(&m.client, at(&m.server.ip, ECHO_PORT), b"@over ipv4");
    assert_eq!(got.unwrap(), b"@over ipv4");
    let seen = m.echoed.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(l, p)| l.is_ipv4() && p.ip().to_string() == m.server.ip),
        "{seen:?}"
    );
}

#[test]
fn http_over_ipv6_delivers_only_the_verified_client_id() {
    let m = Mesh::start();
    let server6 = ip6(&m.server);
    let want = json!([workload_id("client")]);

    // To the pod's IPv6 address, and to an IPv6 Service whose endpoints come
    // from an IPv6 EndpointSlice.
    for addr in [at(&server6, WEB_PORT), at(SERVICE6, SERVICE_PORT)] {
        let replies = m.get_from(&m.client, addr.clone(), &["/one", "/two"]);
        for (r, path) in replies.iter().zip(["/one", "/two"]) {
            let seen = r.seen();
            assert_eq!(seen["path"], path, "{addr}: {seen}");
            assert_eq!(seen["client_ids"], want, "{addr}: {seen}");
            assert_eq!(seen["peer"], server6.as_str(), "{addr}: not over IPv6");
        }
    }
}

/// The client may GET /allowed; /other is in the group but not granted.
fn route_policy() -> [Resource; 2] {
    [
        objects::route_group(
            "routes",
            json!([
                {"name": "allowed", "pathRegex": "/allowed", "methods": ["GET"]},
                {"name": "other", "pathRegex": "/other"}
            ]),
        ),
        objects::traffic_target(
            "to-server",
            "server",
            &["client"],
            &[("HTTPRouteGroup", "routes", &["allowed"])],
        ),
    ]
}

fn reason_of(r: &Reply) -> Option<&str> {
    r.header(headers::DENY_REASON)
}

#[test]
fn route_policy_over_ipv6_allows_and_denies_as_over_ipv4() {
    let m = Mesh::start();
    let (server6, cp6) = (ip6(&m.server), ip6(&m.cp));
    m.control.apply(route_policy());
    let t0 = Instant::now();
    loop {
        let r = m.get_from(&m.client, at(&server6, WEB_PORT), &["/denied"]);
        if r[0].status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(t0.elapsed() < WAIT, "the route policy never applied");
        std::thread::sleep(Duration::from_millis(100));
    }

    for ip in [server6.as_str(), m.server.ip.as_str()] {
        let r = m.get_from(
            &m.client,
            at(ip, WEB_PORT),
            &["/allowed", "/denied", "/other"],
        );
        let seen = r[0].seen();
        assert_eq!(seen["client_ids"], json!([workload_id("client")]), "{ip}");
        assert_eq!(seen["peer"], ip, "{ip}: {seen}");
        for denied in &r[1..] {
            assert_eq!(denied.status, StatusCode::FORBIDDEN, "{ip}: {denied:?}");
            assert_eq!(
                reason_of(denied),
                Some(deny_reason::ROUTE_NOT_MATCHED),
                "{ip}"
            );
        }
    }

    // A peer without a proxy has no identity: refused over either family…
    for ip in [server6.as_str(), m.server.ip.as_str()] {
        let r = m.get_from(&m.cp, at(ip, WEB_PORT), &["/allowed"]);
        assert_eq!(r[0].status, StatusCode::FORBIDDEN, "{ip}: {:?}", r[0]);
        assert_eq!(reason_of(&r[0]), Some(deny_reason::UNAUTHENTICATED));
    }
    // …until its IPv6 address is an allowed network: an IPv6 CIDR matches
    // the IPv6 peer, and nothing of IPv4.
    let cidr = format!("{cp6}/128");
    m.control.apply([server_object(
        &m.server,
        &[(annotations::ALLOW_UNAUTHENTICATED_FROM, &cidr)],
    )]);
    let t0 = Instant::now();
    let seen = loop {
        let r = m.get_from(&m.cp, at(&server6, WEB_PORT), &["/allowed"]);
        if r[0].status == StatusCode::OK {
            break r[0].seen();
        }
        assert!(t0.elapsed() < WAIT, "the allowed network never applied");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(seen["client_ids"], json!([]), "{seen}");
    let r = m.get_from(&m.cp, at(&m.server.ip, WEB_PORT), &["/allowed"]);
    assert_eq!(r[0].status, StatusCode::FORBIDDEN, "{:?}", r[0]);
}

#[test]
fn ipv6_reject_refuses_ipv6_tcp_and_leaves_ipv4_alone() {
    let m = Mesh::start();
    let server6 = ip6(&m.server);

    // The default (redirect) carries IPv6; a peer without rules connects.
    let got = exchange(&m.client, at(&server6, ECHO_PORT), b"@before");
    assert_eq!(got.unwrap(), b"@before");
    let direct = at(&server6, ECHO_PORT);
    let connected = block_in_ns(&m.cp.ns.name, move || async move {
        within("a direct IPv6 connection", TcpStream::connect(direct))
            .await
            .map(drop)
    });
    assert!(connected.is_ok(), "{connected:?}");

    // The client pod rejects IPv6: its app is refused at once, even though
    // its proxy still listens on [::1].
    m.init(&m.client, &["--ipv6=reject"]);
    let err = exchange(&m.client, at(&server6, ECHO_PORT), b"@rejected").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let got = exchange(&m.client, at(&m.server.ip, ECHO_PORT), b"@ipv4 too");
    assert_eq!(got.unwrap(), b"@ipv4 too", "IPv4 is unaffected");

    // The server pod rejects IPv6: new inbound IPv6 TCP is refused, from a
    // peer without a proxy and from the client's proxy alike.
    m.init(&m.client, &[]);
    m.init(&m.server, &["--ipv6=reject"]);
    let direct = at(&server6, ECHO_PORT);
    let err = block_in_ns(&m.cp.ns.name, move || async move {
        within("a direct IPv6 connection", TcpStream::connect(direct))
            .await
            .map(drop)
            .unwrap_err()
    });
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let before = m.echoed.lock().unwrap().len();
    // The client's proxy is refused: the app's connection closes unechoed.
    let got = exchange(&m.client, at(&server6, ECHO_PORT), b"@through?");
    assert_eq!(got.unwrap_or_default(), b"", "the mesh link got through");
    assert_eq!(
        m.echoed.lock().unwrap().len(),
        before,
        "the app was reached"
    );
    let got = exchange(&m.client, at(&m.server.ip, ECHO_PORT), b"@ipv4 still");
    assert_eq!(got.unwrap(), b"@ipv4 still");
}

/// A pod with IPv6 disabled: the proxy has no `[::1]` to bind, says so
/// once, and serves IPv4.
#[test]
fn a_pod_without_ipv6_gets_ipv4_listeners_and_says_so() {
    netns::require_root();
    let node = Node::new();
    let cp = node.pod("cp", "v-cp", CP_HOST);
    let pod = node.pod("v4only", "v-v4only", CLIENT_HOST);
    pod.ns
        .ok(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    let control = ControlPlane::start(
        &cp,
        [pod_object_ips("v4only-0", "client", &pod.ips(), &[], &[])],
    );
    let shared = Shared::new(&control.anchors_pem, &["client"]);
    let bin = shared.bin();
    pod.ns.ok(&[bin.to_str().unwrap(), "init"]);
    let env = proxy_env(&pod, "v4only-0", "client", &shared.0, &[]);
    let proxy = Proxy::start(&pod, &bin, &env, shared.0.join("v4only-0.log"));
    wait_ready(&pod, &proxy);
    let log = proxy.log();
    assert_eq!(
        log.matches("no IPv6 in this pod").count(),
        1,
        "logged once:\n{log}"
    );
    assert!(log.contains("[::1]:4140"), "names the address:\n{log}");
    assert!(log.contains("127.0.0.1:4140"), "{log}");
}
