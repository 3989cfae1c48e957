//! Two meshed pods (a client and a server, each behind the real init rules
//! and the real proxy) with the control plane and the server's apps, and
//! the raw clients the HTTP and attack suites drive them with.

use super::apps::{BANNER_PORT, CLOSED_PORT, LISTENING, ServerApps};
use super::mesh::{Node, Pod, Proxy, block_in_ns};
use super::netns;
use super::plane::{CP_HOST, ControlPlane, Shared, WAIT, pod_object, proxy_env, wait_ready};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::{future::Future, time::Duration};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::Instant,
};
use weft_api::contract::{annotations, ports};

pub const CLIENT_HOST: u8 = 11;
pub const SERVER_HOST: u8 = 12;
/// The Host the client app sends: not the address it dials, so a proxy
/// that rewrote it would show.
pub const HOST: &str = "app.weft.test:8080";
/// A `weft-client-id` an app makes up.
pub const FORGED_ID: &str = "spiffe://cluster.local/ns/shop/sa/forged";

/// The proxy's protocol detection timeout; a server-speaks-first protocol
/// on an opaque port must not wait for it.
pub const DETECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A client pod and a server pod, meshed, with the control plane, the
/// server apps and ready proxies. Prints both proxies' logs if dropped
/// during a panic.
pub struct Mesh {
    // Processes first: they go before their namespaces.
    pub client_proxy: Proxy,
    pub server_proxy: Proxy,
    pub apps: ServerApps,
    pub control: ControlPlane,
    pub _shared: Shared,
    pub client: Pod,
    pub server: Pod,
    pub cp: Pod,
    pub node: Node,
}

impl Mesh {
    /// With `client_env` added to the client proxy's environment.
    pub fn start(client_env: &[(&str, &str)]) -> Self {
        Self::start_with(client_env, &[])
    }

    /// With `client_env` and `server_env` added to each proxy's environment.
    pub fn start_with(client_env: &[(&str, &str)], server_env: &[(&str, &str)]) -> Self {
        netns::require_root();
        let t0 = Instant::now();
        let node = Node::new();
        let cp = node.pod("cp", "v-cp", CP_HOST);
        let client = node.pod("client", "v-client", CLIENT_HOST);
        let server = node.pod("server", "v-server", SERVER_HOST);
        let opaque = BANNER_PORT.to_string();
        let declared: Vec<u16> = LISTENING.into_iter().chain([CLOSED_PORT]).collect();
        let control = ControlPlane::start(
            &cp,
            [
                pod_object("client-0", "client", &client.ip, &[], &[]),
                pod_object(
                    "server-0",
                    "server",
                    &server.ip,
                    &declared,
                    &[(annotations::OPAQUE_PORTS, &opaque)],
                ),
            ],
        );
        let shared = Shared::new(&control.anchors_pem, &["client", "server"]);
        let bin = shared.bin();
        for pod in [&client, &server] {
            pod.ns.ok(&[bin.to_str().unwrap(), "init"]);
        }
        let apps = ServerApps::start(&server);

        let mut env = proxy_env(&server, "server-0", "server", &shared.0, &LISTENING);
        env.extend(
            server_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let server_proxy = Proxy::start(&server, &bin, &env, shared.0.join("server-0.log"));
        wait_ready(&server, &server_proxy);

        let mut env = proxy_env(&client, "client-0", "client", &shared.0, &[]);
        env.extend(
            client_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let client_proxy = Proxy::start(&client, &bin, &env, shared.0.join("client-0.log"));
        wait_ready(&client, &client_proxy);
        eprintln!("mesh up after {:?}", t0.elapsed());
        Self {
            client_proxy,
            server_proxy,
            apps,
            control,
            _shared: shared,
            client,
            server,
            cp,
            node,
        }
    }

    pub fn server_addr(&self, port: u16) -> String {
        format!("{}:{port}", self.server.ip)
    }

    /// Runs `f` as an app of the client pod (root, so redirected to its
    /// proxy) and waits for it.
    pub fn in_client<T, F, Fut>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        block_in_ns(&self.client.ns.name, f)
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

// ---- clients ----

/// `f`, or a panic naming `what` after [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    within_for(WAIT, what, f).await
}

pub async fn within_for<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {limit:?}"))
}

pub async fn connect(addr: &str) -> TcpStream {
    within(&format!("connecting to {addr}"), TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}

/// An HTTP/1.1 client connection (hyper's), able to upgrade.
pub async fn http1<B>(addr: &str) -> hyper::client::conn::http1::SendRequest<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = TokioIo::new(connect(addr).await);
    let (send, conn) = within(
        "the HTTP/1 handshake",
        hyper::client::conn::http1::handshake(io),
    )
    .await
    .expect("an HTTP/1 client connection");
    tokio::spawn(conn.with_upgrades());
    send
}

/// An h2c (prior knowledge) client connection.
pub async fn h2c(addr: &str) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let io = TokioIo::new(connect(addr).await);
    let (send, conn) = within(
        "the HTTP/2 handshake",
        hyper::client::conn::http2::handshake(TokioExecutor::new(), io),
    )
    .await
    .expect("an HTTP/2 client connection");
    tokio::spawn(conn);
    send
}

