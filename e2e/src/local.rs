//! Local helper processes of the suites (Prometheus, Flagger), and the
//! plain HTTP they are queried with.

use anyhow::Context as _;
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// A process of a suite's own (Prometheus, Flagger), logging to a file,
/// killed when dropped: whatever the test does, nothing outlives it.
pub struct Local {
    pub name: &'static str,
    child: Child,
    pub log: PathBuf,
}

impl Local {
    pub fn start(
        name: &'static str,
        dir: &Path,
        program: &Path,
        args: &[String],
    ) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        eprintln!("{name}: pid {}, log {}", child.id(), log.display());
        Ok(Self { name, child, log })
    }

    /// Fails, with the end of its log, once the process has exited.
    pub fn alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!(
                "{} exited ({status}); its log ends:\n{}",
                self.name,
                self.tail(40)
            );
        }
        Ok(())
    }

    pub fn tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A plain HTTP/1.0 GET on loopback: the status and the body.
pub async fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .context("no answer within 10 s")??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_string()))
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query; the result's samples.
pub async fn prometheus_query(port: u16, q: &str) -> anyhow::Result<Vec<Value>> {
    let (status, body) =
        http_get(port, &format!("/api/v1/query?query={}", query_escape(q))).await?;
    anyhow::ensure!(status == 200, "Prometheus answered {status} to {q}: {body}");
    let v: Value = serde_json::from_str(&body)?;
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}
