//! Helpers for weft's end-to-end suites.
//!
//! The suites in `e2e/tests/` run against the single-node cluster that
//! `e2e/cluster/up` starts (`make e2e`). A suite that cannot reach its cluster
//! fails and says why; it is never skipped.

use anyhow::Context as _;

/// A client for the cluster named by `KUBECONFIG`, or a clear error saying
/// how to start one.
pub async fn client() -> anyhow::Result<kube::Client> {
    let client = kube::Client::try_default().await.context(
        "no Kubernetes cluster configured: run `make cluster-up` and export the KUBECONFIG it prints",
    )?;
    client
        .apiserver_version()
        .await
        .context("the cluster's API server does not answer: is `e2e/cluster/up` running?")?;
    Ok(client)
}
