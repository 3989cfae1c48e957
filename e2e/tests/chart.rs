//! The Helm chart `charts/weft` on the real cluster: `helm lint` is clean, the
//! rendered chart passes a server-side dry-run, and `helm upgrade --install`
//! brings up a control plane that becomes Ready — identity serving, the
//! controller synced and holding a certificate it obtained from identity
//! through Certify (the control plane's mTLS wiring end to end), the injector
//! serving — whose real webhook injects an annotated namespace's pod and
//! whose proxies start with the chart's trust anchors. A second upgrade keeps
//! the generated PKI and the CAs of the webhook and the metrics API (each
//! the caBundle its API server registration trusts); a forced rotation
//! re-signs only the serving certificate asked for.
//!
//! Every test touching the shared `weft-system` release holds [`RELEASE`];
//! the release is uninstalled at the end so other suites start clean.

use anyhow::Context as _;
use k8s_openapi::{
    ByteString,
    api::{
        admissionregistration::v1::MutatingWebhookConfiguration,
        apps::v1::Deployment,
        core::v1::{ConfigMap, Namespace, Pod, Secret, ServiceAccount},
    },
    kube_aggregator::pkg::apis::apiregistration::v1::APIService,
};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};
use tokio::time::Instant;
use weft_api::contract::{annotations as a, control_plane as cp, pod as names};
use weft_e2e::{client, eventually, repo_root, with_temp_ns};

const RELEASE_NAME: &str = "weft";
const NS: &str = cp::NAMESPACE;
/// Pulling nothing (images are in containerd), starting three pods and the
/// controller's first Certify: seconds; bounded generously for a loaded CI box.
const READY: Duration = Duration::from_secs(180);
/// The e2e cluster's pod and Service CIDRs (e2e/cluster/README.md).
/// The e2e cluster's pod and Service networks (e2e/cluster/lib.sh).
const CLUSTER_NETWORKS: [&str; 2] = ["198.18.128.0/20", "198.19.0.0/20"];

/// Serialises the tests that use the `weft-system` release.
static RELEASE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A cluster binary (`helm`, `kubectl`): on PATH (`eval "$(e2e/cluster/env)"`,
/// as `make e2e` does), else where `e2e/cluster/build` puts it.
fn tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    });
    on_path.unwrap_or_else(|| {
        let cache = std::env::var_os("WEFT_CACHE").map_or_else(
            || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/weft"),
            PathBuf::from,
        );
        std::env::var_os("WEFT_CLUSTER_BIN")
            .map_or_else(|| cache.join("cluster/bin"), PathBuf::from)
            .join(name)
    })
}

fn chart() -> PathBuf {
    repo_root().join("charts/weft")
}

/// Runs `cmd` (with `stdin`), fails with its output unless it succeeds;
/// returns stdout.
fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> anyhow::Result<String> {
    use std::io::Write as _;
    let what = format!("{cmd:?}");
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what} (is the e2e cluster's env loaded?)"))?;
    if let Some(input) = stdin {
        child.stdin.take().context("stdin")?.write_all(input)?;
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    eprintln!("{what}: done in {:?}", t0.elapsed());
    Ok(stdout)
}

fn helm() -> Command {
    Command::new(tool("helm"))
}

/// `helm upgrade --install` with the e2e cluster's networks and `extra` sets.
fn install(extra: &[&str]) -> anyhow::Result<String> {
    run(
        helm()
            .args(["upgrade", "--install", RELEASE_NAME])
            .arg(chart())
            .args(["-n", NS, "--create-namespace", "--timeout", "120s"])
            // Each call installs exactly the values it names: without any,
            // `helm upgrade` would reuse the previous call's.
            .arg("--reset-values")
            .args(extra.iter().flat_map(|s| ["--set", s])),
        None,
    )
}

#[test]
fn helm_lint_is_clean() -> anyhow::Result<()> {
    let out = run(helm().args(["lint", "--strict"]).arg(chart()), None)?;
    assert!(out.contains("0 chart(s) failed"), "{out}");
    Ok(())
}

#[tokio::test]
async fn the_rendered_chart_passes_a_server_side_dry_run() -> anyhow::Result<()> {
    let client = client().await?;
    let _release = RELEASE.lock().await;
    // Namespaced objects need their namespace to exist, even in a dry-run.
    let nss: Api<Namespace> = Api::all(client.clone());
    if nss.get_opt(NS).await?.is_none() {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
        nss.create(&PostParams::default(), &ns).await?;
    }
    let rendered = run(
        helm()
            .args(["template", RELEASE_NAME])
            .arg(chart())
            .args(["-n", NS, "--include-crds"]),
        None,
    )?;
    let out = run(
        Command::new(tool("kubectl")).args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "--field-manager=weft-e2e-dry-run",
            "-f",
            "-",
        ]),
        Some(rendered.as_bytes()),
    )?;
    for kind in [
        "deployment.apps/weft-identity",
        "deployment.apps/weft-controller",
        "deployment.apps/weft-injector",
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/weft-injector",
        "clusterrole.rbac.authorization.k8s.io/weft-controller",
        "customresourcedefinition.apiextensions.k8s.io/traffictargets.access.smi-spec.io",
    ] {
        assert!(
            out.contains(kind),
            "{kind} missing from the dry-run:\n{out}"
        );
    }
    eprintln!(
        "{} objects passed the server-side dry-run",
        out.lines().count()
    );
    Ok(())
}

