//! Flagger and Prometheus, built from their Go modules by
//! `e2e/flagger/build` (`make flagger-build`), for the Flagger suite and
//! the docs examples that use Flagger's kinds.

use crate::release::{BuildEnv, apply_crd_manifests};
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
    let env = BuildEnv::of(
        "e2e/flagger/build",
        "Flagger and Prometheus (`make flagger-build`)",
    )?;
    Ok(Tools {
        flagger: env.get("FLAGGER")?.into(),
        prometheus: env.get("PROMETHEUS")?.into(),
        crds: env.get("FLAGGER_CRDS")?.into(),
    })
}

/// Applies Flagger's CRDs (Canary, MetricTemplate, AlertProvider) from its
/// module, as a user installing Flagger would.
pub fn apply_crds(tools: &Tools) -> anyhow::Result<()> {
    apply_crd_manifests(
        &tools.crds,
        &["canaries.flagger.app", "metrictemplates.flagger.app"],
    )
}
