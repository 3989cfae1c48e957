//! The data plane in network namespaces, end to end with real parts: the
//! real `weft-proxy init` rules, the real proxy binary under its own UID in
//! a client pod and a server pod, the real Certify service and controller
//! gRPC server (over a real index) in a control-plane namespace, real
//! sockets on a veth bridge.
//!
//! Root only (CI runs tests as root); without root it fails and says so.

// Shared with other suites; not every helper is used here.
#[allow(dead_code)]
#[path = "support/mesh.rs"]
mod mesh;
#[allow(dead_code)]
#[path = "support/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "support/plane.rs"]
mod plane;
#[path = "support/wire.rs"]
mod wire;

use mesh::{Node, Pod, Proxy, SUBNET, block_in_ns, http_status, in_ns};
use plane::{CP_HOST, ControlPlane, Shared, WAIT, pod_object, proxy_env, wait_ready};
use serde_json::json;
use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
    time::Duration,
};
use weft_api::contract::ports;
use weft_controller::index::Resource;
use wire::{capture, contains};

const CLIENT_HOST: u8 = 11;
const SERVER_HOST: u8 = 12;
const IMPOSTOR_HOST: u8 = 13;
const APP_PORT: u16 = 8080;
const LOOPBACK_ONLY_PORT: u16 = 9090;