/// Creates `weft-system` if needed and enforces Pod Security `restricted`
/// on it, so the API server itself proves the chart's pods comply.
async fn ensure_namespace(client: &kube::Client) -> anyhow::Result<()> {
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.patch(
        NS,
        &PatchParams::apply("weft-e2e-chart"),
        &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NS, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"}}
        })),
    )
    .await
    .context("creating/labelling weft-system")?;
    Ok(())
}

/// Other suites and benchmarks (bench/examples/controller_scale.rs) create bare
/// ServiceAccounts in `weft-system`; Helm refuses to adopt them. Delete the
/// ones Helm does not manage, saying so.
async fn remove_unmanaged_leftovers(client: &kube::Client) -> anyhow::Result<()> {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
    for sa in [
        cp::IDENTITY_SERVICE_ACCOUNT,
        cp::CONTROLLER_SERVICE_ACCOUNT,
        cp::INJECTOR_SERVICE_ACCOUNT,
    ] {
        if let Some(found) = sas.get_opt(sa).await? {
            let managed = found
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/managed-by"))
                .is_some_and(|m| m == "Helm");
            if !managed {
                eprintln!("deleting leftover ServiceAccount {NS}/{sa} not managed by Helm");
                sas.delete(sa, &DeleteParams::default()).await?;
            }
        }
    }
    Ok(())
}

/// Waits until every control-plane Deployment has all its replicas Ready
/// (their readiness probes are `/ready` on the admin port), logging when
/// each got there.
async fn wait_ready(client: &kube::Client) -> anyhow::Result<()> {
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let t0 = Instant::now();
    let mut pending: Vec<&str> = vec!["weft-identity", "weft-controller", "weft-injector"];
    while !pending.is_empty() {
        let mut still = Vec::new();
        for name in pending {
            let d = deploys.get(name).await?;
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let st = d.status.unwrap_or_default();
            let current = st.observed_generation == d.metadata.generation
                && st.updated_replicas.unwrap_or(0) == want
                && st.ready_replicas.unwrap_or(0) == want
                && st.replicas.unwrap_or(0) == want;
            if current {
                eprintln!("{name}: Ready after {:?}", t0.elapsed());
            } else {
                still.push(name);
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if t0.elapsed() > READY {
            let diag = diagnostics();
            anyhow::bail!("{pending:?} not Ready within {READY:?}\n{diag}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// What a failed wait prints: pods, events and the components' logs.
fn diagnostics() -> String {
    let kubectl = |args: &[&str]| {
        Command::new(tool("kubectl"))
            .args(["-n", NS])
            .args(args)
            .output()
            .map(|o| {
                format!(
                    "$ kubectl {}\n{}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_else(|e| format!("kubectl: {e}"))
    };
    let mut out = kubectl(&["get", "deploy,rs,pods", "-o", "wide"]);
    out += &kubectl(&["get", "events", "--sort-by=.lastTimestamp"]);
    for d in ["weft-identity", "weft-controller", "weft-injector"] {
        out += &kubectl(&["logs", &format!("deploy/{d}"), "--tail=30"]);
    }
    out
}

fn secret_key(s: &Secret, key: &str) -> Vec<u8> {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .unwrap_or_default()
}

/// What must survive an upgrade unchanged.
#[derive(Debug, PartialEq, Eq)]
struct Pki {
    issuer_cert: Vec<u8>,
    issuer_key: Vec<u8>,
    anchors: String,
    webhook_ca: Vec<u8>,
    webhook_cert: Vec<u8>,
    ca_bundle: Vec<u8>,
    /// The metrics API's serving certificate, its CA and the APIService's
    /// caBundle: the same mechanism as the webhook's.
    metrics_api_ca: Vec<u8>,
    metrics_api_cert: Vec<u8>,
    metrics_api_ca_bundle: Vec<u8>,
}

async fn pki(client: &kube::Client) -> anyhow::Result<Pki> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let issuer = secrets.get("weft-identity-issuer").await?;
    let webhook = secrets.get("weft-injector-tls").await?;
    let metrics_api = secrets.get("weft-metrics-api-tls").await?;
    let anchors = cms
        .get("weft-mesh-trust-anchors")
        .await?
        .data
        .and_then(|d| d.get(names::TRUST_ANCHORS_KEY).cloned())
        .unwrap_or_default();
    let cfg = Api::<MutatingWebhookConfiguration>::all(client.clone())
        .get("weft-injector")
        .await?;
    let ca_bundle = cfg
        .webhooks
        .unwrap_or_default()
        .into_iter()
        .next()
        .and_then(|w| w.client_config.ca_bundle)
        .map(|ByteString(b)| b)
        .unwrap_or_default();
    let metrics_api_ca_bundle = Api::<APIService>::all(client.clone())
        .get("v1alpha1.metrics.smi-spec.io")
        .await?
        .spec
        .and_then(|s| s.ca_bundle)
        .map(|ByteString(b)| b)
        .unwrap_or_default();
    let p = Pki {
        issuer_cert: secret_key(&issuer, "tls.crt"),
        issuer_key: secret_key(&issuer, "tls.key"),
        anchors,
        webhook_ca: secret_key(&webhook, "ca.crt"),
        webhook_cert: secret_key(&webhook, "tls.crt"),
        ca_bundle,
        metrics_api_ca: secret_key(&metrics_api, "ca.crt"),
        metrics_api_cert: secret_key(&metrics_api, "tls.crt"),
        metrics_api_ca_bundle,
    };
    anyhow::ensure!(
        !p.issuer_cert.is_empty()
            && !p.anchors.is_empty()
            && !p.webhook_cert.is_empty()
            && !p.metrics_api_cert.is_empty(),
        "incomplete PKI: {p:?}"
    );
    Ok(p)
}

/// Creates a pod in `ns` and returns it as stored (after admission).
async fn create_pod(client: &kube::Client, ns: &str, name: &str) -> anyhow::Result<Pod> {
    admit_pod(client, ns, name, &PostParams::default()).await
}

/// Sends a pod through admission with `pp` (a dry run stores nothing).
async fn admit_pod(
    client: &kube::Client,
    ns: &str,
    name: &str,
    pp: &PostParams,
) -> anyhow::Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "weft/testapp:e2e",
            "imagePullPolicy": "Never", "args": ["serve"]}]}
    }))?;
    Ok(pods.create(pp, &pod).await?)
}

fn injected(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.name == names::PROXY_CONTAINER))
}

