//! SMI enforcement in network namespaces, end to end with real parts: the
//! real controller's index turns TrafficTargets, HTTPRouteGroups, TCPRoutes
//! and pod annotations into inbound policy; the real proxies (behind the
//! real `weft-proxy init` rules, under their own UID) allow or deny each
//! HTTP request and each other connection, say why, and count it all in
//! their metrics. Callers are meshed client pods (through their own proxy)
//! and plain namespaces without one (unauthenticated, like a kubelet).
//!
//! Root only (CI runs tests as root); without root it fails and says so.
//! On any failure every proxy's log is printed.

#[allow(dead_code)]
#[path = "support/fleet.rs"]
mod fleet;
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
#[path = "support/plane.rs"]
mod plane;
#[allow(dead_code)]
#[path = "support/traffic.rs"]
mod traffic;

use fleet::{Cluster, HTTP_PORT, Member, OTHER_TCP_PORT, PodSpec, TCP_PORT};
use http::StatusCode;
use objects::{endpoint_slice, route_group, service, tcp_route, traffic_target};
use plane::{WAIT, workload_id};
use serde_json::json;
use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    time::Duration,
};
use tokio::time::Instant;
use traffic::{Reply, Session, admin_get, http1, labels, nonzero, parse_metrics, request, send};
use weft_api::contract::{annotations, deny_reason, headers};
use weft_controller::index::{Kind, Resource};

/// Requests and what the caller must see: `Ok(path)` for the app's 200,
/// `Err(reason)` for the proxy's 403.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Result<(), &'static str>,
);

const PLAIN_INSIDE_HOST: u8 = 30;
const PLAIN_OUTSIDE_HOST: u8 = 40;
/// Holds [`PLAIN_INSIDE_HOST`] (.24–.31), not [`PLAIN_OUTSIDE_HOST`].
const UNAUTHENTICATED_NET: &str = "198.18.200.24/29";
const SERVER_SVC_IP: &str = "198.18.200.205";
const SVC_HTTP_PORT: u16 = 80;

fn client() -> PodSpec {
    PodSpec::client("client-0", "client", 11)
}

fn other() -> PodSpec {
    PodSpec::client("other-0", "other", 13)
}

fn server() -> PodSpec {
    PodSpec::server("server-0", "server", 12)
}