/// The server app: echoes on the pod IP and on loopback only, noting the
/// peer address of every connection.
fn start_server_app(pod: &Pod) -> Arc<Mutex<Vec<std::net::SocketAddr>>> {
    let peers = Arc::new(Mutex::new(Vec::new()));
    let (ip, seen) = (pod.ip.clone(), peers.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    in_ns(&pod.ns.name, move || async move {
        let public = TcpListener::bind((ip.as_str(), APP_PORT)).unwrap();
        let private = TcpListener::bind(("127.0.0.1", LOOPBACK_ONLY_PORT)).unwrap();
        tx.send(()).unwrap();
        std::thread::spawn(move || echo(private, Arc::default()));
        echo(public, seen);
    });
    rx.recv_timeout(WAIT).expect("the server app listens");
    peers
}

fn echo(l: TcpListener, seen: Arc<Mutex<Vec<std::net::SocketAddr>>>) {
    for conn in l.incoming() {
        let Ok(mut c) = conn else { continue };
        if let Ok(peer) = c.peer_addr() {
            seen.lock().unwrap().push(peer);
        }
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 || c.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

/// From the client pod, as the app (root, so redirected): sends `msg` to
/// `addr` and returns what comes back (empty if the connection is closed).
fn client_exchange(client: &Pod, addr: String, msg: &'static [u8]) -> Vec<u8> {
    block_in_ns(&client.ns.name, move || async move {
        let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().unwrap(), WAIT) else {
            return Vec::new();
        };
        s.set_read_timeout(Some(WAIT)).unwrap();
        if s.write_all(msg).is_err() {
            return Vec::new();
        }
        let mut got = vec![0u8; msg.len()];
        let mut n = 0;
        while n < got.len() {
            match s.read(&mut got[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        got.truncate(n);
        got
    })
}

/// Two meshed pods (client, server) and an impostor (a pod the controller
/// knows as `payments` whose proxy holds the `impostor` identity), with the
/// control plane, the server apps and ready proxies.
struct Mesh {
    // Processes first: they go before their namespaces.
    client_proxy: Proxy,
    server_proxy: Proxy,
    _impostor_proxy: Proxy,
    peers: Arc<Mutex<Vec<std::net::SocketAddr>>>,
    control: ControlPlane,
    _shared: Shared,
    client: Pod,
    server: Pod,
    impostor: Pod,
    _cp: Pod,
    node: Node,
}

impl Mesh {
    fn start() -> Self {
        netns::require_root();
        let node = Node::new();
        let cp = node.pod("cp", "v-cp", CP_HOST);
        let client = node.pod("client", "v-client", CLIENT_HOST);
        let server = node.pod("server", "v-server", SERVER_HOST);
        let impostor = node.pod("impostor", "v-impostor", IMPOSTOR_HOST);
        let pod_at = |name: &str, sa: &str, host: u8| {
            pod_object(name, sa, &format!("{SUBNET}.{host}"), &[APP_PORT], &[])
        };
        let control = ControlPlane::start(
            &cp,
            [
                pod_at("client-0", "client", CLIENT_HOST),
                pod_at("server-0", "server", SERVER_HOST),
                pod_at("payments-0", "payments", IMPOSTOR_HOST),
            ],
        );
        let shared = Shared::new(&control.anchors_pem, &["client", "server", "impostor"]);
        let bin = shared.bin();
        for pod in [&client, &server, &impostor] {
            pod.ns.ok(&[bin.to_str().unwrap(), "init"]);
        }
        let peers = start_server_app(&server);
        start_server_app(&impostor);
        let proxy = |pod: &Pod, name: &str, sa: &str| {
            // The controller rightly refuses the impostor's proxy the policy
            // of a pod that runs as `payments`, so it would never be ready.
            let inbound: &[u16] = if sa == "impostor" { &[] } else { &[APP_PORT] };
            let env = proxy_env(pod, name, sa, &shared.0, inbound);
            let p = Proxy::start(pod, &bin, &env, shared.0.join(format!("{name}.log")));
            wait_ready(pod, &p);
            p
        };
        Self {
            server_proxy: proxy(&server, "server-0", "server"),
            _impostor_proxy: proxy(&impostor, "payments-0", "impostor"),
            client_proxy: proxy(&client, "client-0", "client"),
            peers,
            control,
            _shared: shared,
            client,
            server,
            impostor,
            _cp: cp,
            node,
        }
    }
}

#[test]
fn tcp_flows_through_both_proxies_inside_mesh_mtls() {
    let m = Mesh::start();
    // App to app, through both proxies; the wire carries mesh TLS only.
    let (stop_capture, captured) = capture(&m.node, &m.server.port);
    let marker: &'static [u8] = b"weft-plaintext-marker-4f2a";
    let got = client_exchange(&m.client, format!("{}:{APP_PORT}", m.server.ip), marker);
    stop_capture.store(true, std::sync::atomic::Ordering::SeqCst);
    let wire = captured.join().unwrap();
    assert_eq!(
        got,
        marker,
        "echo through both proxies\nclient proxy:\n{}\nserver proxy:\n{}",
        m.client_proxy.log(),
        m.server_proxy.log()
    );
    assert!(
        contains(&wire, b"weft/1"),
        "the mesh ALPN id is on the wire ({} bytes captured)",
        wire.len()
    );
    assert!(
        !contains(&wire, marker),
        "the app's bytes never cross the wire in plaintext"
    );

    // The app's own TLS to a meshed destination travels inside the mesh
    // link: its ClientHello reaches the server app intact and never
    // appears on the wire as it was sent.
    let hello: &'static [u8] = Box::leak(app_client_hello().into_boxed_slice());
    let (stop_capture, captured) = capture(&m.node, &m.server.port);
    let got = client_exchange(&m.client, format!("{}:{APP_PORT}", m.server.ip), hello);
    stop_capture.store(true, std::sync::atomic::Ordering::SeqCst);
    let wire = captured.join().unwrap();
    assert_eq!(got, hello, "the app's ClientHello arrives intact");
    assert!(contains(&wire, b"weft/1"), "carried inside mesh TLS");
    assert!(
        !contains(&wire, &hello[5..69]),
        "the app's own ClientHello crossed the wire raw"
    );

    // The server proxy verified the client's identity, and dialled the app
    // at its pod IP from inside the pod.
    let client_id = "spiffe://cluster.local/ns/shop/sa/client";
    assert!(
        m.server_proxy.log().contains(client_id),
        "server proxy log names {client_id}:\n{}",
        m.server_proxy.log()
    );
    let seen = m.peers.lock().unwrap().clone();
    assert!(
        seen.iter().all(|p| p.ip().to_string() == m.server.ip),
        "the app is reached by the server's own proxy: {seen:?}"
    );

    // A loopback-only listener in the server pod is not reachable from a peer.
    let got = client_exchange(
        &m.client,
        format!("{}:{LOOPBACK_ONLY_PORT}", m.server.ip),
        b"private?",
    );
    assert!(got.is_empty(), "reached a loopback-only listener: {got:?}");

    // Garbage on every proxy port never takes a proxy down.
    let server_ip = m.server.ip.clone();
    block_in_ns(&m.client.ns.name, move || async move {
        for port in [ports::INBOUND, ports::ADMIN, APP_PORT] {
            for garbage in [
                &b"\x16\x03\x01\xff\xff\x01\x00"[..],
                b"\x00\xff garbage \r\n\r\n",
                &[0xAB; 3000],
            ] {
                if let Ok(mut s) = TcpStream::connect_timeout(
                    &format!("{server_ip}:{port}").parse().unwrap(),
                    Duration::from_secs(2),
                ) {
                    let _ = s.write_all(garbage);
                }
            }
        }
    });
    let admin = format!("{}:{}", m.server.ip, ports::ADMIN);
    let live = block_in_ns(&m.client.ns.name, move || async move {
        http_status(&admin, "/live").await
    });
    assert_eq!(live, Some(200), "the server proxy survives garbage");
    let got = client_exchange(
        &m.client,
        format!("{}:{APP_PORT}", m.server.ip),
        b"still there",
    );
    assert_eq!(got, b"still there");
}

#[test]
fn an_endpoint_presenting_another_identity_is_refused() {
    let m = Mesh::start();
    // The controller says 198.18.200.13 is `payments`; its proxy can only
    // prove `impostor`, so the client proxy refuses the link.
    let got = client_exchange(
        &m.client,
        format!("{}:{APP_PORT}", m.impostor.ip),
        b"secret",
    );
    assert!(got.is_empty(), "talked to an impostor: {got:?}");
    // The app sees the close as the proxy drops its socket, a moment
    // before the proxy logs why.
    let t0 = tokio::time::Instant::now();
    while !m.client_proxy.log().contains("outbound connection failed") && t0.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = m.client_proxy.log();
    assert!(
        log.contains("outbound connection failed"),
        "client proxy log:\n{log}"
    );
    // The real server still works.
    let got = client_exchange(&m.client, format!("{}:{APP_PORT}", m.server.ip), b"hello");
    assert_eq!(got, b"hello");
}

#[test]
fn sigterm_stops_new_inbound_and_drains_open_connections() {
    let mut m = Mesh::start();
    // A connection open through both proxies before SIGTERM.
    let addr: std::net::SocketAddr = format!("{}:{APP_PORT}", m.server.ip).parse().unwrap();
    let held = block_in_ns(&m.client.ns.name, move || async move {
        let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(b"before").unwrap();
        let mut b = [0u8; 6];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"before");
        s
    });
    let pid = m.server_proxy.child.id().to_string();
    netns::ok(&["kill", "-TERM", &pid]);
    std::thread::sleep(Duration::from_millis(300));

    // New inbound connections are refused; the open one keeps working.
    let got = client_exchange(&m.client, addr.to_string(), b"after");
    assert!(
        got.is_empty(),
        "a new connection got through a draining proxy: {got:?}"
    );
    let mut held = held;
    held.write_all(b"during").unwrap();
    let mut b = [0u8; 6];
    held.read_exact(&mut b).unwrap();
    assert_eq!(
        &b, b"during",
        "the open connection keeps working while draining"
    );
    assert!(
        m.server_proxy.child.try_wait().unwrap().is_none(),
        "exited with a connection open"
    );

    // Once it closes, the proxy exits, well inside its 5 s grace.
    drop(held);
    let t0 = tokio::time::Instant::now();
    let status = loop {
        if let Some(s) = m.server_proxy.child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < WAIT, "still running {WAIT:?} after draining");
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "server proxy exited {status} {:?} after its last connection closed",
        t0.elapsed()
    );
    assert!(status.success(), "{status}\n{}", m.server_proxy.log());
}

fn traffic_target(sources: &[&str]) -> [Resource; 2] {
    let sources: Vec<_> = sources
        .iter()
        .map(|sa| json!({"kind": "ServiceAccount", "name": sa}))
        .collect();
    [
        Resource::TcpRoute(
            serde_json::from_value(json!({
                "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
                "metadata": {"name": "app", "namespace": "shop"},
                "spec": {"matches": {"ports": [APP_PORT]}}
            }))
            .unwrap(),
        ),
        Resource::TrafficTarget(
            serde_json::from_value(json!({
                "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
                "metadata": {"name": "to-server", "namespace": "shop"},
                "spec": {"destination": {"kind": "ServiceAccount", "name": "server"},
                         "sources": sources,
                         "rules": [{"kind": "TCPRoute", "name": "app"}]}
            }))
            .unwrap(),
        ),
    ]
}

fn apply(m: &Mesh, objects: [Resource; 2]) {
    m.control.apply(objects);
}

#[test]
fn traffic_targets_admit_their_sources_only_and_revocation_closes_connections() {
    let m = Mesh::start();
    let server = format!("{}:{APP_PORT}", m.server.ip);

    // A TrafficTarget naming another source: the client is refused.
    apply(&m, traffic_target(&["other"]));
    let t0 = tokio::time::Instant::now();
    loop {
        if client_exchange(&m.client, server.clone(), b"let me in").is_empty() {
            break;
        }
        assert!(t0.elapsed() < WAIT, "never refused");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("refused after {:?}", t0.elapsed());
    let log = m.server_proxy.log();
    assert!(
        log.contains("no-traffic-target"),
        "the denial names its reason:\n{log}"
    );

    // Granted: the client gets through.
    apply(&m, traffic_target(&["other", "client"]));
    let t0 = tokio::time::Instant::now();
    while client_exchange(&m.client, server.clone(), b"granted") != b"granted" {
        assert!(t0.elapsed() < WAIT, "the grant never took effect");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("granted after {:?}", t0.elapsed());

    // Revoked while a connection is open: that connection is closed.
    let addr: std::net::SocketAddr = server.parse().unwrap();
    let mut held = block_in_ns(&m.client.ns.name, move || async move {
        let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(b"open").unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        s
    });
    apply(&m, traffic_target(&["other"]));
    let t0 = tokio::time::Instant::now();
    let mut b = [0u8; 16];
    let closed = loop {
        let _ = held.write_all(b"still?");
        match held.read(&mut b) {
            Ok(0) | Err(_) => break true,
            Ok(_) if t0.elapsed() > WAIT => break false,
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(closed, "the revoked connection stayed open");
    eprintln!("revoked connection closed after {:?}", t0.elapsed());
    assert!(m.server_proxy.log().contains("access revoked"));
}

/// A ClientHello as an app doing its own TLS (ALPN h2) would send it.
fn app_client_hello() -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertificateParams::new(vec!["app.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(weft_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let mut conn =
        rustls::ClientConnection::new(Arc::new(cfg), "app.example".try_into().unwrap()).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}
