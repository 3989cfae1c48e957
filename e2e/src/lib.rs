//! Helpers for weft's end-to-end suites.
//!
//! The suites in `e2e/tests/` run against the single-node cluster that
//! `e2e/cluster/up` starts (`make e2e`). A suite that cannot reach its cluster
//! fails and says why; it is never skipped.

pub mod browser;
pub mod flagger;
pub mod gateway;
pub mod local;
pub mod pods;
pub mod release;
pub mod trust;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use std::{future::Future, path::PathBuf, time::Duration};

/// How long a test waits for the cluster to converge (the design's one
/// generous constant); tests log what they actually observed.
pub const CONVERGENCE: Duration = Duration::from_secs(10);

/// The repository root (for charts and fixtures).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A client for the cluster named by `KUBECONFIG`, or a clear error saying
/// how to start one.
pub async fn client() -> anyhow::Result<kube::Client> {
    let client = kube::Client::try_default().await.context(
        "no Kubernetes cluster configured: run `make cluster-up` and `eval \"$(e2e/cluster/env)\"`",
    )?;
    client
        .apiserver_version()
        .await
        .context("the cluster's API server does not answer: is `e2e/cluster/up` running?")?;
    Ok(client)
}

/// Runs `f` in a fresh namespace that is deleted afterwards, whatever `f`
/// returns.
pub async fn with_temp_ns<F, Fut, T>(client: &kube::Client, f: F) -> anyhow::Result<T>
where
    F: FnOnce(kube::Client, String) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let name = format!("weft-e2e-{:08x}", rand::random::<u32>());
    let api: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.clone());
    api.create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    let res = match default_service_account(client, &name).await {
        Ok(()) => f(client.clone(), name.clone()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = api.delete(&name, &DeleteParams::default()).await {
        tracing::warn!(%name, error = %e, "could not delete test namespace");
    }
    res
}

/// Waits for the ServiceAccount controller to create `default` in a new
/// namespace: until then the API server refuses every pod that names no
/// ServiceAccount ("serviceaccount \"default\" not found").
async fn default_service_account(client: &kube::Client, ns: &str) -> anyhow::Result<()> {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    eventually(&format!("ServiceAccount {ns}/default exists"), || async {
        Ok(sas.get_opt("default").await?.map(|_| ()))
    })
    .await
}

/// Polls `check` until it returns `Some`, or fails after [`CONVERGENCE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    eventually_within(what, CONVERGENCE, Duration::from_millis(100), check).await
}

/// [`eventually`] for what takes longer than [`CONVERGENCE`] by design (a
/// kubelet refresh, a certificate renewal): polls every `every`, fails
/// after `limit`.
pub async fn eventually_within<T, F, Fut>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let t0 = tokio::time::Instant::now();
    loop {
        if let Some(v) = check().await? {
            eprintln!("{what}: converged after {:?}", t0.elapsed());
            return Ok(v);
        }
        if t0.elapsed() > limit {
            anyhow::bail!("{what}: not reached within {limit:?}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Server-side applies `obj` (any kind, named by its `apiVersion` and
/// `kind`, plural = lower-case kind + "s") in namespace `ns`, as
/// `kubectl apply --server-side` would.
pub async fn apply(client: &kube::Client, ns: &str, obj: serde_json::Value) -> anyhow::Result<()> {
    let plural = format!(
        "{}s",
        obj["kind"].as_str().unwrap_or_default().to_lowercase()
    );
    apply_as(client, ns, &plural, obj).await
}

/// [`apply`] for a kind whose plural is not kind + "s" (Flagger's Canary).
pub async fn apply_as(
    client: &kube::Client,
    ns: &str,
    plural: &str,
    obj: serde_json::Value,
) -> anyhow::Result<()> {
    let field = |k: &str| obj[k].as_str().unwrap_or_default().to_string();
    let ar = resource(&field("apiVersion"), &field("kind"), plural);
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let obj: DynamicObject = serde_json::from_value(obj)?;
    Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar)
        .patch(
            &name,
            &PatchParams::apply("weft-e2e").force(),
            &Patch::Apply(&obj),
        )
        .await
        .with_context(|| format!("applying {} {ns}/{name}", ar.kind))?;
    Ok(())
}

/// The API resource of `kind` at `api_version` (`group/version`, or a core
/// `version`), named `plural`.
pub fn resource(api_version: &str, kind: &str, plural: &str) -> kube::api::ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Waits for an Event with `reason` on the object called `name` (among
/// `events`, usually one namespace's).
pub async fn event_on(
    events: &Api<k8s_openapi::api::core::v1::Event>,
    name: &str,
    reason: &str,
) -> anyhow::Result<()> {
    eventually(&format!("a {reason} Event on {name}"), || {
        let events = events.clone();
        let selector = format!("involvedObject.name={name}");
        async move {
            let list = events
                .list(&kube::api::ListParams::default().fields(&selector))
                .await?;
            Ok(list
                .items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
                .map(|e| eprintln!("event: {}", e.message.unwrap_or_default())))
        }
    })
    .await
}