async fn injection_and_anchors(client: &kube::Client, anchors: &str) -> anyhow::Result<()> {
    with_temp_ns(client, |client, ns| async move {
        let nss: Api<Namespace> = Api::all(client.clone());
        nss.patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {a::INJECT: a::INJECT_ENABLED}}})),
        )
        .await?;
        let t0 = Instant::now();
        let pod = create_pod(&client, &ns, "meshed").await?;
        eprintln!(
            "pod admitted through the chart's webhook in {:?}",
            t0.elapsed()
        );
        let status = pod
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .get(a::INJECT_STATUS)
            .cloned();
        assert!(
            injected(&pod),
            "the chart's webhook did not inject {ns}/meshed (status {status:?}): {:?}",
            pod.spec
        );
        // The proxy starts with the chart's anchors, from its own spec.
        let proxy_env = pod
            .spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten())
            .find(|c| c.name == names::PROXY_CONTAINER)
            .and_then(|c| c.env.clone())
            .unwrap_or_default();
        let started_with = proxy_env
            .iter()
            .find(|e| e.name == weft_api::contract::env::TRUST_ANCHORS)
            .and_then(|e| e.value.clone())
            .unwrap_or_default();
        assert_eq!(
            started_with.trim(),
            anchors.trim(),
            "the injector wrote other anchors than the chart's"
        );

        // Excluded: a namespace labelled weft.io/webhook=disabled is never
        // sent to the webhook, even when annotated.
        nss.patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {a::WEBHOOK_OPT_OUT_LABEL: "disabled"}}})),
        )
        .await?;
        // The API server matches namespaceSelector against its namespace
        // cache, which sees the new label a moment later: dry runs until it
        // does, then a real pod must stay uninjected.
        let dry = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        eventually("the webhook skips the opted-out namespace", || {
            let (client, ns, dry) = (client.clone(), ns.clone(), dry.clone());
            async move {
                let pod = admit_pod(&client, &ns, "opted-out", &dry).await?;
                Ok((!injected(&pod)).then_some(()))
            }
        })
        .await?;
        let pod = create_pod(&client, &ns, "opted-out").await?;
        assert!(
            !injected(&pod),
            "a pod of an opted-out namespace was injected"
        );
        Ok(())
    })
    .await
}

