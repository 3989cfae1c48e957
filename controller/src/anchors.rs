//! The `weft-trust-anchors` ConfigMap in every namespace with injection
//! enabled: proxies mount it to verify their peers, so it must exist before
//! the first meshed pod starts, come back if someone deletes it, and follow
//! the anchors when they rotate.
//!
//! A reflector holds just these ConfigMaps (a field selector on the name);
//! every `interval` the desired set (injected namespaces × the current
//! bundle) is compared with it, and only the differences are written, with
//! server-side apply so weft owns only its own key.

use crate::index::SharedIndex;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client, ResourceExt as _,
    api::{Patch, PatchParams},
    runtime::{WatchStreamExt as _, reflector, watcher},
};
use serde_json::json;
use std::{path::PathBuf, time::Duration};
use weft_api::contract::pod::{TRUST_ANCHORS_CONFIGMAP, TRUST_ANCHORS_KEY};
use weft_runtime::shutdown;

const FIELD_MANAGER: &str = "weft-controller";

/// Keeps the ConfigMaps until `stop`.
pub async fn keep(
    client: Client,
    index: SharedIndex,
    anchors: PathBuf,
    interval: Duration,
    stop: shutdown::Signal,
) {
    let all: Api<ConfigMap> = Api::all(client.clone());
    let (store, writer) = reflector::store();
    let cfg =
        watcher::Config::default().fields(&format!("metadata.name={TRUST_ANCHORS_CONFIGMAP}"));
    let reflect = reflector(writer, watcher(all, cfg))
        .default_backoff()
        .touched_objects()
        .for_each(|_| futures::future::ready(()));
    let stopped = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = reflect => {}
            () = stopped.wait() => {}
        }
    });
    if store.wait_until_ready().await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.clone().wait() => return,
        }
        let bundle = match tokio::fs::read_to_string(&anchors).await {
            Ok(b) if !b.trim().is_empty() => b,
            Ok(_) => {
                tracing::error!(path = %anchors.display(), "the trust-anchor bundle is empty; not publishing it");
                continue;
            }
            Err(error) => {
                tracing::error!(path = %anchors.display(), %error, "cannot read the trust anchors");
                continue;
            }
        };
        let namespaces = index.lock().expect("index lock").injected_namespaces();
        for ns in namespaces {
            let current = store
                .state()
                .into_iter()
                .find(|cm| cm.namespace().as_deref() == Some(ns.as_str()));
            let up_to_date = current.as_ref().is_some_and(|cm| {
                cm.data.as_ref().and_then(|d| d.get(TRUST_ANCHORS_KEY)) == Some(&bundle)
            });
            if up_to_date {
                continue;
            }
            match apply(&client, &ns, &bundle).await {
                Ok(()) => tracing::info!(
                    namespace = %ns,
                    action = if current.is_some() { "updated" } else { "created" },
                    "trust-anchor ConfigMap"
                ),
                Err(error) => {
                    tracing::warn!(namespace = %ns, %error, "cannot write the trust-anchor ConfigMap")
                }
            }
        }
    }
}

async fn apply(client: &Client, ns: &str, bundle: &str) -> Result<(), kube::Error> {
    let cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": TRUST_ANCHORS_CONFIGMAP,
            "namespace": ns,
            "labels": {"app.kubernetes.io/managed-by": "weft-controller"},
        },
        "data": {TRUST_ANCHORS_KEY: bundle},
    });
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .patch(
            TRUST_ANCHORS_CONFIGMAP,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(cm),
        )
        .await
        .map(|_| ())
}
