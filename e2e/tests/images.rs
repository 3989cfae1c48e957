//! weft's images, built without a registry by `make images`, run on the
//! real kubelet and containerd: each binary starts and finds every library
//! it loads.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams, PostParams};
use serde_json::json;
use std::time::Duration;
use weft_e2e::{client, with_temp_ns};

/// Starting a container is slower than an API round trip; still bounded.
const POD_START: Duration = Duration::from_secs(60);

async fn run_to_completion(
    pods: &Api<Pod>,
    name: &str,
    image: &str,
    args: &[&str],
) -> anyhow::Result<String> {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": image, "imagePullPolicy": "Never", "args": args}]}
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    let t0 = tokio::time::Instant::now();
    loop {
        let phase = pods
            .get(name)
            .await?
            .status
            .and_then(|s| s.phase)
            .unwrap_or_default();
        match phase.as_str() {
            "Succeeded" => break,
            "Failed" => anyhow::bail!(
                "{image} failed: {}",
                pods.logs(name, &LogParams::default()).await?
            ),
            _ if t0.elapsed() > POD_START => anyhow::bail!(
                "{image}: still {phase:?} after {POD_START:?} (did `make images` run?)"
            ),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    eprintln!("{image}: completed after {:?}", t0.elapsed());
    Ok(pods.logs(name, &LogParams::default()).await?)
}

#[tokio::test]
async fn the_injector_image_runs() -> anyhow::Result<()> {
    let client = client().await?;
    with_temp_ns(&client, |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let out =
            run_to_completion(&pods, "injector-help", "weft/injector:dev", &["--help"]).await?;
        assert!(out.contains("--tls-cert"), "{out}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_identity_image_runs() -> anyhow::Result<()> {
    let client = client().await?;
    with_temp_ns(&client, |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let out =
            run_to_completion(&pods, "identity-help", "weft/identity:dev", &["--help"]).await?;
        assert!(out.contains("--generate-evaluation-pki"), "{out}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_controller_image_runs() -> anyhow::Result<()> {
    let client = client().await?;
    with_temp_ns(&client, |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let out =
            run_to_completion(&pods, "controller-help", "weft/controller:dev", &["--help"]).await?;
        assert!(out.contains("--cluster-networks"), "{out}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_proxy_image_runs() -> anyhow::Result<()> {
    let client = client().await?;
    with_temp_ns(&client, |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let out = run_to_completion(&pods, "proxy-help", "weft/proxy:dev", &["--help"]).await?;
        assert!(out.contains("weft-init"), "{out}");
        // The iptables tools `weft-proxy init` runs: e2e/tests/proxy_init.rs.
        Ok(())
    })
    .await
}
