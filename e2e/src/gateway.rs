//! Gateway API for the e2e suites: its standard-channel CRDs and the mesh
//! conformance suite, built from their Go modules by `e2e/gateway/build`
//! (`make gateway-build`; cached by version).

use crate::release::{BuildEnv, apply_crd_manifests};
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
    let env = BuildEnv::of(
        "e2e/gateway/build",
        "the Gateway API conformance suite (`make gateway-build`)",
    )?;
    Ok(Suite {
        crds: env.get("CRDS")?.into(),
        version: env.get("GATEWAY_API_VERSION")?,
    })
}

/// Applies the standard-channel CRDs, as a user installing Gateway API
/// would, and waits for the kinds weft reads.
pub fn apply_crds(suite: &Suite) -> anyhow::Result<()> {
    apply_crd_manifests(
        &suite.crds,
        &[
            "httproutes.gateway.networking.k8s.io",
            "grpcroutes.gateway.networking.k8s.io",
            "referencegrants.gateway.networking.k8s.io",
        ],
    )
}
