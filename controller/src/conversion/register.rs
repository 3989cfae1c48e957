//! Points weft's CRDs at the conversion webhook, and moves objects stored
//! at an older version to the storage version.
//!
//! The CRDs are installed from static files (Helm's `crds/`, which it
//! never templates), so they cannot name the release's namespace or CA;
//! the controller writes `spec.conversion` itself and keeps it so.
//!
//! Objects written before the storage version became the latest stay
//! stored at the old one, and reading them at the latest version would
//! need the webhook. Rewriting each object unchanged stores it at the
//! latest version; the CRD's `status.storedVersions` then drops the old
//! ones. After that, nothing that reads at the storage version (the
//! controller, `kubectl get`, namespace deletion, the garbage collector)
//! depends on the webhook.

use k8s_openapi::{
    ByteString,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceConversion, CustomResourceDefinition, ServiceReference, WebhookClientConfig,
        WebhookConversion,
    },
};
use kube::{
    Api,
    api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams},
    core::GroupVersionKind,
};
use std::{path::PathBuf, time::Duration};
use tracing::Instrument as _;
use weft_runtime::shutdown;

/// How often the CRDs are checked again (a re-applied CRD file resets
/// `spec.conversion`).
const RECHECK: Duration = Duration::from_secs(60);

/// Where the webhook is reached.
#[derive(Clone, Debug)]
pub struct Target {
    pub service: String,
    pub namespace: String,
    pub port: u16,
    /// The CA that signed the serving certificate (PEM), re-read on every
    /// check: a `helm upgrade` may renew it.
    pub ca: PathBuf,
}

impl Target {
    fn conversion(&self, ca_bundle: Vec<u8>) -> CustomResourceConversion {
        CustomResourceConversion {
            strategy: "Webhook".into(),
            webhook: Some(WebhookConversion {
                client_config: Some(WebhookClientConfig {
                    ca_bundle: Some(ByteString(ca_bundle)),
                    service: Some(ServiceReference {
                        name: self.service.clone(),
                        namespace: self.namespace.clone(),
                        path: Some(super::server::PATH.into()),
                        port: Some(self.port.into()),
                    }),
                    url: None,
                }),
                conversion_review_versions: vec!["v1".into()],
            }),
        }
    }
}

/// Keeps every weft CRD pointed at the webhook until `stop`, migrating
/// each one's objects once.
pub async fn run(client: kube::Client, target: Target, stop: shutdown::Signal) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let names: Vec<String> = weft_k8s_api::crds::all()
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    loop {
        // Read once per round: a `helm upgrade` may renew the CA.
        match tokio::fs::read(&target.ca).await {
            Ok(ca) => {
                let want = target.conversion(ca);
                for name in &names {
                    let span = tracing::info_span!("crd", %name);
                    if let Err(error) = ensure(&client, &crds, name, &want)
                        .instrument(span.clone())
                        .await
                    {
                        span.in_scope(|| {
                            tracing::warn!(
                                error = format!("{error:#}"),
                                "cannot set up conversion yet; retrying"
                            )
                        });
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, ca = %target.ca.display(), "cannot read the conversion webhook's CA; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(RECHECK) => {}
            () = stop.clone().wait() => return,
        }
    }
}

async fn ensure(
    client: &kube::Client,
    crds: &Api<CustomResourceDefinition>,
    name: &str,
    want: &CustomResourceConversion,
) -> anyhow::Result<()> {
    let crd = crds.get(name).await?;
    if crd.spec.conversion.as_ref() != Some(want) {
        let patch = serde_json::json!({"spec": {"conversion": want}});
        crds.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        tracing::info!("pointed the CRD at the conversion webhook");
    }
    let Some(storage) = crd.spec.versions.iter().find(|v| v.storage) else {
        anyhow::bail!("no storage version");
    };
    let stored = crd
        .status
        .as_ref()
        .and_then(|s| s.stored_versions.clone())
        .unwrap_or_default();
    if stored.iter().all(|v| *v == storage.name) {
        return Ok(());
    }
    let gvk = GroupVersionKind::gvk(&crd.spec.group, &storage.name, &crd.spec.names.kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let objects = api.list(&ListParams::default()).await?;
    let mut rewritten = 0usize;
    for obj in objects {
        let ns = obj.metadata.namespace.clone().unwrap_or_default();
        let obj_name = obj.metadata.name.clone().unwrap_or_default();
        let ns_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        match ns_api
            .replace(&obj_name, &PostParams::default(), &obj)
            .await
        {
            Ok(_) => rewritten += 1,
            // Changed or deleted meanwhile: stored at the new version, or gone.
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    let status = serde_json::json!({"status": {"storedVersions": [storage.name]}});
    crds.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    tracing::info!(from = ?stored, to = %storage.name, objects = rewritten, "moved every object to the storage version");
    Ok(())
}
