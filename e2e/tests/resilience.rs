//! The mesh keeps serving while its control plane restarts: with steady
//! traffic between two meshed workloads, every control-plane pod
//! (controller, identity, injector) is deleted and replaced, and not one
//! request fails; meanwhile a source no TrafficTarget names keeps trying
//! and is never let through, not even while the controller is away and
//! comes back (a restarted controller answers nothing before it has read
//! every TrafficTarget). Certificates live one minute here, so every proxy
//! also renews its certificate under that load.

use serde_json::json;
use weft_e2e::{
    apply, client,
    pods::{
        LoadReport, app_tcp_route, mesh_namespace, server_pod, service, start_client,
        still_running, tcp_grant, wait_ended, wait_ready,
    },
    release::{install_with, run, uninstall},
    with_temp_ns,
};

/// Paced requests: long enough to span every restart below.
const REQUESTS: &str = "1500";
const RATE: &str = "25";

#[tokio::test]
async fn control_plane_restarts_fail_no_request_and_allow_no_intruder() -> anyhow::Result<()> {
    let client = client().await?;
    // The shortest lifetime allowed: proxies renew every 20-40 s.
    install_with(&["identity.certLifetime=1m"])?;
    let res = with_temp_ns(&client, |client, ns| async move {
        mesh_namespace(&client, &ns, &[], &["server", "client", "intruder"]).await?;
        for pod in ["server-0", "server-1"] {
            server_pod(&client, &ns, pod, "server", json!({"app": "server"})).await?;
        }
        service(&client, &ns, "server", json!({"app": "server"})).await?;
        app_tcp_route(&client, &ns).await?;
        apply(&client, &ns, tcp_grant("client-to-server", "client")).await?;
        wait_ready(&client, &ns, &["server-0", "server-1"]).await?;

        start_client(
            &client,
            &ns,
            "steady",
            "client",
            &["load", "http://server/", REQUESTS, RATE],
        )
        .await?;
        start_client(
            &client,
            &ns,
            "intruder",
            "intruder",
            &["load", "http://server/", "300", "7"],
        )
        .await?;
        wait_ready(&client, &ns, &["steady", "intruder"]).await?;
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;

        for component in ["weft-controller", "weft-identity", "weft-injector"] {
            let t0 = tokio::time::Instant::now();
            run(
                "kubectl",
                &[
                    "-n",
                    "weft-system",
                    "delete",
                    "pod",
                    "--wait=true",
                    "-l",
                    &format!("app.kubernetes.io/name={component}"),
                ],
            )?;
            run(
                "kubectl",
                &[
                    "-n",
                    "weft-system",
                    "rollout",
                    "status",
                    &format!("deploy/{component}"),
                    "--timeout=120s",
                ],
            )?;
            eprintln!(
                "{component}: deleted and replaced, Ready again after {:?}",
                t0.elapsed()
            );
            // Traffic between restarts, so each one is crossed on its own.
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        }

        // Proof the load spanned every restart: it is still going.
        still_running(&client, &ns, "steady", "the last restart").await?;

        let (phase, log) = wait_ended(&client, &ns, "steady").await?;
        assert_eq!(phase, "Succeeded", "{log}");
        let steady = LoadReport::parse(&log)?;
        let (_, log) = wait_ended(&client, &ns, "intruder").await?;
        let intruder = LoadReport::parse(&log)?;
        assert_eq!(
            steady.failed, 0,
            "requests failed while the control plane restarted: {:?}",
            steady.errors
        );
        assert!(
            steady.from.len() == 2,
            "both servers answered: {:?}",
            steady.from
        );
        assert_eq!(
            intruder.ok, 0,
            "a source no TrafficTarget names got {} answers: {:?}",
            intruder.ok, intruder.from
        );
        assert!(
            intruder
                .errors
                .iter()
                .all(|e| e.contains("403") && e.contains("no-traffic-target")),
            "the intruder was refused for another reason: {:?}",
            intruder.errors
        );
        let renewals = certificates_issued(&client, &ns, "server-0").await?;
        assert!(
            renewals >= 2,
            "server-0's proxy never renewed its certificate ({renewals} issued)"
        );
        Ok(())
    })
    .await;
    uninstall();
    res
}

/// How many certificates `pod`'s proxy has been issued (its log says so
/// at each one).
async fn certificates_issued(client: &kube::Client, ns: &str, pod: &str) -> anyhow::Result<usize> {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), ns);
    let lp = kube::api::LogParams {
        container: Some("weft-proxy".into()),
        ..Default::default()
    };
    let log = pods.logs(pod, &lp).await?;
    let n = log.matches("certificate issued").count();
    eprintln!("{pod}: its proxy was issued {n} certificates");
    Ok(n)
}
