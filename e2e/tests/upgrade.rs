//! Upgrading from the previous release (e2e/previous/release, rebuilt by
//! `e2e/previous/build`) to this tree's chart under steady meshed traffic:
//! not one request fails, the generated mesh PKI is kept, and the old
//! proxies keep working against the new control plane (version skew): they
//! take its new policy, and a new proxy talks to an old one.

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::json;
use std::path::PathBuf;
use weft_e2e::{
    apply, client,
    pods::{
        a_late_grant_takes_effect, app_tcp_route, mesh_namespace, no_request_failed, server_pod,
        service, start_client, still_running, tcp_grant, wait_ready,
    },
    release::{
        apply_crds, generated_pki as pki, install, release_crd_conversion, run, uninstall,
        wait_control_plane, wait_namespace_gone_if_terminating,
    },
    repo_root, with_temp_ns,
};

const NETWORKS: &str = "mesh.clusterNetworks={198.18.128.0/20,198.19.0.0/20}";

/// The previous release's chart, as `e2e/previous/build` extracted it.
fn previous_chart() -> anyhow::Result<PathBuf> {
    let release = std::fs::read_to_string(repo_root().join("e2e/previous/release"))?;
    let commit = release
        .lines()
        .find_map(|l| l.strip_prefix("PREVIOUS_COMMIT="))
        .ok_or_else(|| anyhow::anyhow!("e2e/previous/release names no PREVIOUS_COMMIT"))?;
    let cache = std::env::var_os("WEFT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weft")))
        .ok_or_else(|| anyhow::anyhow!("neither WEFT_CACHE nor HOME is set"))?;
    let chart = cache
        .join("previous")
        .join(commit.trim())
        .join("charts/weft");
    anyhow::ensure!(
        chart.join("Chart.yaml").is_file(),
        "the previous release is not built: run `make images-previous` (e2e/previous/build)"
    );
    Ok(chart)
}

/// The image of `pod`'s weft-proxy container.
async fn proxy_image(pods: &Api<Pod>, pod: &str) -> anyhow::Result<String> {
    Ok(pods
        .get(pod)
        .await?
        .spec
        .into_iter()
        .flat_map(|s| s.init_containers.unwrap_or_default())
        .find(|c| c.name == "weft-proxy")
        .and_then(|c| c.image)
        .unwrap_or_default())
}

#[tokio::test]
async fn upgrading_from_the_previous_release_under_load_fails_no_request() -> anyhow::Result<()> {
    let client = client().await?;
    let previous = previous_chart()?;
    uninstall();
    // The previous release serves no conversion webhook (docs/upgrade.md,
    // "Going back").
    release_crd_conversion()?;
    wait_namespace_gone_if_terminating()?;
    run(
        "helm",
        &[
            "install",
            "weft",
            previous.to_str().unwrap_or_default(),
            "-n",
            "weft-system",
            "--create-namespace",
            "--set",
            NETWORKS,
            "--set",
            "image.tag=previous",
        ],
    )?;
    wait_control_plane()?;
    eprintln!("previous release installed from {}", previous.display());
    let res = with_temp_ns(&client, |client, ns| async move {
        mesh_namespace(&client, &ns, &[], &["server", "client", "late"]).await?;
        for pod in ["server-0", "server-1"] {
            server_pod(&client, &ns, pod, "server", json!({"app": "server"})).await?;
        }
        service(&client, &ns, "server", json!({"app": "server"})).await?;
        app_tcp_route(&client, &ns).await?;
        apply(&client, &ns, tcp_grant("client", "client")).await?;
        wait_ready(&client, &ns, &["server-0", "server-1"]).await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let old = proxy_image(&pods, "server-0").await?;
        assert!(
            old.ends_with(":previous"),
            "server-0 runs {old}, not the previous proxy"
        );
        let before = pki(&client).await?;

        start_client(
            &client,
            &ns,
            "steady",
            "client",
            &["load", "http://server/", "1200", "20"],
        )
        .await?;
        wait_ready(&client, &ns, &["steady"]).await?;

        // The documented upgrade: CRDs first (Helm never upgrades them), then the chart.
        let t0 = tokio::time::Instant::now();
        apply_crds()?;
        install()?;
        eprintln!(
            "upgraded to this tree's chart, control plane Ready, in {:?}",
            t0.elapsed()
        );
        still_running(&client, &ns, "steady", "the upgrade").await?;
        assert!(
            pki(&client).await? == before,
            "the upgrade changed the generated mesh PKI"
        );

        // Skew: the old proxies take the new controller's policy, and a new
        // proxy reaches an old one.
        a_late_grant_takes_effect(&client, &ns, "the upgrade").await?;
        let new = proxy_image(&pods, "late").await?;
        assert!(
            new.ends_with(":dev"),
            "a pod created after the upgrade runs {new}"
        );
        eprintln!("skew: {new} → {old} under the new control plane: ok");

        no_request_failed(&client, &ns, "steady", "the upgrade").await?;
        Ok(())
    })
    .await;
    uninstall();
    res
}
