//! A principal that may write ConfigMaps in a meshed namespace (and holds
//! nothing in `weft-system`) cannot change whom that namespace's proxies
//! trust: while it keeps writing its own CA into a `weft-trust-anchors`
//! ConfigMap (the name proxies once mounted), a pod started before and pods
//! started during the writes still talk mTLS, and no injected pod refers
//! to any ConfigMap of the namespace.

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::json;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};
use weft_e2e::{
    apply, client,
    pods::{mesh_namespace, run_to_end, server_pod, service, wait_ready},
    release::{install, run},
    with_temp_ns,
};
use weft_tls::test_util::TestCa;

fn kubectl(args: &[&str]) -> anyhow::Result<String> {
    run("kubectl", args)
}

#[tokio::test]
async fn a_configmap_writer_cannot_change_whom_proxies_trust() -> anyhow::Result<()> {
    let client = client().await?;
    install()?;
    with_temp_ns(&client, |client, ns| async move {
        mesh_namespace(&client, &ns, &[], &["server", "client", "cm-writer"]).await?;
        apply(&client, &ns, json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "configmaps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]
        }))
        .await?;
        apply(&client, &ns, json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "cm-writer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
            "subjects": [{"kind": "ServiceAccount", "name": "cm-writer", "namespace": ns}]
        }))
        .await?;
        let writer = format!("system:serviceaccount:{ns}:cm-writer");
        let can = |verb: &str, what: &str, in_ns: &str| {
            run("kubectl", &["auth", "can-i", verb, what, "-n", in_ns, "--as", &writer])
                .map(|o| o.trim() == "yes")
                .unwrap_or(false)
        };
        anyhow::ensure!(can("update", "configmaps", &ns), "the writer cannot write ConfigMaps");
        anyhow::ensure!(
            !can("update", "configmaps", "weft-system"),
            "the writer holds ConfigMap rights in weft-system"
        );

        server_pod(&client, &ns, "before", "server", json!({"app": "server"})).await?;
        service(&client, &ns, "server", json!({"app": "server"})).await?;
        wait_ready(&client, &ns, &["before"]).await?;

        // The attacker writes its own CA, again and again, as that principal.
        let foreign = TestCa::new().root_pem();
        let manifest = std::env::temp_dir().join(format!("weft-e2e-{ns}-anchors.yaml"));
        std::fs::write(
            &manifest,
            serde_json::to_string(&json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "weft-trust-anchors", "namespace": ns},
                "data": {"ca-bundle.pem": foreign}
            }))?,
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicU32::new(0));
        let attacker = {
            let (stop, writes, manifest, writer) =
                (stop.clone(), writes.clone(), manifest.clone(), writer.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let path = manifest.to_str().unwrap_or_default();
                    if run("kubectl", &["apply", "-f", path, "--as", &writer]).is_ok() {
                        writes.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            })
        };
        let outcome = async {
            // Longer than a proxy once took to re-read its mounted bundle.
            tokio::time::sleep(Duration::from_secs(15)).await;
            server_pod(&client, &ns, "during", "server", json!({"app": "server"})).await?;
            wait_ready(&client, &ns, &["during"]).await?;
            for (i, target) in ["before", "during", "server"].iter().enumerate() {
                let url = match *target {
                    "server" => "http://server/".to_string(),
                    pod => {
                        let ip = Api::<Pod>::namespaced(client.clone(), &ns)
                            .get(pod)
                            .await?
                            .status
                            .and_then(|s| s.pod_ip)
                            .context("pod IP")?;
                        format!("http://{ip}:8080/")
                    }
                };
                let (phase, log) =
                    run_to_end(&client, &ns, &format!("client-{i}"), "client", &["get", &url]).await?;
                anyhow::ensure!(phase == "Succeeded", "GET {url} ({target}) failed: {log}");
            }
            anyhow::Ok(())
        }
        .await;
        stop.store(true, Ordering::Relaxed);
        let _ = attacker.join();
        let _ = std::fs::remove_file(&manifest);
        outcome?;
        let n = writes.load(Ordering::Relaxed);
        anyhow::ensure!(n >= 10, "the attacker managed only {n} writes");
        eprintln!("{n} writes of a foreign CA changed nothing");

        // No injected pod mounts or names a ConfigMap of the namespace.
        let pods = kubectl(&["-n", &ns, "get", "pods", "-o", "json"])?;
        anyhow::ensure!(
            !pods.contains("weft-trust-anchors"),
            "an injected pod refers to the namespace's weft-trust-anchors ConfigMap"
        );
        Ok(())
    })
    .await
}
