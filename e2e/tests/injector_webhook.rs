//! The real kube-apiserver calls weft-injector (run as a host process on the
//! node address) for real pod creates: the stored pod carries the sidecar,
//! skips are recorded on the pod, and a namespace annotated right before a
//! pod create is honoured.

use anyhow::Context as _;
use k8s_openapi::api::{
    admissionregistration::v1::{
        MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, WebhookClientConfig,
    },
    core::v1::{Namespace, Pod},
};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::{
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command},
    time::Duration,
};
use weft_api::contract::{annotations as a, pod as names};
use weft_e2e::{client, eventually, with_temp_ns};

/// The node address of the e2e cluster (see e2e/cluster/README.md): the API
/// server reaches host processes there.
const NODE_IP: [u8; 4] = [198, 18, 0, 1];

struct Injector {
    child: Child,
    dir: PathBuf,
}

impl Drop for Injector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn injector_binary() -> anyhow::Result<PathBuf> {
    // target/<profile>/deps/<test> → target/<profile>/weft-injector
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("weft-injector"))
        .context("target dir")?;
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: `make e2e` builds it first",
        bin.display()
    );
    Ok(bin)
}

/// Starts the injector with a fresh serving certificate; returns it and the
/// CA bundle the webhook configuration must carry.
fn start_injector() -> anyhow::Result<(Injector, SocketAddr, String)> {
    let dir = std::env::temp_dir().join(format!("weft-e2e-injector-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir)?;
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "weft e2e webhook CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let params =
        rcgen::CertificateParams::new(vec![std::net::Ipv4Addr::from(NODE_IP).to_string()])?;
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer)?;
    std::fs::write(dir.join("tls.crt"), cert.pem())?;
    std::fs::write(dir.join("tls.key"), key.serialize_pem())?;
    // Any valid bundle: the injector writes it into each proxy's environment.
    std::fs::write(dir.join("anchors.pem"), ca.pem())?;

    let port = TcpListener::bind(SocketAddr::from((NODE_IP, 0)))
        .context("binding the node address: is the e2e cluster up?")?
        .local_addr()?
        .port();
    let addr = SocketAddr::from((NODE_IP, port));
    let child = Command::new(injector_binary()?)
        .args([
            "--listen-addr",
            &addr.to_string(),
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .arg("--trust-anchors")
        .arg(dir.join("anchors.pem"))
        .args(["--proxy-image", "weft/proxy:e2e"])
        .spawn()?;
    Ok((Injector { child, dir }, addr, ca.pem()))
}

async fn wait_listening(addr: SocketAddr) -> anyhow::Result<()> {
    eventually("injector listening", || async move {
        Ok(tokio::net::TcpStream::connect(addr).await.ok().map(drop))
    })
    .await
}

fn webhook(
    name: &str,
    ns_label: &str,
    addr: SocketAddr,
    ca_pem: &str,
) -> MutatingWebhookConfiguration {
    let mut cfg = MutatingWebhookConfiguration::default();
    cfg.metadata.name = Some(name.into());
    cfg.webhooks = Some(vec![MutatingWebhook {
        name: "inject.weft.io".into(),
        admission_review_versions: vec!["v1".into()],
        side_effects: "None".into(),
        // Fail, not Ignore, so that a webhook the API server cannot call
        // fails this test instead of silently creating an uninjected pod.
        failure_policy: Some("Fail".into()),
        timeout_seconds: Some(5),
        client_config: WebhookClientConfig {
            url: Some(format!("https://{addr}/inject")),
            ca_bundle: Some(k8s_openapi::ByteString(ca_pem.as_bytes().to_vec())),
            ..Default::default()
        },
        namespace_selector: Some(
            serde_json::from_value(json!({"matchLabels": {"weft-e2e": ns_label}})).unwrap(),
        ),
        rules: Some(vec![RuleWithOperations {
            api_groups: Some(vec!["".into()]),
            api_versions: Some(vec!["v1".into()]),
            operations: Some(vec!["CREATE".into()]),
            resources: Some(vec!["pods".into()]),
            scope: Some("Namespaced".into()),
        }]),
        ..Default::default()
    }]);
    cfg
}

fn pod(name: &str, host_network: bool) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"hostNetwork": host_network, "containers": [{"name": "app", "image": "weft/testapp:e2e", "args": ["serve"]}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn the_api_server_stores_injected_pods() -> anyhow::Result<()> {
    let client = client().await?;
    let (_injector, addr, ca_pem) = start_injector()?;
    wait_listening(addr).await?;
    with_temp_ns(&client, |client, ns| async move {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .patch(
                &ns,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"weft-e2e": ns}}})),
            )
            .await?;
        let hooks: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
        let hook_name = format!("{ns}-inject");
        hooks
            .create(
                &PostParams::default(),
                &webhook(&hook_name, &ns, addr, &ca_pem),
            )
            .await?;
        let result = async {
            let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
            // Give the API server a moment to load the new configuration:
            // create a probe pod until the webhook answers for it.
            eventually("webhook active", || {
                let pods = pods.clone();
                async move {
                    let name = format!("probe-{:06x}", rand::random::<u32>() & 0xffffff);
                    // A pod saying `disabled` is recorded as skipped: proof
                    // that the webhook saw it.
                    let mut probe = pod(&name, false);
                    probe.metadata.annotations =
                        Some([(a::INJECT.to_string(), a::INJECT_DISABLED.to_string())].into());
                    let p = pods.create(&PostParams::default(), &probe).await?;
                    let seen = p
                        .metadata
                        .annotations
                        .unwrap_or_default()
                        .contains_key(a::INJECT_STATUS);
                    Ok(seen.then_some(()))
                }
            })
            .await?;

            // Annotate the namespace and create a pod right away.
            namespaces
                .patch(
                    &ns,
                    &PatchParams::default(),
                    &Patch::Merge(
                        json!({"metadata": {"annotations": {a::INJECT: a::INJECT_ENABLED}}}),
                    ),
                )
                .await?;
            let created = pods
                .create(&PostParams::default(), &pod("web", false))
                .await?;
            let stored = pods.get("web").await?;
            for p in [&created, &stored] {
                let inits: Vec<(String, Option<String>)> = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.init_containers.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| (c.name, c.restart_policy))
                    .collect();
                assert_eq!(
                    inits,
                    vec![
                        (names::INIT_CONTAINER.to_string(), None),
                        (
                            names::PROXY_CONTAINER.to_string(),
                            Some("Always".to_string())
                        )
                    ],
                    "the stored pod carries weft-init and the native sidecar"
                );
                assert_eq!(
                    p.metadata.annotations.as_ref().unwrap()[a::INJECT_STATUS],
                    "injected"
                );
            }

            let skipped = pods
                .create(&PostParams::default(), &pod("on-host", true))
                .await?;
            let status = skipped.metadata.annotations.unwrap_or_default()[a::INJECT_STATUS].clone();
            assert!(
                status.starts_with("skipped:") && status.contains("host network"),
                "{status}"
            );
            assert!(
                skipped
                    .spec
                    .unwrap()
                    .init_containers
                    .unwrap_or_default()
                    .is_empty()
            );
            anyhow::Ok(())
        }
        .await;
        hooks.delete(&hook_name, &DeleteParams::default()).await?;
        result
    })
    .await?;
    // Give the injector's logs a moment to flush before it is killed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}
