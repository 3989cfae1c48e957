//! `helm uninstall`, then installing again, while meshed pods keep running
//! under steady traffic: the generated mesh PKI survives the uninstall, so
//! not one request fails, the running proxies reconnect to the new control
//! plane (a grant made afterwards reaches them) and a pod created afterwards
//! talks to them.
//!
//! `weft check` reads each proxy's trust and passes; then, with the PKI
//! generated afresh, the running proxies trust neither the new control plane
//! nor new pods until they are re-created (docs/install.md, "Reinstalling", states that
//! gap), and `weft check` names them.

use serde_json::json;
use weft_cli::check::{Line, Status, cluster::post, render};
use weft_e2e::{
    apply, client,
    pods::{
        a_late_grant_takes_effect, app_tcp_route, mesh_namespace, no_request_failed, server_pod,
        service, start_client, still_running, tcp_grant, wait_ready,
    },
    release::{generated_pki, install, run, uninstall},
    with_temp_ns,
};

#[tokio::test]
async fn reinstalling_under_load_keeps_the_mesh() -> anyhow::Result<()> {
    let client = client().await?;
    install()?;
    let res = with_temp_ns(&client, |client, ns| async move {
        mesh_namespace(&client, &ns, &[], &["server", "client", "late"]).await?;
        for pod in ["server-0", "server-1"] {
            server_pod(&client, &ns, pod, "server", json!({"app": "server"})).await?;
        }
        service(&client, &ns, "server", json!({"app": "server"})).await?;
        app_tcp_route(&client, &ns).await?;
        apply(&client, &ns, tcp_grant("client", "client")).await?;
        wait_ready(&client, &ns, &["server-0", "server-1"]).await?;
        let before = generated_pki(&client).await?;

        // 2 minutes at 20/s: longer than an uninstall and an install.
        start_client(
            &client,
            &ns,
            "steady",
            "client",
            &["load", "http://server/", "2400", "20"],
        )
        .await?;
        wait_ready(&client, &ns, &["steady"]).await?;

        let t0 = tokio::time::Instant::now();
        run(
            "helm",
            &["uninstall", "weft", "-n", "weft-system", "--wait"],
        )?;
        eprintln!("uninstalled in {:?}", t0.elapsed());
        let kept = generated_pki(&client).await?;
        assert!(kept == before, "helm uninstall changed the generated PKI");
        let t1 = tokio::time::Instant::now();
        install()?;
        eprintln!(
            "installed again, control plane Ready, in {:?}",
            t1.elapsed()
        );
        still_running(&client, &ns, "steady", "the reinstall").await?;
        assert!(
            generated_pki(&client).await? == before,
            "the reinstall generated a new PKI"
        );

        // The old proxies are connected to the new controller: they take a
        // grant made now, for a pod certified by the new weft-identity.
        a_late_grant_takes_effect(&client, &ns, "the reinstall").await?;

        no_request_failed(&client, &ns, "steady", "the reinstall").await?;
        let lines = check(&client).await;
        for name in ["proxies' trust", "proxies' control plane"] {
            let line = lines.iter().find(|l| l.check == name);
            assert!(
                line.is_some_and(|l| l.status == Status::Pass),
                "after a reinstall keeping the PKI: {line:?}"
            );
        }

        // Now the case the check exists for: the generated PKI thrown away
        // with the release. Every pod meshed before is ready and serving,
        // yet trusts the old root; `weft check` must name them.
        uninstall();
        run(
            "kubectl",
            &[
                "-n",
                "weft-system",
                "delete",
                "secret/weft-identity-issuer",
                "configmap/weft-mesh-trust-anchors",
            ],
        )?;
        install()?;
        assert!(generated_pki(&client).await? != before, "a fresh PKI");
        let lines = check(&client).await;
        let trust = lines
            .iter()
            .find(|l| l.check == "proxies' trust")
            .expect("a proxies' trust line");
        assert_eq!(trust.status, Status::Fail, "{trust:?}");
        assert!(
            trust.detail.contains(&format!("{ns}/server-0")),
            "names the stale pods: {trust:?}"
        );
        Ok(())
    })
    .await;
    uninstall();
    res
}

async fn check(client: &kube::Client) -> Vec<Line> {
    let lines = post(client, "weft-system").await;
    eprint!("weft check:\n{}", render(&lines));
    lines
}
