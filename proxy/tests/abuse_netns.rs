//! The proxy under abuse, in network namespaces with real parts (the pair
//! of meshed pods of [`pair::Mesh`]): a slowloris client, an HTTP/2 reset
//! flood, a CONTINUATION flood and a full port scan, each from a client
//! without a proxy, each while a well-behaved meshed client keeps sending
//! requests. Each must leave the proxy serving that client, its memory
//! bounded, and no state behind once the attack ends. Every test prints the
//! well-behaved client's latency and the proxy's memory during the attack.
//!
//! Root only (CI runs tests as root); without root it fails and says so.

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

use apps::{HTTP_PORT, LISTENING};
use bytes::Bytes;
use http_body_util::Full;
use mesh::{Proxy, block_in_ns, in_ns};
use pair::{Mesh, admin_get, get, http1, mib, peak_rss, try_send1};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::Instant,
};
use weft_api::contract::env;

/// How long a slow client may take over its headers in these tests.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_INBOUND: usize = 200;
/// How much a proxy's memory may grow during an attack.
const GROWTH_BOUND: u64 = 64 * 1024 * 1024;

fn start() -> Mesh {
    let max = MAX_INBOUND.to_string();
    Mesh::start_with(
        &[],
        &[
            (env::HTTP_HEADER_TIMEOUT, "2s"),
            (env::MAX_CONNECTIONS_INBOUND, &max),
        ],
    )
}

/// A proxy's resident memory now, in bytes.
fn rss(p: &Proxy) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// A proxy's open file descriptors.
fn fds(p: &Proxy) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", p.child.id()))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What the well-behaved client saw.
struct Seen {
    latencies: Vec<Duration>,
    errors: Vec<String>,
}

impl Seen {
    fn quantile(&self, q: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    }
}

