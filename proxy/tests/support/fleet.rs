//! A cluster of many pods on one node for the balancing and enforcement
//! suites: meshed pods (the real `weft-proxy init` rules and the real proxy
//! under its own UID), each server pod running a small app that names
//! itself, and plain namespaces without a proxy; the control plane in its
//! own namespace. On a panic every proxy's log is printed.

use super::mesh::{Node, Pod, Proxy, block_in_ns, in_ns};
use super::netns;
use super::plane::{CP_HOST, ControlPlane, Shared, pod_object_with, proxy_env, wait_ready};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::{
    convert::Infallible,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};
use weft_api::contract::headers;
use weft_controller::index::Resource;
use weft_runtime::shutdown;

/// The app's HTTP port: every request is answered 200 with the pod's name.
pub const HTTP_PORT: u16 = 8080;
/// The app's TCP echo port.
pub const TCP_PORT: u16 = 9000;
/// A second echo port, which no TCPRoute names.
pub const OTHER_TCP_PORT: u16 = 9001;
/// The header the app names itself in (the body says it too).
pub const POD_HEADER: &str = "x-pod";
/// The header the app repeats the caller's verified id in.
pub const CLIENT_HEADER: &str = "x-client";

/// What one pod's app has received.
#[derive(Default)]
pub struct Seen {
    pub requests: AtomicUsize,
    pub tcp_connections: AtomicUsize,
    pub tcp_bytes: AtomicU64,
}