/// Sends `cases` from `from` to the server's HTTP port on one kept-alive
/// connection; checks each answer, and returns them.
fn check_requests(c: &Cluster, from: &Member, cases: &'static [Case]) -> Vec<Reply> {
    let addr = c.get("server-0").addr(HTTP_PORT);
    let who = from.spec.name.clone();
    let replies = from
        .run(move || async move {
            let mut s = http1(&addr).await?;
            let mut out = Vec::new();
            for (method, path, hdrs, _) in cases {
                out.push(send(&mut s, request(method, path, hdrs)).await?);
            }
            Ok::<_, String>(out)
        })
        .unwrap_or_else(|e| panic!("from {who}: {e}"));
    for ((method, path, hdrs, want), r) in cases.iter().zip(&replies) {
        let what = format!("{method} {path} {hdrs:?} from {who}");
        match want {
            Ok(()) => {
                assert_eq!(r.status, StatusCode::OK, "{what}: {r:?}");
                assert_eq!(r.header("x-path"), path.split('?').next(), "{what}: {r:?}");
            }
            Err(reason) => {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {r:?}");
                assert_eq!(
                    r.header(headers::DENY_REASON),
                    Some(*reason),
                    "{what}: {r:?}"
                );
                assert!(
                    r.header(headers::REQUEST_ID)
                        .is_some_and(|id| id.len() >= 8),
                    "{what}: a denial carries a request id: {r:?}"
                );
                assert!(r.header("x-pod").is_none(), "{what} reached the app: {r:?}");
            }
        }
    }
    eprintln!(
        "{who}: {}",
        cases
            .iter()
            .zip(&replies)
            .map(|((m, p, h, _), r)| format!(
                "{m} {p}{} → {}{}",
                if h.is_empty() {
                    String::new()
                } else {
                    format!(" {h:?}")
                },
                r.status.as_u16(),
                r.header(headers::DENY_REASON)
                    .map(|x| format!(" {x}"))
                    .unwrap_or_default()
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    replies
}

/// Whether a TCP echo through `from` to `addr` gets its bytes back.
fn tcp_echoes(from: &Member, addr: String) -> bool {
    from.run(move || async move { traffic::tcp_reaches(&addr, b"tcp-probe-bytes").await })
}

/// `routes`: `items` (GET of paths starting /items) and `tenant` (any
/// method on paths starting /t/ with an `x-tenant` of acme-<digits>);
/// TCPRoute `tcp` on port 9000.
fn matrix_policy(sources: &[&str]) -> Vec<Resource> {
    vec![
        route_group(
            "routes",
            json!([
                {"name": "items", "pathRegex": "/items", "methods": ["GET"]},
                {"name": "tenant", "pathRegex": "/t/", "headers": {"x-tenant": "acme-[0-9]+"}}
            ]),
        ),
        tcp_route("tcp", &[TCP_PORT]),
        traffic_target(
            "to-server",
            "server",
            sources,
            &[("HTTPRouteGroup", "routes", &[]), ("TCPRoute", "tcp", &[])],
        ),
    ]
}

const MATRIX: &[Case] = &[
    ("GET", "/items", &[], Ok(())),
    // Anchored at the start only; the query is not part of the path.
    ("GET", "/items/42?page=2", &[], Ok(())),
    ("GET", "/v1/items", &[], Err(deny_reason::ROUTE_NOT_MATCHED)),
    ("POST", "/items", &[], Err(deny_reason::ROUTE_NOT_MATCHED)),
    // AND inside `tenant`: path and header.
    ("GET", "/t/1", &[("x-tenant", "acme-12")], Ok(())),
    ("GET", "/t/1", &[], Err(deny_reason::ROUTE_NOT_MATCHED)),
    (
        "GET",
        "/u/1",
        &[("x-tenant", "acme-12")],
        Err(deny_reason::ROUTE_NOT_MATCHED),
    ),
    // The whole header value must match.
    (
        "GET",
        "/t/1",
        &[("x-tenant", "acme-12x")],
        Err(deny_reason::ROUTE_NOT_MATCHED),
    ),
    (
        "GET",
        "/t/1",
        &[("x-tenant", "xacme-12")],
        Err(deny_reason::ROUTE_NOT_MATCHED),
    ),
    // OR across matches: `tenant` has no method list.
    ("DELETE", "/t/9", &[("x-tenant", "acme-7")], Ok(())),
    // The connection keeps serving after denials.
    ("GET", "/items/last", &[], Ok(())),
];

const UNNAMED: &[Case] = &[
    ("GET", "/items", &[], Err(deny_reason::NO_TRAFFIC_TARGET)),
    (
        "GET",
        "/t/1",
        &[("x-tenant", "acme-12")],
        Err(deny_reason::NO_TRAFFIC_TARGET),
    ),
];

/// The allow/deny matrix with the real controller: HTTPRouteGroup matches
/// on path (anchored at the start), method and header (regex over the
/// whole value), AND inside a match and OR across matches; a source no
/// TrafficTarget names gets `no-traffic-target`; the TCPRoute's port
/// admits TCP, other ports and other sources are closed; nothing denied
/// reaches the app.
#[test]
fn routes_and_tcp_ports_decide_each_request_and_connection() {
    let c = Cluster::start(
        vec![client(), other(), server()],
        matrix_policy(&["client"]),
    );
    check_requests(&c, c.get("client-0"), MATRIX);
    check_requests(&c, c.get("other-0"), UNNAMED);
    let allowed = MATRIX.iter().filter(|c| c.3.is_ok()).count();
    assert_eq!(
        c.get("server-0").app().requests(),
        allowed,
        "the app saw exactly the allowed requests"
    );

    let server = c.get("server-0");
    let tcp = [
        ("client-0", TCP_PORT, true),
        // No TCPRoute names it; the route grant cannot judge bytes.
        ("client-0", OTHER_TCP_PORT, false),
        // Not HTTP, on the HTTP port: routes cannot judge it either.
        ("client-0", HTTP_PORT, false),
        ("other-0", TCP_PORT, false),
    ];
    for (from, port, allowed) in tcp {
        let got = tcp_echoes(c.get(from), server.addr(port));
        eprintln!("TCP {from} → {port}: echoed {got}");
        assert_eq!(got, allowed, "TCP from {from} to port {port}");
    }
    assert_eq!(
        server.app().tcp_connections(),
        1,
        "only the allowed TCP connection reached an app listener"
    );
    let log = server.proxy().log();
    for reason in [
        deny_reason::ROUTE_NOT_MATCHED,
        deny_reason::NO_TRAFFIC_TARGET,
    ] {
        assert!(log.contains(reason), "the server proxy logs {reason}");
    }
}

/// A pod in `deny` with an httpGet readiness probe: an unauthenticated GET
/// of the probe's path (from the control-plane namespace, like a kubelet)
/// is allowed; other paths and methods are denied `unauthenticated`, and a
/// meshed client no TrafficTarget names is denied `no-traffic-target`.
#[test]
fn a_probe_path_is_allowed_under_deny() {
    let probed = server()
        .ann(annotations::DEFAULT_POLICY, "deny")
        .container(json!({
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": HTTP_PORT}, "periodSeconds": 5}
        }));
    let c = Cluster::start(vec![client(), probed], Vec::new());
    let addr = c.get("server-0").addr(HTTP_PORT);
    let replies = plane_run(&c, move || async move {
        let mut out = Vec::new();
        for (method, path) in [("GET", "/healthz"), ("GET", "/other"), ("POST", "/healthz")] {
            let r = traffic::fresh(&addr, request(method, path, &[])).await?;
            out.push((format!("{method} {path}"), r));
        }
        Ok::<_, String>(out)
    });
    for (what, r) in &replies {
        eprintln!(
            "kubelet-like {what} → {} {:?}",
            r.status,
            r.header(headers::DENY_REASON)
        );
    }
    assert_eq!(replies[0].1.status, StatusCode::OK, "{replies:?}");
    const MESHED: &[Case] = &[
        ("GET", "/healthz", &[], Err(deny_reason::NO_TRAFFIC_TARGET)),
        ("GET", "/other", &[], Err(deny_reason::NO_TRAFFIC_TARGET)),
    ];
    check_requests(&c, c.get("client-0"), MESHED);
    assert_eq!(
        c.get("server-0").app().requests(),
        1,
        "only the probe got through"
    );
    for (what, r) in &replies[1..] {
        assert_eq!(
            (r.status, r.header(headers::DENY_REASON)),
            (StatusCode::FORBIDDEN, Some(deny_reason::UNAUTHENTICATED)),
            "unauthenticated {what}: {r:?}"
        );
    }
}

/// Runs `f` in the control-plane namespace (no proxy: unauthenticated).
fn plane_run<T, F, Fut>(c: &Cluster, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    mesh::block_in_ns(&c.cp.ns.name, f).unwrap_or_else(|e| panic!("{e}"))
}

/// `weft.io/allow-unauthenticated-from`: a caller without a proxy is
/// allowed from a listed network (HTTP and TCP), and denied
/// `unauthenticated` (TCP closed) from any other.
#[test]
fn unauthenticated_callers_are_allowed_only_from_listed_networks() {
    let s = server()
        .ann(annotations::DEFAULT_POLICY, "deny")
        .ann(annotations::ALLOW_UNAUTHENTICATED_FROM, UNAUTHENTICATED_NET);
    let c = Cluster::start(
        vec![
            s,
            PodSpec::plain("plain-in", PLAIN_INSIDE_HOST),
            PodSpec::plain("plain-out", PLAIN_OUTSIDE_HOST),
        ],
        Vec::new(),
    );
    const INSIDE: &[Case] = &[("GET", "/from-inside", &[], Ok(()))];
    const OUTSIDE: &[Case] = &[(
        "GET",
        "/from-outside",
        &[],
        Err(deny_reason::UNAUTHENTICATED),
    )];
    check_requests(&c, c.get("plain-in"), INSIDE);
    check_requests(&c, c.get("plain-out"), OUTSIDE);
    let server = c.get("server-0");
    assert!(
        tcp_echoes(c.get("plain-in"), server.addr(TCP_PORT)),
        "TCP from inside"
    );
    assert!(
        !tcp_echoes(c.get("plain-out"), server.addr(TCP_PORT)),
        "TCP from outside"
    );
    assert_eq!(
        (server.app().requests(), server.app().tcp_connections()),
        (1, 1),
        "the app saw the inside caller only"
    );
}

/// A TrafficTarget deleted while a TCP session it allowed is open closes
/// that session; a session another TrafficTarget allows stays open.
#[test]
fn deleting_a_traffic_target_closes_its_sessions_only() {
    let policy = vec![
        tcp_route("tcp", &[TCP_PORT]),
        traffic_target(
            "client-tcp",
            "server",
            &["client"],
            &[("TCPRoute", "tcp", &[])],
        ),
        traffic_target(
            "other-tcp",
            "server",
            &["other"],
            &[("TCPRoute", "tcp", &[])],
        ),
    ];
    let c = Cluster::start(vec![client(), other(), server()], policy);
    let addr: std::net::SocketAddr = c.get("server-0").addr(TCP_PORT).parse().unwrap();
    // Blocking sockets: usable from this thread once made in the pod.
    let open = |m: &Member| {
        m.run(move || async move {
            let mut s = std::net::TcpStream::connect_timeout(&addr, WAIT).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            blocking_echo(&mut s, b"session open").unwrap();
            s
        })
    };
    let mut mine = open(c.get("client-0"));
    let mut theirs = open(c.get("other-0"));

    c.control
        .index
        .lock()
        .unwrap()
        .delete(Kind::TrafficTarget, Some("shop"), "client-tcp");
    let t0 = Instant::now();
    let closed = loop {
        let mut buf = [0u8; 64];
        match mine.read(&mut buf) {
            Ok(0) => break true,
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                break true;
            }
            Ok(n) => panic!("{n} unexpected bytes on the revoked session"),
            Err(_) if t0.elapsed() > WAIT => break false,
            Err(_) => {}
        }
    };
    eprintln!("revoked session closed: {closed} after {:?}", t0.elapsed());
    assert!(
        closed,
        "the session of the deleted TrafficTarget stayed open"
    );
    assert_eq!(
        blocking_echo(&mut theirs, b"still allowed").map_err(|e| e.to_string()),
        Ok(()),
        "the other source's session"
    );
    let log = c.get("server-0").proxy().log();
    assert!(log.contains("access revoked"), "the server proxy says why");
}

/// Sends `msg` and reads it back, within the socket's read timeouts.
fn blocking_echo(s: &mut std::net::TcpStream, msg: &[u8]) -> std::io::Result<()> {
    s.write_all(msg)?;
    let t0 = Instant::now();
    let mut got = vec![0u8; msg.len()];
    let mut n = 0;
    while n < got.len() {
        match s.read(&mut got[n..]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => n += k,
            Err(e)
                if t0.elapsed() < WAIT
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
            Err(e) => return Err(e),
        }
    }
    assert_eq!(got, msg, "the echo");
    Ok(())
}

/// Metrics equal the traffic: after 7 allowed GETs, 3 denied ones and two
/// TCP sessions of 1000 and 2500 bytes each way, from the client to the
/// server's Service, both proxies' counters say exactly that, on both
/// directions, and nothing else.
#[test]
fn metrics_count_exactly_the_traffic_sent() {
    const ALLOWED: usize = 7;
    const DENIED: usize = 3;
    const SESSIONS: [usize; 2] = [1000, 2500];
    let mut policy = vec![
        route_group(
            "routes",
            json!([{"name": "ok", "pathRegex": "/ok", "methods": ["GET"]}]),
        ),
        tcp_route("tcp", &[TCP_PORT]),
        traffic_target(
            "to-server",
            "server",
            &["client"],
            &[("HTTPRouteGroup", "routes", &[]), ("TCPRoute", "tcp", &[])],
        ),
        service(
            "server",
            SERVER_SVC_IP,
            &[
                ("http", SVC_HTTP_PORT, HTTP_PORT),
                ("tcp", TCP_PORT, TCP_PORT),
            ],
        ),
    ];
    let server_ip = format!("{}.12", mesh::SUBNET);
    policy.push(endpoint_slice(
        "server",
        &[("http", HTTP_PORT), ("tcp", TCP_PORT)],
        &[("server-0", &server_ip)],
    ));
    let c = Cluster::start(vec![client(), server()], policy);
    let http = format!("{SERVER_SVC_IP}:{SVC_HTTP_PORT}");
    let tcp = format!("{SERVER_SVC_IP}:{TCP_PORT}");
    let statuses = c
        .get("client-0")
        .run(move || async move {
            let mut s = http1(&http).await?;
            let mut statuses = Vec::new();
            for i in 0..ALLOWED {
                statuses.push(
                    send(&mut s, request("GET", &format!("/ok/{i}"), &[]))
                        .await?
                        .status,
                );
            }
            for i in 0..DENIED {
                statuses.push(
                    send(&mut s, request("GET", &format!("/nope/{i}"), &[]))
                        .await?
                        .status,
                );
            }
            drop(s);
            for n in SESSIONS {
                let mut session = Session::open(&tcp).await?;
                let msg: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                session.echo(&msg).await?;
                session.finish().await?;
            }
            Ok::<_, String>(statuses)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let forbidden = statuses
        .iter()
        .filter(|s| **s == StatusCode::FORBIDDEN)
        .count();
    assert_eq!((ok, forbidden), (ALLOWED, DENIED), "{statuses:?}");

    let client_id = workload_id("client");
    let server_id = workload_id("server");
    let svc = "server.shop.svc.cluster.local";
    let routes = "traffictarget/shop/to-server/HTTPRouteGroup/routes";
    let tcp_grant = "traffictarget/shop/to-server/TCPRoute/tcp";
    let bytes = SESSIONS.iter().sum::<usize>() as f64;
    let (a, d, s) = (ALLOWED as f64, DENIED as f64, SESSIONS.len() as f64);
    let http_port = SVC_HTTP_PORT.to_string();
    let app_port = HTTP_PORT.to_string();
    let tcp_port = TCP_PORT.to_string();

    // A denial is counted with its reason on both sides of the edge.
    let response = |dir: &str, peer: &str, service: &str, port: &str, by: &str, class: &str| {
        let deny = if class == "4xx" {
            deny_reason::ROUTE_NOT_MATCHED
        } else {
            ""
        };
        labels(&[
            ("authorization", by),
            ("deny_reason", deny),
            ("direction", dir),
            ("grpc_status", ""),
            ("peer", peer),
            ("port", port),
            ("service", service),
            ("status_class", class),
        ])
    };
    let conn = |dir: &str, peer: &str, service: &str| {
        labels(&[
            ("direction", dir),
            ("peer", peer),
            ("port", &tcp_port),
            ("service", service),
        ])
    };
    let flow = |dir: &str, peer: &str, service: &str, flow: &str| {
        labels(&[
            ("direction", dir),
            ("flow", flow),
            ("peer", peer),
            ("port", &tcp_port),
            ("service", service),
        ])
    };
    let latency = |dir: &str, peer: &str, class: &str| {
        labels(&[("direction", dir), ("peer", peer), ("status_class", class)])
    };
    let authz = |port: &str, decision: &str, reason: &str, by: &str| {
        labels(&[
            ("authorization", by),
            ("decision", decision),
            ("peer", &client_id),
            ("port", port),
            ("reason", reason),
        ])
    };
    let map = |pairs: Vec<(String, f64)>| pairs.into_iter().collect::<BTreeMap<_, _>>();

    let client_expected = expected_families(
        map(vec![
            (
                response("outbound", &server_id, svc, &http_port, "", "2xx"),
                a,
            ),
            (
                response("outbound", &server_id, svc, &http_port, "", "4xx"),
                d,
            ),
        ]),
        map(vec![
            (latency("outbound", &server_id, "2xx"), a),
            (latency("outbound", &server_id, "4xx"), d),
        ]),
        map(vec![]),
        map(vec![(conn("outbound", &server_id, svc), s)]),
        map(vec![
            (flow("outbound", &server_id, svc, "received"), bytes),
            (flow("outbound", &server_id, svc, "sent"), bytes),
        ]),
    );
    let server_expected = expected_families(
        map(vec![
            (
                response("inbound", &client_id, "", &app_port, routes, "2xx"),
                a,
            ),
            (response("inbound", &client_id, "", &app_port, "", "4xx"), d),
        ]),
        map(vec![
            (latency("inbound", &client_id, "2xx"), a),
            (latency("inbound", &client_id, "4xx"), d),
        ]),
        map(vec![
            (authz(&app_port, "allow", "", routes), a),
            (
                authz(&app_port, "deny", deny_reason::ROUTE_NOT_MATCHED, ""),
                d,
            ),
            (authz(&tcp_port, "allow", "", tcp_grant), s),
        ]),
        map(vec![(conn("inbound", &client_id, ""), s)]),
        map(vec![
            (flow("inbound", &client_id, "", "received"), bytes),
            (flow("inbound", &client_id, "", "sent"), bytes),
        ]),
    );

    let mut mismatches = Vec::new();
    for (who, expected) in [("client-0", client_expected), ("server-0", server_expected)] {
        let pod = &c.get(who).pod;
        // Byte-stream connections are counted as they end, which the far
        // proxy sees a moment after the app does.
        let t0 = Instant::now();
        let (got, text) = loop {
            let text = admin_get(pod, "/metrics");
            let got = observed_families(&text);
            if got == expected || t0.elapsed() > WAIT {
                break (got, text);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let wrong: Vec<String> = expected
            .iter()
            .filter(|(family, want)| got.get(*family) != Some(want))
            .map(|(family, want)| {
                format!(
                    "{family}:\n  expected {want:#?}\n  scraped  {:#?}",
                    got.get(family)
                )
            })
            .collect();
        if !wrong.is_empty() {
            mismatches.push(format!(
                "{who}'s /metrics differ from the traffic in {} families (non-zero samples by labels):\n{}\n--- its /metrics ---\n{text}",
                wrong.len(),
                wrong.join("\n")
            ));
        } else {
            eprintln!("{who}'s metrics match the traffic: {got:#?}");
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

/// The families the metrics test compares, all samples with a non-zero
/// value, by family name.
const FAMILIES: [&str; 10] = [
    "weft_proxy_responses_total",
    "weft_proxy_response_latency_seconds_count",
    "weft_proxy_authz_total",
    "weft_proxy_tcp_opened_total",
    "weft_proxy_tcp_closed_total",
    "weft_proxy_tcp_open",
    "weft_proxy_tcp_bytes_total",
    "weft_proxy_tls_handshake_failures_total",
    "weft_proxy_protocol_detect_timeouts_total",
    "weft_proxy_response_latency_seconds_sum (> 0)",
];

fn observed_families(text: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let samples = parse_metrics(text);
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = FAMILIES[..9]
        .iter()
        .map(|f| (f.to_string(), nonzero(&samples, f)))
        .collect();
    // Latency sums only need to be sane: positive exactly where there are
    // counts (1 marks a positive sum, -1 a negative one).
    let sums = nonzero(&samples, "weft_proxy_response_latency_seconds_sum");
    out.insert(
        FAMILIES[9].to_string(),
        sums.into_iter()
            .map(|(k, v)| (k, if v > 0.0 { 1.0 } else { -1.0 }))
            .collect(),
    );
    out
}

/// What the test expects of each family (gauges at zero and families with
/// no traffic have no non-zero samples).
fn expected_families(
    responses: BTreeMap<String, f64>,
    latency_counts: BTreeMap<String, f64>,
    authz: BTreeMap<String, f64>,
    connections: BTreeMap<String, f64>,
    bytes: BTreeMap<String, f64>,
) -> BTreeMap<String, BTreeMap<String, f64>> {
    let sums = latency_counts.keys().map(|k| (k.clone(), 1.0)).collect();
    [
        (FAMILIES[0], responses),
        (FAMILIES[1], latency_counts),
        (FAMILIES[2], authz),
        (FAMILIES[3], connections.clone()),
        (FAMILIES[4], connections),
        (FAMILIES[5], BTreeMap::new()),
        (FAMILIES[6], bytes),
        (FAMILIES[7], BTreeMap::new()),
        (FAMILIES[8], BTreeMap::new()),
        (FAMILIES[9], sums),
    ]
    .into_iter()
    .map(|(f, m)| (f.to_string(), m))
    .collect()
}
