//! Gateway API for the e2e suites: its standard-channel CRDs and the mesh
//! conformance suite, built from their Go modules by `e2e/gateway/build`
//! (`make gateway-build`; cached by version).

use crate::{release::run, repo_root};
use anyhow::Context as _;
use std::path::PathBuf;

/// What `e2e/gateway/build --env` reports.
pub struct Suite {
    /// The directory of the standard-channel CRD manifests.
    pub crds: PathBuf,
    /// The Gateway API release, e.g. `v1.6.3`.
    pub version: String,
}

/// Runs `e2e/gateway/build --env` (instant when cached): the suite binary,
/// the echo image imported into the e2e cluster, the CRDs.
pub fn build() -> anyhow::Result<Suite> {
    let script = repo_root().join("e2e/gateway/build");
    let out = run(script.to_str().context("script path")?, &["--env"])
        .context("building the Gateway API conformance suite (`make gateway-build`)")?;
    let var = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
            .with_context(|| format!("e2e/gateway/build --env printed no {key}: {out}"))
    };
    Ok(Suite {
        crds: var("CRDS")?.into(),
        version: var("GATEWAY_API_VERSION")?,
    })
}

/// Applies the standard-channel CRDs, as a user installing Gateway API
/// would, and waits for the kinds weft reads.
pub fn apply_crds(suite: &Suite) -> anyhow::Result<()> {
    let crds = suite.crds.to_str().context("CRD path")?;
    // Server-side: httproutes' CRD is too large for client-side apply.
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
            "crd/httproutes.gateway.networking.k8s.io",
            "crd/grpcroutes.gateway.networking.k8s.io",
            "crd/referencegrants.gateway.networking.k8s.io",
        ],
    )?;
    Ok(())
}
