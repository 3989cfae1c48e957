//! What each proxy of a namespace trusts, read from its `/metrics` on the
//! admin port through the API server, the way `weft check` reads it.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use weft_api::contract::ports;
use weft_cli::check::{
    cluster::pod_metrics,
    proxy_trust::{ProxyTrust, parse},
};

/// Every running pod of `ns` with its proxy's report.
pub async fn proxies(client: &kube::Client, ns: &str) -> anyhow::Result<Vec<(String, ProxyTrust)>> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().fields("status.phase=Running"))
        .await?;
    let mut out = Vec::new();
    for p in pods.items {
        let name = p.metadata.name.unwrap_or_default();
        let text = pod_metrics(client, ns, &name, ports::ADMIN).await?;
        out.push((name, parse(&text)));
    }
    Ok(out)
}
