//! Flagger and Prometheus, built from their Go modules by
//! `e2e/flagger/build` (`make flagger-build`), for the Flagger suite and
//! the docs examples that use Flagger's kinds.

use crate::{release::run, repo_root};
use anyhow::Context as _;
use std::path::PathBuf;

/// The binaries and Flagger's CRD manifest, at the versions
/// `e2e/cluster/versions.env` pins.
pub struct Tools {
    pub flagger: PathBuf,
    pub prometheus: PathBuf,
    pub crds: PathBuf,
}

/// Runs `e2e/flagger/build --env`: instant when both binaries are cached,
/// a build from the module proxy otherwise.
pub fn tools() -> anyhow::Result<Tools> {
    let script = repo_root().join("e2e/flagger/build");
    let out = run(script.to_str().context("script path")?, &["--env"])
        .context("building Flagger and Prometheus (`make flagger-build`)")?;
    let var = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(PathBuf::from)
            .with_context(|| format!("e2e/flagger/build --env printed no {key}: {out}"))
    };
    Ok(Tools {
        flagger: var("FLAGGER")?,
        prometheus: var("PROMETHEUS")?,
        crds: var("FLAGGER_CRDS")?,
    })
}

/// Applies Flagger's CRDs (Canary, MetricTemplate, AlertProvider) from its
/// module, as a user installing Flagger would.
pub fn apply_crds(tools: &Tools) -> anyhow::Result<()> {
    let crds = tools.crds.to_str().context("CRD path")?;
    run(
        "kubectl",
        &["apply", "--server-side", "--force-conflicts", "-f", crds],
    )?;
    run(
        "kubectl",
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/canaries.flagger.app",
            "crd/metrictemplates.flagger.app",
        ],
    )?;
    Ok(())
}