/// Runs `attack` (in the control plane's namespace: a client without a
/// proxy) while the meshed client sends GETs one after another on one
/// connection; then checks the client was served throughout, the server
/// proxy's memory stayed bounded and its descriptors returned to where
/// they were. Returns what the attack returned.
fn during<T: Send + 'static>(
    m: &Mesh,
    what: &str,
    attack: impl FnOnce(String) -> std::pin::Pin<Box<dyn Future<Output = T> + Send>> + Send + 'static,
) -> T {
    let addr = m.server_addr(HTTP_PORT);
    // Warm up: the client's mesh connection exists before the attack.
    let a = addr.clone();
    m.in_client(move || async move {
        let mut s = http1::<Full<Bytes>>(&a).await;
        try_send1(&mut s, get("/warm", &[])).await.unwrap();
    });
    std::thread::sleep(Duration::from_millis(200));
    let (rss0, fds0) = (rss(&m.server_proxy), fds(&m.server_proxy));

    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let a = addr.clone();
    let good = in_ns(&m.client.ns.name, move || async move {
        let mut seen = Seen {
            latencies: Vec::new(),
            errors: Vec::new(),
        };
        let mut s = http1::<Full<Bytes>>(&a).await;
        while !s2.load(Ordering::SeqCst) {
            let t0 = Instant::now();
            match try_send1(&mut s, get("/good", &[])).await {
                Ok(r) if r.status.is_success() => seen.latencies.push(t0.elapsed()),
                Ok(r) => seen.errors.push(format!("{}", r.status)),
                Err(e) => {
                    seen.errors.push(e);
                    s = http1(&a).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        seen
    });
    let target = addr.clone();
    let t0 = Instant::now();
    let out = block_in_ns(&m.cp.ns.name, move || attack(target));
    let took = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    let seen = good.join().expect("the well-behaved client");
    let peak = peak_rss(&m.server_proxy);

    // What the attack left behind goes within the header timeout.
    let t1 = Instant::now();
    let mut left = fds(&m.server_proxy);
    while left > fds0 + 4 && t1.elapsed() < HEADER_TIMEOUT * 5 {
        std::thread::sleep(Duration::from_millis(200));
        left = fds(&m.server_proxy);
    }
    eprintln!(
        "{what}: {:?} of attack; the well-behaved client: {} requests, p50 {:?}, p99 {:?}, max {:?}, {} errors; \
         server proxy memory {:.1} MiB before, peak {:.1} MiB; descriptors {fds0} before, {left} after",
        took,
        seen.latencies.len(),
        seen.quantile(0.5),
        seen.quantile(0.99),
        seen.quantile(1.0),
        seen.errors.len(),
        mib(rss0),
        mib(peak),
    );
    assert!(
        seen.errors.is_empty(),
        "{what}: the well-behaved client failed: {:?}",
        seen.errors
    );
    assert!(
        seen.latencies.len() >= 10,
        "{what}: the well-behaved client got {} answers",
        seen.latencies.len()
    );
    assert!(
        peak.saturating_sub(rss0) < GROWTH_BOUND,
        "{what}: the server proxy grew from {:.1} to {:.1} MiB",
        mib(rss0),
        mib(peak)
    );
    assert!(
        left <= fds0 + 4,
        "{what}: the server proxy still holds {left} descriptors (had {fds0})"
    );
    out
}

/// The sum of `weft_proxy_refused_connections` samples with `reason`.
fn refused(m: &Mesh, reason: &str) -> f64 {
    admin_get(&m.server, "/metrics")
        .lines()
        .filter(|l| {
            l.starts_with("weft_proxy_refused_connections")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

/// Many clients each send a request's headers a line every 300 ms and never
/// finish: the header timeout closes them, the connection limit caps them,
/// and the well-behaved client is served throughout.
#[test]
fn a_slowloris_client_is_cut_off_and_others_are_served() {
    let m = start();
    const CLIENTS: usize = MAX_INBOUND + 100;
    const FOR: Duration = Duration::from_secs(6);
    let closed_early = during(&m, "slowloris", |addr| {
        Box::pin(async move {
            let mut tasks = Vec::new();
            for _ in 0..CLIENTS {
                let addr = addr.clone();
                tasks.push(tokio::spawn(async move {
                    let t0 = Instant::now();
                    let Ok(mut s) = TcpStream::connect(&addr).await else {
                        return true;
                    };
                    if s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
                        .await
                        .is_err()
                    {
                        return true;
                    }
                    while t0.elapsed() < FOR {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        if s.write_all(b"X-Drip: 1\r\n").await.is_err() {
                            return true;
                        }
                    }
                    // Closed by the proxy if a read sees the end.
                    let mut buf = [0u8; 512];
                    matches!(
                        tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await,
                        Ok(Ok(_) | Err(_))
                    )
                }));
            }
            let mut closed = 0;
            for t in tasks {
                closed += usize::from(t.await.unwrap_or(false));
            }
            closed
        })
    });
    eprintln!("slowloris: {closed_early} of {CLIENTS} connections were cut off");
    assert_eq!(closed_early, CLIENTS, "every slow client was cut off");
    assert!(
        refused(&m, "header-timeout") >= 1.0,
        "the header timeout is counted"
    );
    assert!(
        refused(&m, "connection-limit") >= 1.0,
        "the connection limit is counted"
    );
}

/// An HTTP/2 frame: 9-byte header and payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
/// `:method GET`, `:scheme http`, `:path /`, `:authority a` in HPACK.
const REQUEST_BLOCK: &[u8] = &[0x82, 0x86, 0x84, 0x41, 0x01, b'a'];

/// Floods over and over for [`FLOOD_FOR`], a fresh connection each time
/// the proxy closes one: each connection writes `start`, then `batch`es
/// until the proxy closes it or [`FLOOD_FOR`] passes. Returns how many
/// connections there were, how many the proxy closed (all but the last,
/// which the time limit may end), and the most batches one carried.
async fn flood(addr: &str, start: &[u8], mut batch: impl FnMut(u32) -> Vec<u8>) -> (u32, u32, u32) {
    let t0 = Instant::now();
    let (mut connections, mut closed, mut most) = (0, 0, 0);
    while t0.elapsed() < FLOOD_FOR {
        let mut s = TcpStream::connect(addr).await.expect("connecting");
        connections += 1;
        if s.write_all(start).await.is_err() {
            continue;
        }
        let (mut r, mut w) = s.split();
        let mut sent = 0;
        let ended = async {
            let mut buf = vec![0u8; 64 * 1024];
            while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
        };
        let write = async {
            while t0.elapsed() < FLOOD_FOR {
                if w.write_all(&batch(sent)).await.is_err() {
                    // Closed: the read side sees it too.
                    std::future::pending::<()>().await;
                }
                sent += 1;
            }
        };
        let closed_by_proxy = tokio::select! {
            () = ended => true,
            () = write => false,
        };
        closed += u32::from(closed_by_proxy);
        most = most.max(sent);
    }
    (connections, closed, most)
}

const FLOOD_FOR: Duration = Duration::from_secs(4);

/// A client opening HTTP/2 streams and resetting each at once (the
/// rapid-reset class) is disconnected, and the well-behaved client is
/// served throughout.
#[test]
fn an_http2_reset_flood_is_disconnected() {
    let m = start();
    let (connections, closed, most) = during(&m, "reset flood", |addr| {
        Box::pin(async move {
            let mut start = PREFACE.to_vec();
            start.extend(frame(SETTINGS, 0, 0, &[]));
            let batch = |i: u32| {
                let mut b = Vec::new();
                for k in 0..100 {
                    let id = 1 + 2 * (i * 100 + k);
                    b.extend(frame(HEADERS, END_HEADERS, id, REQUEST_BLOCK));
                    b.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
                }
                b
            };
            flood(&addr, &start, batch).await
        })
    });
    eprintln!(
        "reset flood: {connections} connections, {closed} closed by the proxy; at most {} streams on one",
        most * 100
    );
    assert!(
        connections > 1 && closed + 1 >= connections,
        "the proxy closed {closed} of {connections} flooding connections"
    );
    assert!(refused(&m, "h2-abuse") >= 1.0, "the flood is counted");
}

/// A request whose header block never ends (CONTINUATION after
/// CONTINUATION) is cut off once it passes the header size limit, with
/// the proxy's memory bounded.
#[test]
fn a_continuation_flood_is_cut_off() {
    let m = start();
    let (connections, closed, most) = during(&m, "CONTINUATION flood", |addr| {
        Box::pin(async move {
            let mut start = PREFACE.to_vec();
            start.extend(frame(SETTINGS, 0, 0, &[]));
            start.extend(frame(HEADERS, 0, 1, REQUEST_BLOCK));
            // Literal header fields without indexing (a 5-byte name, a
            // 200-byte value: 127 + 73 in HPACK's prefixed integer), 16 KiB
            // a frame.
            let mut field = vec![0x00, 0x05];
            field.extend_from_slice(b"x-pad");
            field.extend([0x7f, 73]);
            field.extend(std::iter::repeat_n(b'p', 200));
            let mut payload = Vec::new();
            while payload.len() + field.len() <= 16 * 1024 {
                payload.extend_from_slice(&field);
            }
            let batch = move |_| frame(CONTINUATION, 0, 1, &payload);
            flood(&addr, &start, batch).await
        })
    });
    eprintln!(
        "CONTINUATION flood: {connections} connections, {closed} closed by the proxy; at most {most} frames of 16 KiB written on one"
    );
    assert!(
        connections > 1 && closed + 1 >= connections,
        "the proxy closed {closed} of {connections} endless header blocks"
    );
    assert!(refused(&m, "h2-abuse") >= 1.0, "the flood is counted");
}

/// A connect scan of every port leaves no policy subscription behind and
/// the well-behaved client served.
#[test]
fn a_port_scan_leaves_no_state_behind() {
    let m = start();
    let followed = |m: &Mesh| {
        admin_get(&m.server, "/metrics")
            .lines()
            .find(|l| l.starts_with("weft_proxy_inbound_policy_ports "))
            .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .unwrap_or(-1.0)
    };
    let before = followed(&m);
    let ip = m.server.ip.clone();
    let knocked = during(&m, "port scan", move |_| {
        Box::pin(async move {
            let t0 = Instant::now();
            let limit = Duration::from_secs(120);
            let ports: Vec<u16> = (1..=u16::MAX).collect();
            let mut knocked = 0usize;
            for chunk in ports.chunks(512) {
                if t0.elapsed() > limit {
                    break;
                }
                let mut tasks = Vec::new();
                for &port in chunk {
                    let ip = ip.clone();
                    tasks.push(tokio::spawn(async move {
                        let c = TcpStream::connect((ip.as_str(), port));
                        matches!(
                            tokio::time::timeout(Duration::from_secs(2), c).await,
                            Ok(Ok(_))
                        )
                    }));
                }
                for t in tasks {
                    knocked += usize::from(t.await.unwrap_or(false));
                }
            }
            knocked
        })
    });
    eprintln!("port scan: {knocked} ports answered the knock");
    assert!(
        knocked > 60_000,
        "the scan reached the proxy ({knocked} ports)"
    );
    let after = followed(&m);
    assert_eq!(
        after, before,
        "policies followed before the scan ({before}) and after ({after})"
    );
    assert_eq!(
        before,
        LISTENING.len() as f64,
        "the declared ports' policies"
    );
}

/// The idle timeouts and header limits, each hit on purpose (with short
/// settings): a byte stream silent past the TCP idle timeout is closed, an
/// HTTP keep-alive connection silent past the HTTP idle timeout is closed,
/// and too many or too large request headers get 431; each is counted.
#[test]
fn idle_connections_and_oversized_headers_are_cut_off() {
    let m = Mesh::start_with(
        &[],
        &[
            (env::TCP_IDLE_TIMEOUT, "1s"),
            (env::HTTP_IDLE_TIMEOUT, "1s"),
            (env::MAX_HEADERS, "20"),
            (env::MAX_HEADER_BYTES, "8192"),
        ],
    );
    let banner = m.server_addr(apps::BANNER_PORT);
    let http = m.server_addr(HTTP_PORT);
    let (tcp_closed_after, http_closed_after, many, large) =
        block_in_ns(&m.cp.ns.name, move || async move {
            // Read until the far side closes; how long that took.
            async fn closed_after(s: &mut TcpStream) -> Option<Duration> {
                let t0 = Instant::now();
                let mut buf = [0u8; 4096];
                loop {
                    match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                        Ok(Ok(0) | Err(_)) => return Some(t0.elapsed()),
                        Ok(Ok(_)) => {}
                        Err(_) => return None,
                    }
                }
            }
            let mut tcp = TcpStream::connect(&banner).await.unwrap();
            let tcp_closed_after = closed_after(&mut tcp).await;

            let mut h = TcpStream::connect(&http).await.unwrap();
            h.write_all(b"GET /once HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let http_closed_after = closed_after(&mut h).await;

            let status = |req: Vec<u8>, addr: String| async move {
                let mut s = TcpStream::connect(&addr).await.unwrap();
                s.write_all(&req).await.unwrap();
                let mut buf = vec![0u8; 64];
                let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(0);
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            };
            let mut many = b"GET /many HTTP/1.1\r\nHost: a\r\n".to_vec();
            for i in 0..40 {
                many.extend(format!("x-h{i}: v\r\n").as_bytes());
            }
            many.extend(b"\r\n");
            let mut large = b"GET /large HTTP/1.1\r\nHost: a\r\nx-big: ".to_vec();
            large.extend(std::iter::repeat_n(b'a', 16 * 1024));
            large.extend(b"\r\n\r\n");
            (
                tcp_closed_after,
                http_closed_after,
                status(many, http.clone()).await,
                status(large, http).await,
            )
        });
    eprintln!(
        "idle byte stream closed after {tcp_closed_after:?}, idle HTTP connection after {http_closed_after:?}; \
         40 headers: {many:?}; a 16 KiB header: {large:?}"
    );
    let within = |d: Option<Duration>| d.is_some_and(|d| d < Duration::from_secs(5));
    assert!(within(tcp_closed_after), "the idle byte stream stayed open");
    assert!(
        within(http_closed_after),
        "the idle HTTP connection stayed open"
    );
    assert!(many.contains("431"), "{many}");
    assert!(large.contains("431"), "{large}");
    assert!(
        refused(&m, "tcp-idle") >= 1.0,
        "the TCP idle timeout is counted"
    );
    assert!(
        refused(&m, "http-idle") >= 1.0,
        "the HTTP idle timeout is counted"
    );
    assert!(
        refused(&m, "header-limit") >= 2.0,
        "the header limits are counted"
    );
}
