//! Rotating the trust anchors under steady traffic, the three steps of
//! docs/identity.md, with a user PKI from `scripts/mesh-pki` and one-minute
//! workload certificates: add the new root beside the old one, switch the
//! issuer to one the new root signed, retire the old root. No pod is
//! restarted and not one request fails; at each step the test waits until
//! every proxy reports (on its admin port, as `weft check` reads it) what
//! the step requires.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use std::{path::Path, time::Duration};
use tokio::time::Instant;
use weft_api::contract::{control_plane as cp, ports};
use weft_cli::check::{cluster::pod_metrics, proxy_trust::ProxyTrust};
use weft_e2e::{
    apply, client, eventually_within,
    pods::{
        app_tcp_route, mesh_namespace, no_request_failed, server_pod, service, start_client,
        still_running, stop_load, tcp_grant, wait_ready,
    },
    release::{install_with_args, run, uninstall},
    repo_root, trust, with_temp_ns,
};

/// Each step: the kubelet refreshes a mount within about a minute, the
/// proxies poll weft-identity every 30 s, certificates renew at 70% of a
/// minute.
const STEP: Duration = Duration::from_secs(180);

/// A root and an issuer from `scripts/mesh-pki`, the issuer valid `days`.
fn mesh_pki(dir: &Path, days: &str) -> anyhow::Result<()> {
    let script = repo_root().join("scripts/mesh-pki");
    let dir = dir.to_str().expect("utf-8 temp dir");
    run(
        script.to_str().expect("utf-8 repo path"),
        &[dir, cp::DEFAULT_TRUST_DOMAIN, "3650", days],
    )?;
    Ok(())
}

/// `helm upgrade` with the issuer in `issuer` and the anchors in `anchors`.
fn install(issuer: &Path, anchors: &Path) -> anyhow::Result<()> {
    let set = |k: &str, f: &str| format!("identity.{k}={}", issuer.join(f).display());
    let anchors = format!("identity.trustAnchorsPEM={}", anchors.display());
    let (cert, key) = (
        set("issuer.certPEM", "issuer.pem"),
        set("issuer.keyPEM", "issuer.key"),
    );
    install_with_args(&[
        "--set-file",
        &cert,
        "--set-file",
        &key,
        "--set-file",
        &anchors,
        "--set",
        "identity.certLifetime=1m",
    ])
}

