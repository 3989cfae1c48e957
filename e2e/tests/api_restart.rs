//! The mesh keeps serving while the Kubernetes API server restarts, and
//! the controller resyncs once it is back: steady traffic between two
//! meshed pods fails not once across the restart, and a TrafficTarget
//! applied afterwards reaches the proxies (the controller's watches came
//! back on their own).

use serde_json::json;
use weft_e2e::{
    apply, client,
    pods::{
        a_late_grant_takes_effect, app_tcp_route, mesh_namespace, no_request_failed, server_pod,
        service, start_client, still_running, tcp_grant, wait_ready,
    },
    release::{install, run, uninstall},
    repo_root, with_temp_ns,
};

/// Stops the API server and brings it back with the cluster's own script.
fn restart_api_server() -> anyhow::Result<()> {
    let t0 = tokio::time::Instant::now();
    let script = repo_root().join("e2e/cluster/restart");
    run(script.to_str().unwrap_or_default(), &["kube-apiserver"])?;
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
        app_tcp_route(&client, &ns).await?;
        apply(&client, &ns, tcp_grant("client", "client")).await?;
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
        still_running(&client, &ns, "steady", "the restart").await?;

        // Applied after the restart: only a resynced controller passes it on.
        a_late_grant_takes_effect(&client, &ns, "the API server restart").await?;

        no_request_failed(&client, &ns, "steady", "the API server restart").await?;
        Ok(())
    })
    .await;
    uninstall();
    res
}
