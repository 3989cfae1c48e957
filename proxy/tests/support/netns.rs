//! Network namespaces for root tests: each test gets a fresh, uniquely named
//! namespace, deleted when the guard drops (a failing assertion included),
//! and every command run in it is bounded in time.
//!
//! These tests need root (CI runs them as root). Without it they fail with
//! a message saying so: a data-plane test that silently passes proves
//! nothing.

use std::{
    process::{Command, Output, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

/// Any one command gets this long; iptables calls take milliseconds.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// Runs a command to completion or kills it after [`COMMAND_LIMIT`].
pub fn run(argv: &[&str]) -> Output {
    // Another test thread's fork may briefly hold a just-copied binary open
    // for writing (until its exec closes it); exec then fails with ETXTBSY.
    for _ in 0..20 {
        let out = run_once(argv);
        if !String::from_utf8_lossy(&out.stderr).contains("Text file busy") {
            return out;
        }
        thread::sleep(Duration::from_millis(50));
    }
    run_once(argv)
}

fn run_once(argv: &[&str]) -> Output {
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {argv:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(COMMAND_LIMIT) {
        Ok(out) => out.unwrap_or_else(|e| panic!("waiting for {argv:?}: {e}")),
        Err(_) => {
            // Only the child this function started, by its id.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{argv:?} did not finish within {COMMAND_LIMIT:?}");
        }
    }
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(argv: &[&str]) -> String {
    let out = run(argv);
    assert!(
        out.status.success(),
        "{argv:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails the test unless it runs as root with `ip netns` working.
pub fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("no Uid line in /proc/self/status");
    assert_eq!(
        euid, "0",
        "this test creates network namespaces and must run as root (CI runs `cargo test` as root); \
         it does not skip, because a skipped data-plane test proves nothing"
    );
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(purpose: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        require_root();
        let name = format!(
            "weft-{purpose}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let out = run(&["ip", "netns", "add", &name]);
        assert!(
            out.status.success(),
            "`ip netns add {name}` failed; these tests need iproute2 and root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ns = Self { name };
        ns.ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec <ns> argv…`, bounded in time.
    pub fn run(&self, argv: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(argv);
        run(&full)
    }

    /// Like [`Netns::run`], for a command that must succeed; returns stdout.
    pub fn ok(&self, argv: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(argv);
        ok(&full)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let out = run(&["ip", "netns", "del", &self.name]);
        if !out.status.success() && !thread::panicking() {
            panic!(
                "deleting netns {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
