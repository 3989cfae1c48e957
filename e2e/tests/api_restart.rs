//! The mesh keeps serving while the Kubernetes API server restarts, and
//! the controller resyncs once it is back: steady traffic between two
//! meshed pods fails not once across the restart, and a TrafficTarget
//! applied afterwards reaches the proxies (the controller's watches came
//! back on their own).

use serde_json::json;
use std::process::{Command, Stdio};
use weft_e2e::{
    apply, client,
    pods::{
        LoadReport, mesh_namespace, run_to_end, server_pod, service, start_client, wait_ended,
        wait_ready,
    },
    release::{install, uninstall},
    repo_root, with_temp_ns,
};

fn grant(name: &str, source: &str) -> serde_json::Value {
    json!({
        "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
        "metadata": {"name": name},
        "spec": {"destination": {"kind": "ServiceAccount", "name": "server"},
                 "sources": [{"kind": "ServiceAccount", "name": source}],
                 "rules": [{"kind": "TCPRoute", "name": "app"}]}
    })
}

/// Stops the API server and brings it back with the cluster's own script.
fn restart_api_server() -> anyhow::Result<()> {
    let t0 = tokio::time::Instant::now();
    let out = Command::new(repo_root().join("e2e/cluster/restart"))
        .arg("kube-apiserver")
        .stdin(Stdio::null())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "e2e/cluster/restart kube-apiserver: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("kube-apiserver stopped and back in {:?}", t0.elapsed());
    Ok(())
}

#[tokio::test]
async fn an_api_server_restart_fails_no_request_and_the_controller_resyncs() -> anyhow::Result<()> {
    let client = client().await?;
    install()?;
    let res = with_temp_ns(&client, |client, ns| async move {
        mesh_namespace(&client, &ns, &[], &["server", "client", "late"]).await?;
        server_pod(&client, &ns, "server-0", "server", json!({"app": "server"})).await?;
        service(&client, &ns, "server", json!({"app": "server"})).await?;
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
                "metadata": {"name": "app"}, "spec": {"matches": {"ports": [8080]}}
            }),
        )
        .await?;
        apply(&client, &ns, grant("client", "client")).await?;
        wait_ready(&client, &ns, &["server-0"]).await?;
        start_client(
            &client,
            &ns,
            "steady",
            "client",
            &["load", "http://server/", "900", "20"],
        )
        .await?;
        wait_ready(&client, &ns, &["steady"]).await?;

        restart_api_server()?;
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(client.clone(), &ns);
        let phase = pods
            .get("steady")
            .await?
            .status
            .and_then(|s| s.phase)
            .unwrap_or_default();
        anyhow::ensure!(
            phase == "Running",
            "the steady load ended ({phase}) before the restart did: lengthen it"
        );

        // Applied after the restart: only a resynced controller passes it on.
        apply(&client, &ns, grant("late", "late")).await?;
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let (phase, log) =
            run_to_end(&client, &ns, "late", "late", &["get", "http://server/"]).await?;
        assert_eq!(
            phase, "Succeeded",
            "a grant applied after the restart did not take effect: {log}"
        );

        let (phase, log) = wait_ended(&client, &ns, "steady").await?;
        assert_eq!(phase, "Succeeded", "{log}");
        let r = LoadReport::parse(&log)?;
        assert_eq!(
            r.failed, 0,
            "requests failed across the API server restart: {:?}",
            r.errors
        );
        Ok(())
    })
    .await;
    uninstall();
    res
}