/// A pod's app, serving until dropped.
pub struct App {
    pub seen: Arc<Seen>,
    stop: shutdown::Trigger,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl App {
    /// HTTP on [`HTTP_PORT`], answering after `delay`, and echo on
    /// [`TCP_PORT`] and [`OTHER_TCP_PORT`], all on the pod IP.
    pub fn start(pod: &Pod, name: &str, delay: Duration) -> Self {
        let seen = Arc::new(Seen::default());
        let (stop, signal) = shutdown::channel();
        let (ip, name, s) = (pod.ip.clone(), name.to_string(), seen.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = in_ns(&pod.ns.name, move || async move {
            let http = TcpListener::bind((ip.as_str(), HTTP_PORT)).await.unwrap();
            let tcp = TcpListener::bind((ip.as_str(), TCP_PORT)).await.unwrap();
            let other = TcpListener::bind((ip.as_str(), OTHER_TCP_PORT))
                .await
                .unwrap();
            tx.send(()).unwrap();
            tokio::select! {
                () = serve_http(http, name, delay, s.clone()) => {}
                () = serve_echo(tcp, s.clone()) => {}
                () = serve_echo(other, s) => {}
                () = signal.wait() => {}
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the app listens");
        Self {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn requests(&self) -> usize {
        self.seen.requests.load(Ordering::SeqCst)
    }

    pub fn tcp_connections(&self) -> usize {
        self.seen.tcp_connections.load(Ordering::SeqCst)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve_http(l: TcpListener, name: String, delay: Duration, seen: Arc<Seen>) {
    loop {
        let Ok((sock, _)) = l.accept().await else {
            continue;
        };
        let (name, seen) = (name.clone(), seen.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (name, seen) = (name.clone(), seen.clone());
                async move {
                    seen.requests.fetch_add(1, Ordering::SeqCst);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let mut r = Response::new(Full::new(Bytes::from(name.clone())));
                    *r.status_mut() = StatusCode::OK;
                    r.headers_mut().insert(POD_HEADER, name.parse().unwrap());
                    r.headers_mut()
                        .insert("x-path", req.uri().path().parse().unwrap());
                    // Who the proxy said the caller is.
                    if let Some(id) = req.headers().get(headers::CLIENT_ID) {
                        r.headers_mut().insert(CLIENT_HEADER, id.clone());
                    }
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(sock), svc)
                .await;
        });
    }
}

async fn serve_echo(l: TcpListener, seen: Arc<Seen>) {
    loop {
        let Ok((mut sock, _)) = l.accept().await else {
            continue;
        };
        seen.tcp_connections.fetch_add(1, Ordering::SeqCst);
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = sock.read(&mut buf).await {
                seen.tcp_bytes.fetch_add(n as u64, Ordering::SeqCst);
                if n == 0 || sock.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// One pod of the cluster.
pub struct PodSpec {
    pub name: String,
    pub sa: String,
    pub host: u8,
    /// Runs the app (and declares its ports).
    pub app: bool,
    /// How long the app takes to answer HTTP.
    pub delay: Duration,
    pub annotations: Vec<(String, String)>,
    /// Fields added to the app container of the pod object (probes).
    pub container: Value,
    /// With a proxy; a plain namespace (no pod object, no proxy) otherwise.
    pub meshed: bool,
    /// An address off the pod network (`host` then only names the veth).
    pub address: Option<String>,
}

impl PodSpec {
    /// A meshed pod running the app.
    pub fn server(name: &str, sa: &str, host: u8) -> Self {
        Self {
            name: name.into(),
            sa: sa.into(),
            host,
            app: true,
            delay: Duration::ZERO,
            annotations: Vec::new(),
            container: Value::Null,
            meshed: true,
            address: None,
        }
    }

    /// A meshed pod with no app of its own: tests act as its app.
    pub fn client(name: &str, sa: &str, host: u8) -> Self {
        Self {
            app: false,
            ..Self::server(name, sa, host)
        }
    }

    /// A namespace on the pod network with neither proxy nor pod object:
    /// an unauthenticated caller.
    pub fn plain(name: &str, host: u8) -> Self {
        Self {
            meshed: false,
            ..Self::client(name, "", host)
        }
    }

    /// A plain namespace running the app at `ip`/24, off the pod network
    /// (routes to and from it are the test's business).
    pub fn outside(name: &str, host: u8, ip: &str) -> Self {
        Self {
            meshed: false,
            address: Some(ip.into()),
            ..Self::server(name, "", host)
        }
    }

    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    pub fn ann(mut self, k: &str, v: &str) -> Self {
        self.annotations.push((k.into(), v.into()));
        self
    }

    pub fn container(mut self, fields: Value) -> Self {
        self.container = fields;
        self
    }

    fn ports(&self) -> Vec<u16> {
        if self.app {
            vec![HTTP_PORT, TCP_PORT, OTHER_TCP_PORT]
        } else {
            Vec::new()
        }
    }
}

/// A pod with what runs in it. Processes go before the namespace.
pub struct Member {
    pub proxy: Option<Proxy>,
    pub app: Option<App>,
    pub pod: Pod,
    pub spec: PodSpec,
}

impl Member {
    pub fn proxy(&self) -> &Proxy {
        self.proxy
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no proxy", self.spec.name))
    }

    pub fn app(&self) -> &App {
        self.app
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no app", self.spec.name))
    }

    /// Runs `f` as an app of this pod (root, so redirected to its proxy if
    /// it has one) and waits for it.
    pub fn run<T, F, Fut>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        block_in_ns(&self.pod.ns.name, f)
    }

    /// `ip:port` of this pod.
    pub fn addr(&self, port: u16) -> String {
        format!("{}:{port}", self.pod.ip)
    }
}

/// The pods, the control plane and the node.
pub struct Cluster {
    pub members: Vec<Member>,
    pub control: ControlPlane,
    pub shared: Shared,
    pub cp: Pod,
    pub node: Node,
}

impl Cluster {
    /// Starts `pods` with the index holding their pod objects and
    /// `objects`; returns once every proxy is ready.
    pub fn start(pods: Vec<PodSpec>, objects: Vec<Resource>) -> Self {
        netns::require_root();
        let t0 = tokio::time::Instant::now();
        let node = Node::new();
        let cp = node.pod("cp", "v-cp", CP_HOST);
        let mut placed = Vec::new();
        let mut pod_objects = Vec::new();
        for spec in pods {
            let port = format!("v-{}", spec.host);
            let pod = match &spec.address {
                Some(ip) => node.pod_at(&spec.name, &port, ip, 24),
                None => node.pod(&spec.name, &port, spec.host),
            };
            if spec.meshed {
                let ann: Vec<(&str, &str)> = spec
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                pod_objects.push(pod_object_with(
                    &spec.name,
                    &spec.sa,
                    &pod.ip,
                    &spec.ports(),
                    &ann,
                    spec.container.clone(),
                ));
            }
            placed.push((spec, pod));
        }
        let control = ControlPlane::start(&cp, pod_objects.into_iter().chain(objects));
        let mut sas: Vec<&str> = placed
            .iter()
            .filter(|(s, _)| s.meshed)
            .map(|(s, _)| s.sa.as_str())
            .collect();
        sas.sort_unstable();
        sas.dedup();
        let shared = Shared::new(&control.anchors_pem, &sas);
        let bin = shared.bin();
        let mut members = Vec::new();
        for (spec, pod) in placed {
            let app = spec.app.then(|| App::start(&pod, &spec.name, spec.delay));
            let proxy = spec.meshed.then(|| {
                pod.ns.ok(&[bin.to_str().unwrap(), "init"]);
                let env = proxy_env(&pod, &spec.name, &spec.sa, &shared.0, &spec.ports());
                let log = shared.0.join(format!("{}.log", spec.name));
                Proxy::start(&pod, &bin, &env, log)
            });
            members.push(Member {
                proxy,
                app,
                pod,
                spec,
            });
        }
        let cluster = Self {
            members,
            control,
            shared,
            cp,
            node,
        };
        for m in &cluster.members {
            if let Some(p) = &m.proxy {
                wait_ready(&m.pod, p);
            }
        }
        eprintln!("{} pods up after {:?}", cluster.members.len(), t0.elapsed());
        cluster
    }

    pub fn get(&self, name: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.spec.name == name)
            .unwrap_or_else(|| panic!("no pod {name}"))
    }

    /// Every proxy's log, the last `lines` lines of each.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for m in &self.members {
            if let Some(p) = &m.proxy {
                let log = p.log();
                let all: Vec<&str> = log.lines().collect();
                let tail = &all[all.len().saturating_sub(lines)..];
                out.push_str(&format!(
                    "===== {} proxy log (last {} of {} lines) =====\n{}\n",
                    m.spec.name,
                    tail.len(),
                    all.len(),
                    tail.join("\n")
                ));
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs(300));
        }
    }
}
