//! weft as a cluster citizen: with weft installed, deleting a namespace
//! that holds meshed pods and SMI objects finishes within a minute, also
//! when it starts while the controller (which serves the metrics
//! APIService) restarts; `kubectl api-resources` succeeds; the aggregator
//! can download the metrics API's OpenAPI documents.
//!
//! Kubernetes finishes no namespace deletion while any aggregated API's
//! discovery fails, so a metrics API that refused the aggregator's
//! discovery request once kept every namespace `Terminating`.

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;
use weft_e2e::{
    apply, client,
    pods::{mesh_namespace, server_pod, service, wait_ready},
    release::{install, run},
};

const GONE_WITHIN: Duration = Duration::from_secs(60);

fn kubectl(args: &[&str]) -> anyhow::Result<String> {
    run("kubectl", args)
}

/// Polls `check` every 500 ms for up to `limit`.
async fn within(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    loop {
        match check() {
            Ok(true) => {
                eprintln!("{what}: after {:?}", t0.elapsed());
                return Ok(t0.elapsed());
            }
            Ok(false) => {}
            Err(e) if t0.elapsed() >= limit => {
                return Err(e.context(format!("{what}: not within {limit:?}")));
            }
            Err(_) => {}
        }
        anyhow::ensure!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A new namespace with a meshed pod behind a Service and SMI objects.
async fn populated_namespace(client: &kube::Client) -> anyhow::Result<String> {
    let ns = format!("weft-e2e-del-{:06x}", rand::random::<u32>() & 0xffffff);
    let mut obj = Namespace::default();
    obj.metadata.name = Some(ns.clone());
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &obj)
        .await
        .with_context(|| format!("creating {ns}"))?;
    within(
        &format!("{ns}/default ServiceAccount"),
        Duration::from_secs(30),
        || Ok(kubectl(&["-n", &ns, "get", "sa", "default"]).is_ok()),
    )
    .await?;
    mesh_namespace(client, &ns, &[], &["server"]).await?;
    server_pod(client, &ns, "server", "server", json!({"app": "server"})).await?;
    service(client, &ns, "server", json!({"app": "server"})).await?;
    apply(
        client,
        &ns,
        json!({
            "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
            "metadata": {"name": "routes"},
            "spec": {"matches": [{"name": "all", "pathRegex": ".*"}]}
        }),
    )
    .await?;
    apply(
        client,
        &ns,
        json!({
            "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": {"name": "to-server"},
            "spec": {"destination": {"kind": "ServiceAccount", "name": "server"},
                     "sources": [{"kind": "ServiceAccount", "name": "default"}],
                     "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["all"]}]}
        }),
    )
    .await?;
    Ok(ns)
}

fn gone(ns: &str) -> anyhow::Result<bool> {
    let out = kubectl(&["get", "ns", ns, "--ignore-not-found", "-o", "name"])?;
    Ok(out.trim().is_empty())
}

fn why_not_gone(ns: &str) -> String {
    kubectl(&["get", "ns", ns, "-o", "jsonpath={.status.conditions}"])
        .unwrap_or_else(|e| e.to_string())
}

/// The controller does not keep writing into a namespace that is being
/// deleted: a few seconds after it is gone, its log has no warning naming
/// it (it once retried a ConfigMap write there every 2 s, forever).
async fn quiet_about(ns: &str) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    let logs = kubectl(&[
        "-n",
        "weft-system",
        "logs",
        "deploy/weft-controller",
        "--since=90s",
    ])?;
    let noisy: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(ns) && (l.contains("WARN") || l.contains("ERROR")))
        .collect();
    anyhow::ensure!(
        noisy.is_empty(),
        "the controller warns about deleted namespace {ns}:\n{}",
        noisy.join("\n")
    );
    Ok(())
}

#[tokio::test]
async fn namespaces_are_deleted_promptly_with_weft_installed() -> anyhow::Result<()> {
    let client = client().await?;
    install()?;
    within("APIService available", Duration::from_secs(60), || {
        let s = kubectl(&[
            "get",
            "apiservice",
            "v1alpha1.metrics.smi-spec.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Available\")].status}",
        ])?;
        Ok(s.trim() == "True")
    })
    .await?;
    let ns = populated_namespace(&client).await?;
    wait_ready(&client, &ns, &["server"]).await?;
    kubectl(&["delete", "ns", &ns, "--wait=false"])?;
    within(&format!("{ns} gone"), GONE_WITHIN, || gone(&ns))
        .await
        .with_context(|| why_not_gone(&ns))?;
    quiet_about(&ns).await?;

    // The aggregator refreshes a group's discovery when its APIService
    // changes and then every minute or so; a stale group fails the command.
    within(
        "kubectl api-resources exits 0",
        Duration::from_secs(90),
        || kubectl(&["api-resources", "-o", "name"]).map(|_| true),
    )
    .await?;
    let v3 = kubectl(&[
        "get",
        "--raw",
        "/openapi/v3/apis/metrics.smi-spec.io/v1alpha1",
    ])?;
    anyhow::ensure!(v3.contains("TrafficMetrics"), "the v3 document: {v3:.400}");
    within(
        "the aggregated OpenAPI v2 document names TrafficMetrics",
        Duration::from_secs(120),
        || {
            Ok(kubectl(&["get", "--raw", "/openapi/v2"])?
                .contains("io.smi-spec.metrics.v1alpha1.TrafficMetrics"))
        },
    )
    .await?;

    // Deleted while the controller restarts: gone within a minute of the
    // controller being ready again.
    let ns = populated_namespace(&client).await?;
    kubectl(&[
        "-n",
        "weft-system",
        "rollout",
        "restart",
        "deploy/weft-controller",
    ])?;
    kubectl(&["delete", "ns", &ns, "--wait=false"])?;
    kubectl(&[
        "-n",
        "weft-system",
        "rollout",
        "status",
        "deploy/weft-controller",
        "--timeout=180s",
    ])?;
    within(&format!("{ns} gone after the restart"), GONE_WITHIN, || {
        gone(&ns)
    })
    .await
    .with_context(|| why_not_gone(&ns))?;
    kubectl(&["api-resources", "-o", "name"]).context("kubectl api-resources after the restart")?;
    Ok(())
}