async fn uninstall(client: &kube::Client) {
    if let Err(e) = run(
        helm().args([
            "uninstall",
            RELEASE_NAME,
            "-n",
            NS,
            "--wait",
            "--timeout",
            "120s",
        ]),
        None,
    ) {
        eprintln!("helm uninstall failed: {e:#}");
    }
    // Leave weft-system as other suites expect it: present, unlabelled.
    let nss: Api<Namespace> = Api::all(client.clone());
    if let Err(e) = nss
        .patch(
            NS,
            &PatchParams::apply("weft-e2e-chart"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": NS}})),
        )
        .await
    {
        eprintln!("could not unlabel {NS}: {e}");
    }
}

#[tokio::test]
async fn the_chart_installs_a_ready_control_plane_that_injects_and_upgrades_keep_its_pki()
-> anyhow::Result<()> {
    let client = client().await?;
    let _release = RELEASE.lock().await;
    ensure_namespace(&client).await?;
    remove_unmanaged_leftovers(&client).await?;
    let res = install_and_prove(&client).await;
    uninstall(&client).await;
    res
}

async fn install_and_prove(client: &kube::Client) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let notes = install(&[])?;
    assert!(
        notes.contains("EVALUATION PKI"),
        "NOTES.txt must warn about the generated PKI:\n{notes}"
    );
    wait_ready(client).await?;
    eprintln!(
        "control plane Ready {:?} after `helm upgrade --install` began",
        t0.elapsed()
    );

    // The controller's readiness (its probe is /ready) waits for the initial
    // sync AND a certificate obtained from weft-identity through Certify over
    // TLS, verified against the chart's anchors: Ready proves that wiring.

    // `weft check` agrees: the control plane, the webhook and every
    // certificate pass on a fresh install.
    let lines = weft_cli::check::cluster::post(client, "weft-system").await;
    eprint!("weft check:\n{}", weft_cli::check::render(&lines));
    for l in &lines {
        if ["control plane", "webhook", "certificate"].contains(&l.check.as_str()) {
            assert_eq!(l.status, weft_cli::check::Status::Pass, "{l:?}");
        }
    }
    // The chart sets no networks: the controller reads them from the
    // cluster (the node's podCIDRs, the ServiceCIDR), and so does the check.
    let networks = lines
        .iter()
        .find(|l| l.check == "cluster networks")
        .expect("a cluster networks line");
    assert_eq!(
        networks.status,
        weft_cli::check::Status::Pass,
        "{networks:?}"
    );
    for cidr in CLUSTER_NETWORKS {
        assert!(networks.detail.contains(cidr), "{networks:?}");
    }
    assert!(
        lines.iter().filter(|l| l.check == "certificate").count() >= 3,
        "{lines:?}"
    );
    let pre = weft_cli::check::cluster::pre(client).await;
    eprint!("weft check --pre:\n{}", weft_cli::check::render(&pre));
    assert!(!weft_cli::check::failed(&pre), "{pre:?}");

    let before = pki(client).await?;
    injection_and_anchors(client, &before.anchors).await?;

    // A second upgrade keeps everything generated at first install.
    let t1 = Instant::now();
    install(&[])?;
    wait_ready(client).await?;
    eprintln!("second upgrade Ready after {:?}", t1.elapsed());
    let after = pki(client).await?;
    assert_eq!(before, after, "an upgrade changed the generated PKI");
    assert_eq!(
        before.ca_bundle, before.webhook_ca,
        "the webhook's caBundle is the CA in weft-injector-tls"
    );
    assert_eq!(
        before.metrics_api_ca_bundle, before.metrics_api_ca,
        "the metrics APIService's caBundle is the CA in weft-metrics-api-tls"
    );

    // A forced rotation re-signs the serving certificate with the same CA:
    // the caBundle does not change, so the webhook never fails meanwhile.
    install(&["injector.webhook.rotateCertificate=true"])?;
    let rotated = pki(client).await?;
    assert_ne!(rotated.webhook_cert, before.webhook_cert, "not re-signed");
    assert_eq!(rotated.webhook_ca, before.webhook_ca);
    assert_eq!(rotated.ca_bundle, before.ca_bundle);
    assert_eq!(rotated.issuer_cert, before.issuer_cert);
    assert_eq!(rotated.anchors, before.anchors);
    assert_eq!(
        rotated.metrics_api_cert, before.metrics_api_cert,
        "only the webhook's certificate was asked to rotate"
    );
    // The metrics API's certificate rotates the same way.
    install(&["controller.metricsApi.rotateCertificate=true"])?;
    let rotated = pki(client).await?;
    assert_ne!(rotated.metrics_api_cert, before.metrics_api_cert);
    assert_eq!(rotated.metrics_api_ca, before.metrics_api_ca);
    assert_eq!(rotated.metrics_api_ca_bundle, before.metrics_api_ca_bundle);
    wait_ready(client).await?;
    injection_and_anchors(client, &before.anchors).await?;
    Ok(())
}
