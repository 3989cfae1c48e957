//! Installing and removing the chart's release the way a user would, for
//! the suites that need a running control plane.

use crate::repo_root;
use anyhow::Context as _;
use std::process::{Command, Stdio};

/// Runs a tool from the cluster environment, failing with its stderr.
pub fn run(tool: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {tool} (is `eval \"$(e2e/cluster/env)\"` in effect?)"))?;
    anyhow::ensure!(
        out.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a repository build script (`e2e/<tool>/build --env`) prints:
/// `KEY=value` lines. The build is instant when its outputs are cached.
pub struct BuildEnv {
    script: String,
    out: String,
}

impl BuildEnv {
    /// Runs `script` (a path under the repository) with `--env`; `what`
    /// says what it builds, for the error.
    pub fn of(script: &str, what: &str) -> anyhow::Result<Self> {
        let path = repo_root().join(script);
        let out = run(path.to_str().context("script path")?, &["--env"])
            .with_context(|| format!("building {what}"))?;
        Ok(Self {
            script: script.to_owned(),
            out,
        })
    }

    /// The value printed for `key`.
    pub fn get(&self, key: &str) -> anyhow::Result<String> {
        self.out
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
            .with_context(|| format!("{} --env printed no {key}: {}", self.script, self.out))
    }
}

/// Applies CRD manifests from `path` server-side (some are too large for a
/// client-side apply), as a user installing them would, and waits until
/// each of `crds` is Established.
pub fn apply_crd_manifests(path: &std::path::Path, crds: &[&str]) -> anyhow::Result<()> {
    let path = path.to_str().context("CRD path")?;
    run(
        "kubectl",
        &["apply", "--server-side", "--force-conflicts", "-f", path],
    )?;
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    let named: Vec<String> = crds.iter().map(|c| format!("crd/{c}")).collect();
    wait.extend(named.iter().map(String::as_str));
    run("kubectl", &wait)?;
    Ok(())
}

/// `helm upgrade --install weft` with the chart's defaults (the cluster's
/// networks come from the cluster), then waits for every control-plane
/// Deployment.
pub fn install() -> anyhow::Result<()> {
    install_with(&[])
}

/// [`install`] with more `--set` values (`key=value`).
pub fn install_with(sets: &[&str]) -> anyhow::Result<()> {
    let args: Vec<&str> = sets.iter().flat_map(|s| ["--set", s]).collect();
    install_with_args(&args)
}

/// [`install`] with more helm arguments (`--set-file k=path`, ...).
pub fn install_with_args(extra: &[&str]) -> anyhow::Result<()> {
    wait_namespace_gone_if_terminating()?;
    let chart = repo_root().join("charts/weft");
    let mut args = vec![
        "upgrade",
        "--install",
        "weft",
        chart.to_str().context("chart path")?,
        "-n",
        "weft-system",
        "--create-namespace",
        // Without values on the command line, `helm upgrade` would reuse the
        // previous release's (the upgrade suite's `image.tag=previous`).
        "--reset-values",
    ];
    args.extend(extra);
    run("helm", &args)?;
    wait_control_plane()
}

/// Applies this tree's SMI CRDs the way docs/upgrade.md says (Helm never
/// upgrades CRDs).
pub fn apply_crds() -> anyhow::Result<()> {
    let crds = repo_root().join("charts/weft/crds");
    let crds = crds.to_str().context("CRD path")?;
    run(
        "kubectl",
        &["apply", "--server-side", "--force-conflicts", "-f", crds],
    )?;
    Ok(())
}

/// Points the SMI CRDs away from weft-controller's conversion webhook, as
/// docs/smi.md says to after a bare `helm uninstall` or before going back
/// to a release without the webhook.
pub fn release_crd_conversion() -> anyhow::Result<()> {
    for crd in weft_k8s_api::crds::all() {
        let name = crd.metadata.name.context("CRD name")?;
        run(
            "kubectl",
            &[
                "patch",
                "crd",
                &name,
                "--type=merge",
                "-p",
                r#"{"spec":{"conversion":{"strategy":"None","webhook":null}}}"#,
            ],
        )?;
    }
    Ok(())
}

/// Waits until every control-plane Deployment has rolled out.
pub fn wait_control_plane() -> anyhow::Result<()> {
    for d in ["weft-identity", "weft-controller", "weft-injector"] {
        run(
            "kubectl",
            &[
                "-n",
                "weft-system",
                "rollout",
                "status",
                &format!("deploy/{d}"),
                "--timeout=180s",
            ],
        )?;
    }
    Ok(())
}

pub fn uninstall() {
    let _ = run(
        "helm",
        &["uninstall", "weft", "-n", "weft-system", "--wait"],
    );
}

/// A namespace being deleted refuses new objects: after an uninstall test
/// removed `weft-system`, wait until it is gone before installing again.
pub fn wait_namespace_gone_if_terminating() -> anyhow::Result<()> {
    let t0 = tokio::time::Instant::now();
    loop {
        let phase = Command::new("kubectl")
            .args(["get", "ns", "weft-system", "-o", "jsonpath={.status.phase}"])
            .stdin(Stdio::null())
            .output()
            .context("running kubectl (is `eval \"$(e2e/cluster/env)\"` in effect?)")?;
        if String::from_utf8_lossy(&phase.stdout).trim() != "Terminating" {
            return Ok(());
        }
        anyhow::ensure!(
            t0.elapsed() < std::time::Duration::from_secs(120),
            "namespace weft-system still Terminating after 120s"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// The generated mesh PKI: the issuer certificate and the anchor bundle.
/// Upgrades and reinstalls must never change it.
pub async fn generated_pki(client: &kube::Client) -> anyhow::Result<(Vec<u8>, String)> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let issuer = kube::Api::<Secret>::namespaced(client.clone(), "weft-system")
        .get("weft-identity-issuer")
        .await?
        .data
        .and_then(|d| d.get("tls.crt").map(|b| b.0.clone()))
        .unwrap_or_default();
    let anchors = kube::Api::<ConfigMap>::namespaced(client.clone(), "weft-system")
        .get("weft-mesh-trust-anchors")
        .await?
        .data
        .map(|d| d.into_values().collect::<String>())
        .unwrap_or_default();
    anyhow::ensure!(
        !issuer.is_empty() && !anchors.is_empty(),
        "no generated PKI found"
    );
    Ok((issuer, anchors))
}