/// Polls every proxy of `ns` until `done` holds for all of them.
async fn every_proxy(
    client: &kube::Client,
    ns: &str,
    what: &str,
    done: impl Fn(&ProxyTrust) -> bool,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    loop {
        let proxies = trust::proxies(client, ns).await?;
        let lagging: Vec<&String> = proxies
            .iter()
            .filter(|(_, t)| !done(t))
            .map(|(p, _)| p)
            .collect();
        if !proxies.is_empty() && lagging.is_empty() {
            eprintln!("every proxy {what}: after {:?}", t0.elapsed());
            return Ok(());
        }
        anyhow::ensure!(
            t0.elapsed() < STEP,
            "not every proxy {what} after {STEP:?}: {lagging:?} {proxies:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The smallest value of `metric` over every replica of a control-plane
/// `component`, read through the API server's proxy to its admin port;
/// `None` while a replica does not export it.
async fn control_plane_metric(
    client: &kube::Client,
    component: &str,
    metric: &str,
) -> anyhow::Result<Option<f64>> {
    let pods = Api::<Pod>::namespaced(client.clone(), cp::NAMESPACE)
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/component={component}")))
        .await?;
    let mut least: Option<f64> = None;
    for p in pods.items {
        let name = p.metadata.name.unwrap_or_default();
        let text = pod_metrics(client, cp::NAMESPACE, &name, ports::CONTROL_PLANE_ADMIN).await;
        let value = text.ok().and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix(metric)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
        });
        match value {
            Some(v) => least = Some(least.map_or(v, |l: f64| l.min(v))),
            None => return Ok(None),
        }
    }
    Ok(least)
}

/// Polls [`control_plane_metric`] until `done` holds.
async fn control_plane_until(
    client: &kube::Client,
    component: &str,
    metric: &str,
    what: &str,
    done: impl Fn(f64) -> bool,
) -> anyhow::Result<()> {
    eventually_within(what, STEP, Duration::from_secs(2), || async {
        let value = control_plane_metric(client, component, metric).await?;
        Ok(value.is_some_and(&done).then_some(()))
    })
    .await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[tokio::test]
async fn rotating_the_anchors_under_load_fails_no_request() -> anyhow::Result<()> {
    let client = client().await?;
    let dir = std::env::temp_dir().join(format!("weft-e2e-rotation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (old, new) = (dir.join("old"), dir.join("new"));
    // Issuers of different lifetimes, so the switch shows in weft-identity's
    // metrics.
    mesh_pki(&old, "365")?;
    mesh_pki(&new, "200")?;
    let both = dir.join("both.pem");
    std::fs::write(
        &both,
        [
            std::fs::read(old.join("root.pem"))?,
            std::fs::read(new.join("root.pem"))?,
        ]
        .concat(),
    )?;
    let digest =
        |p: &Path| -> anyhow::Result<String> { Ok(weft_tls::anchors_digest(&std::fs::read(p)?)?) };
    let (old_digest, both_digest, new_digest) = (
        digest(&old.join("root.pem"))?,
        digest(&both)?,
        digest(&new.join("root.pem"))?,
    );

    install(&old, &old.join("root.pem"))?;
    let res = with_temp_ns(&client, |client, ns| async move {
        mesh_namespace(&client, &ns, &[], &["server", "client"]).await?;
        for pod in ["server-0", "server-1"] {
            server_pod(
                &client,
                &ns,
                pod,
                "server",
                serde_json::json!({"app": "server"}),
            )
            .await?;
        }
        service(&client, &ns, "server", serde_json::json!({"app": "server"})).await?;
        app_tcp_route(&client, &ns).await?;
        apply(&client, &ns, tcp_grant("client", "client")).await?;
        wait_ready(&client, &ns, &["server-0", "server-1"]).await?;
        // At most 15 minutes at 20/s; stopped once the last step is done.
        start_client(
            &client,
            &ns,
            "steady",
            "client",
            &["load", "http://server/", "18000", "20"],
        )
        .await?;
        wait_ready(&client, &ns, &["steady"]).await?;
        every_proxy(&client, &ns, "starts on the old root", |t| {
            t.anchors_digest.as_deref() == Some(old_digest.as_str()) && t.certificate_verified
        })
        .await?;

        eprintln!("1. add the new root beside the old one");
        install(&old, &both)?;
        every_proxy(&client, &ns, "trusts both roots", |t| {
            t.anchors_digest.as_deref() == Some(both_digest.as_str())
        })
        .await?;

        eprintln!("2. switch the issuer to one the new root signed");
        install(&new, &both)?;
        // The new issuer has 200 days left, the old one 365.
        control_plane_until(
            &client,
            "identity",
            "weft_identity_issuer_remaining_seconds",
            "weft-identity signs with the new issuer",
            |s| s < 300.0 * 86_400.0,
        )
        .await?;
        // A one-minute certificate expiring a minute after the switch was
        // issued after it, by the new issuer: every proxy's, and the
        // controller's (which proxies must verify once the old root goes).
        let switched = unix_now();
        every_proxy(
            &client,
            &ns,
            "holds a certificate from the new issuer",
            |t| t.certificate_expiry.is_some_and(|e| e >= switched + 60),
        )
        .await?;
        control_plane_until(
            &client,
            "controller",
            "weft_controller_certificate_expiry_timestamp_seconds",
            "weft-controller holds a certificate from the new issuer",
            |e| e >= (switched + 60) as f64,
        )
        .await?;

        eprintln!("3. retire the old root");
        install(&new, &new.join("root.pem"))?;
        every_proxy(
            &client,
            &ns,
            "trusts only the new root, with a certificate chaining to it",
            |t| {
                t.anchors_digest.as_deref() == Some(new_digest.as_str())
                    && t.certificate_verified
                    && t.refused.is_empty()
            },
        )
        .await?;
        // New connections after the retirement, under the load still.
        tokio::time::sleep(Duration::from_secs(10)).await;
        still_running(&client, &ns, "steady", "the rotation").await?;
        stop_load(&ns, "steady").await?;
        let r = no_request_failed(&client, &ns, "steady", "the anchor rotation").await?;
        anyhow::ensure!(
            r.ok > 500,
            "too little load to mean anything: {} requests",
            r.ok
        );
        Ok(())
    })
    .await;
    uninstall();
    let _ = std::fs::remove_dir_all(&dir);
    res
}
