//! Namespace metadata from a watched cache, with a live GET on a miss and
//! whenever the cached copy would leave a pod uninjected, so `kubectl
//! annotate ns … && kubectl apply …` never races the cache.

use crate::{NamespaceMeta, review::Namespaces};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    runtime::{WatchStreamExt, reflector, watcher},
};

/// The cluster's namespaces.
#[derive(Clone)]
pub struct KubeNamespaces {
    store: reflector::Store<Namespace>,
    api: Api<Namespace>,
}

impl KubeNamespaces {
    /// Starts the watch; the returned future drives it and must be spawned.
    pub fn start(client: kube::Client) -> (Self, impl Future<Output = ()> + Send) {
        let api: Api<Namespace> = Api::all(client);
        let (store, writer) = reflector::store();
        let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()))
            .default_backoff()
            .touched_objects()
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::warn!(error = %e, "namespace watch error; retrying");
                }
            });
        (Self { store, api }, stream)
    }
}

impl Namespaces for KubeNamespaces {
    async fn get(&self, name: &str) -> Result<NamespaceMeta, String> {
        let cached = self.store.get(&reflector::ObjectRef::new(name));
        match cached {
            Some(ns) => Ok(meta(name, (*ns).clone())),
            None => self.fresh(name).await,
        }
    }

    async fn fresh(&self, name: &str) -> Result<NamespaceMeta, String> {
        let ns = self.api.get(name).await.map_err(|e| e.to_string())?;
        Ok(meta(name, ns))
    }
}

fn meta(name: &str, ns: Namespace) -> NamespaceMeta {
    NamespaceMeta {
        name: name.to_string(),
        labels: ns.metadata.labels.unwrap_or_default(),
        annotations: ns.metadata.annotations.unwrap_or_default(),
    }
}