pub async fn grpc_channel(addr: &str) -> tonic::transport::Channel {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    within("the gRPC channel", endpoint.connect())
        .await
        .unwrap_or_else(|e| panic!("a gRPC channel to {addr}: {e}"))
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(600)]).into_owned();
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &body)
            .field("trailers", &self.trailers)
            .finish()
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// What the server app says it received; the reply must be its 200.
    pub fn seen(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "the app's answer: {self:?}");
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not the app's description ({e}): {self:?}"))
    }
}

pub async fn read_reply(res: http::Response<hyper::body::Incoming>) -> Result<Reply, String> {
    let (parts, body) = res.into_parts();
    let all = body
        .collect()
        .await
        .map_err(|e| format!("reading the body of a {}: {e}", parts.status))?;
    let trailers = all.trailers().cloned();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: all.to_bytes(),
        trailers,
    })
}

/// Sends `req` once the connection can take it; `Err` says what failed.
pub async fn try_send1<B>(
    s: &mut hyper::client::conn::http1::SendRequest<B>,
    req: Request<B>,
) -> Result<Reply, String>
where
    B: Body + 'static,
{
    let what = format!("{} {}", req.method(), req.uri());
    tokio::time::timeout(WAIT, async {
        s.ready()
            .await
            .map_err(|e| format!("connection unusable before {what}: {e}"))?;
        let res = s
            .send_request(req)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        read_reply(res).await
    })
    .await
    .map_err(|_| format!("{what}: no reply within {WAIT:?}"))?
}

pub async fn send1<B: Body + 'static>(
    s: &mut hyper::client::conn::http1::SendRequest<B>,
    req: Request<B>,
) -> Reply {
    try_send1(s, req).await.unwrap_or_else(|e| panic!("{e}"))
}

/// `GET path` with the suite's Host and any `extra` headers.
pub fn get(path: &str, extra: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = Request::get(path).header(header::HOST, HOST);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.body(Full::default()).unwrap()
}

/// Reads a response head (up to its blank line) within `limit`; returns it
/// and whatever followed it.
pub async fn read_head(s: &mut TcpStream, limit: Duration, what: &str) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    within_for(limit, what, async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let rest = buf.split_off(end + 4);
                return (String::from_utf8_lossy(&buf).into_owned(), rest);
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => panic!(
                    "{what}: connection closed after {:?}",
                    String::from_utf8_lossy(&buf)
                ),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
}

pub fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"))
}

/// The peak resident set (`VmHWM`) of a proxy process, in bytes.
pub fn peak_rss(p: &Proxy) -> u64 {
    let pid = p.child.id();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "weft-proxy", "pid {pid} is not the proxy");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status"));
    kib * 1024
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `GET path` on the proxy admin server of `pod`, from inside it: the body.
pub fn admin_get(pod: &Pod, path: &str) -> String {
    let addr = format!("{}:{}", pod.ip, ports::ADMIN);
    let req = format!("GET {path} HTTP/1.0\r\nHost: admin\r\n\r\n");
    block_in_ns(&pod.ns.name, move || async move {
        let mut s = connect(&addr).await;
        s.write_all(req.as_bytes()).await.unwrap();
        let mut all = Vec::new();
        within("the admin answer", s.read_to_end(&mut all))
            .await
            .expect("the admin answer");
        let all = String::from_utf8_lossy(&all).into_owned();
        all.split_once("\r\n\r\n")
            .map_or(all.clone(), |(_, body)| body.to_string())
    })
}
