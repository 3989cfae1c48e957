//! SMI TrafficSplit on the real cluster: requests from one meshed client to
//! a root Service spread over its endpoints without a split, go exactly
//! where a 1/0 or 0/1 split says, follow 90/10 within statistical bounds
//! over 1000 requests, follow a weight change, and a TrafficSplit written
//! the way Flagger writes it (split v1alpha2) is honoured too.
//!
//! The root Service `server` selects every backend's pods (as a canary
//! setup does); `server-v1` and `server-v2` select one version each.

use serde_json::json;
use weft_e2e::{
    apply, client,
    pods::{LoadReport, mesh_namespace, run_to_end, server_pod, service, wait_ready},
    release::{install, uninstall},
    with_temp_ns,
};

fn split(v1: u32, v2: u32) -> serde_json::Value {
    json!({
        "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
        "metadata": {"name": "server-split"},
        "spec": {"service": "server",
                 "backends": [{"service": "server-v1", "weight": v1},
                              {"service": "server-v2", "weight": v2}]}
    })
}

/// How long a policy change takes to reach the client's proxy, with room:
/// the controller streams it within milliseconds on this cluster.
const PROPAGATION: std::time::Duration = std::time::Duration::from_secs(3);

/// Sends `n` requests to the root Service from a fresh client pod. Its
/// first request leaves the moment the app starts, without a retry: none
/// failing also shows the app starts only once its proxy is ready.
async fn load(client: &kube::Client, ns: &str, name: &str, n: u32) -> anyhow::Result<LoadReport> {
    let n = n.to_string();
    let (phase, log) =
        run_to_end(client, ns, name, "client", &["load", "http://server/", &n]).await?;
    anyhow::ensure!(phase == "Succeeded", "{name} {phase}: {log}");
    let report = LoadReport::parse(&log)?;
    anyhow::ensure!(
        report.failed == 0,
        "{name}: {} of {n} requests failed: {:?}",
        report.failed,
        report.errors
    );
    Ok(report)
}

#[tokio::test]
async fn traffic_splits_decide_where_requests_go() -> anyhow::Result<()> {
    let client = client().await?;
    install()?;
    let res = with_temp_ns(&client, |client, ns| async move {
        mesh_namespace(&client, &ns, &[], &["server", "client"]).await?;
        for (pod, version) in [("v1-a", "v1"), ("v1-b", "v1"), ("v2-a", "v2")] {
            server_pod(
                &client,
                &ns,
                pod,
                "server",
                json!({"app": "server", "version": version}),
            )
            .await?;
        }
        service(&client, &ns, "server", json!({"app": "server"})).await?;
        service(&client, &ns, "server-v1", json!({"version": "v1"})).await?;
        service(&client, &ns, "server-v2", json!({"version": "v2"})).await?;
        wait_ready(&client, &ns, &["v1-a", "v1-b", "v2-a"]).await?;

        // No split: the root's own endpoints, all three pods, share the load.
        let r = load(&client, &ns, "spread", 300).await?;
        for pod in ["v1-a", "v1-b", "v2-a"] {
            let got = r.from.get(pod).copied().unwrap_or(0);
            assert!(
                got >= 30,
                "without a split {pod} answered only {got} of 300: {:?}",
                r.from
            );
        }

        apply(&client, &ns, split(1, 0)).await?;
        tokio::time::sleep(PROPAGATION).await;
        let r = load(&client, &ns, "one-zero", 200).await?;
        assert_eq!(
            r.from_prefix("v1-"),
            200,
            "1/0 must send everything to v1: {:?}",
            r.from
        );
        // Balanced over the backend's endpoints, not pinned to one.
        assert!(
            r.from.contains_key("v1-a") && r.from.contains_key("v1-b"),
            "{:?}",
            r.from
        );

        apply(&client, &ns, split(0, 1)).await?;
        tokio::time::sleep(PROPAGATION).await;
        let r = load(&client, &ns, "zero-one", 200).await?;
        assert_eq!(
            r.from_prefix("v2-"),
            200,
            "0/1 must send everything to v2: {:?}",
            r.from
        );

        // 90/10 over 1000 requests: within three standard deviations of a
        // binomial draw (σ ≈ 9.5), though weighted round-robin is exact.
        apply(&client, &ns, split(90, 10)).await?;
        tokio::time::sleep(PROPAGATION).await;
        let r = load(&client, &ns, "ninety-ten", 1000).await?;
        let v2 = r.from_prefix("v2-");
        eprintln!("90/10: v1 {} v2 {v2}", r.from_prefix("v1-"));
        assert!(
            (72..=128).contains(&v2),
            "90/10 gave v2 {v2} of 1000: {:?}",
            r.from
        );

        // Flagger writes split v1alpha2 with integer weights; 50/50 here.
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
                "metadata": {"name": "server-split"},
                "spec": {"service": "server",
                         "backends": [{"service": "server-v1", "weight": 50},
                                      {"service": "server-v2", "weight": 50}]}
            }),
        )
        .await?;
        tokio::time::sleep(PROPAGATION).await;
        let r = load(&client, &ns, "flagger", 400).await?;
        let v2 = r.from_prefix("v2-");
        eprintln!("50/50 (v1alpha2): v1 {} v2 {v2}", r.from_prefix("v1-"));
        assert!(
            (170..=230).contains(&v2),
            "50/50 gave v2 {v2} of 400: {:?}",
            r.from
        );
        Ok(())
    })
    .await;
    uninstall();
    res
}
