//! A small mesh in network namespaces: a "node" namespace holding a bridge,
//! and pod namespaces joined to it by veth pairs. The control plane (the
//! real Certify service and the real controller gRPC server over a real
//! index) runs in this process, in threads that entered the control-plane
//! namespace; the proxies are the real `weft-proxy` binary under their own
//! UID in their pods' namespaces, after the real `weft-proxy init`.

use super::netns::Netns;
use std::{
    fs::File,
    future::Future,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The subnet the suite's namespaces use; it exists only inside them.
pub const SUBNET: &str = "198.18.200";
/// Its IPv6 counterpart (a /64 of the ULA range), for dual-stack pods: host
/// `n` is `fd00:198:18:200::n`.
pub const SUBNET6: &str = "fd00:198:18:200:";

/// Runs `f` on a fresh thread that entered `ns`'s network namespace, with
/// its own runtime; sockets it creates stay in that namespace.
pub fn in_ns<T, F, Fut>(ns: &str, f: F) -> std::thread::JoinHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("entering {path}: {e}"));
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f())
    })
}

/// Runs `f` in `ns` and waits for it.
pub fn block_in_ns<T, F, Fut>(ns: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    in_ns(ns, f).join().expect("the namespace thread panicked")
}

/// The bridge namespace and the pods on it.
pub struct Node {
    pub ns: Netns,
}

impl Node {
    pub fn new() -> Self {
        let ns = Netns::new("node");
        ns.ok(&["ip", "link", "add", "br0", "type", "bridge"]);
        ns.ok(&["ip", "link", "set", "br0", "up"]);
        Self { ns }
    }

    /// A pod namespace at `SUBNET.host`, its eth0 on the bridge as `port`
    /// (the host side's name, at most 15 characters).
    pub fn pod(&self, purpose: &str, port: &str, host: u8) -> Pod {
        self.pod_at(purpose, port, &format!("{SUBNET}.{host}"), 24)
    }

    /// Like [`Node::pod`], with IPv6 too: `SUBNET6:host/64` as well.
    pub fn pod_dual(&self, purpose: &str, port: &str, host: u8) -> Pod {
        let mut pod = self.pod(purpose, port, host);
        let ip6 = format!("{SUBNET6}:{host}");
        // A fresh namespace may start with IPv6 off; `nodad` makes the
        // address usable at once instead of after duplicate detection.
        pod.ns.ok(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=0",
            "net.ipv6.conf.default.disable_ipv6=0",
            "net.ipv6.conf.lo.disable_ipv6=0",
            "net.ipv6.conf.eth0.disable_ipv6=0",
        ]);
        pod.ns.ok(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{ip6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        pod.ip6 = Some(ip6);
        pod
    }

    /// Like [`Node::pod`], at any address `ip/prefix` on the bridge.
    pub fn pod_at(&self, purpose: &str, port: &str, ip: &str, prefix: u8) -> Pod {
        let ns = Netns::new(purpose);
        self.ns.ok(&[
            "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
        ]);
        self.ns
            .ok(&["ip", "link", "set", port, "master", "br0", "up"]);
        ns.ok(&[
            "ip",
            "addr",
            "add",
            &format!("{ip}/{prefix}"),
            "dev",
            "eth0",
        ]);
        ns.ok(&["ip", "link", "set", "eth0", "up"]);
        Pod {
            ns,
            ip: ip.to_string(),
            ip6: None,
            port: port.to_string(),
        }
    }
}

pub struct Pod {
    pub ns: Netns,
    pub ip: String,
    /// The IPv6 address of a dual-stack pod ([`Node::pod_dual`]).
    pub ip6: Option<String>,
    /// The node-side name of this pod's veth.
    pub port: String,
}

impl Pod {
    /// Every address, as `status.podIPs` lists them (IPv4 first).
    pub fn ips(&self) -> Vec<String> {
        std::iter::once(self.ip.clone())
            .chain(self.ip6.clone())
            .collect()
    }
}

/// A running proxy process, killed on drop.
pub struct Proxy {
    pub child: Child,
    pub log: PathBuf,
}

impl Proxy {
    /// Starts `bin` in `pod` as the proxy's UID and GID with `env`.
    pub fn start(pod: &Pod, bin: &Path, env: &[(String, String)], log: PathBuf) -> Self {
        let out = File::create(&log).expect("a log file");
        let uid = weft_api::contract::proxy_user::UID.to_string();
        let gid = weft_api::contract::proxy_user::GID.to_string();
        let child = Command::new("ip")
            .args(["netns", "exec", &pod.ns.name, "setpriv"])
            .args([
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".into(),
            ])
            .arg(bin)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("log")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("starting weft-proxy");
        Self { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on `addr`, from inside the current namespace: the status code.
pub async fn http_status(addr: &str, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = [0u8; 32];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    std::str::from_utf8(&buf[..n])
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
