//! Headless Chromium (Debian's `chromium`, installed by `scripts/setup`)
//! rendering a page the way a user's browser would: scripts run, the page
//! fetches its JSON, and the DOM it ends with is what the tests read.

use anyhow::Context as _;
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

/// How long one Chromium run may take before it is killed.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Where suites keep what a failure's reader needs (screenshots):
/// `$CARGO_TARGET_DIR/e2e-artifacts`, outside the clone.
pub fn artifacts_dir() -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"));
    let dir = target.join("e2e-artifacts");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

pub struct Chromium {
    program: PathBuf,
    /// A fresh profile per suite: no extensions, no state from a user.
    profile: PathBuf,
}

impl Chromium {
    /// Finds `chromium` on `PATH`; fails saying how to install it.
    pub fn find() -> anyhow::Result<Self> {
        let program = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("chromium"))
            .find(|p| p.is_file())
            .context("no `chromium` on PATH: run scripts/setup (Debian package chromium)")?;
        let profile =
            std::env::temp_dir().join(format!("weft-e2e-chromium-{}", std::process::id()));
        std::fs::create_dir_all(&profile)?;
        Ok(Self { program, profile })
    }

    /// The DOM of `url` once its scripts have had `budget` of (virtual)
    /// time: timers run ahead, network fetches are awaited.
    pub fn dump_dom(&self, url: &str, budget: Duration) -> anyhow::Result<String> {
        self.run(&["--dump-dom".to_string()], url, budget)
    }

    /// Saves a `width`×`height` PNG of `url` to `path`.
    pub fn screenshot(
        &self,
        url: &str,
        budget: Duration,
        (width, height): (u32, u32),
        path: &Path,
    ) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(path);
        self.run(
            &[
                format!("--screenshot={}", path.display()),
                format!("--window-size={width},{height}"),
                "--hide-scrollbars".to_string(),
            ],
            url,
            budget,
        )?;
        anyhow::ensure!(path.is_file(), "chromium wrote no {}", path.display());
        eprintln!("screenshot: {}", path.display());
        Ok(())
    }

    fn run(&self, extra: &[String], url: &str, budget: Duration) -> anyhow::Result<String> {
        let mut cmd = Command::new(&self.program);
        cmd.args([
            "--headless",
            // Root in CI: the sandbox needs an unprivileged user.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            // Nothing but the page under test may reach the network.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
        ])
        .arg(format!("--user-data-dir={}", self.profile.display()))
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        let pid = child.id();
        // Chromium can hang on a page that never settles: kill it at the
        // limit rather than hang the suite.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(RUN_LIMIT) {
            Ok(out) => out.context("waiting for chromium")?,
            Err(_) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                anyhow::bail!("chromium did not finish {url} within {RUN_LIMIT:?}");
            }
        };
        anyhow::ensure!(
            out.status.success(),
            "chromium on {url} exited {}: {}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 20)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
