//! The index seen as workloads, for TrafficMetrics: which meshed pods to
//! scrape, and which Deployment, StatefulSet or DaemonSet each belongs to.

use super::pods;
use super::store::{ObjKey, Store, slice_pods};
use k8s_openapi::api::core::v1::Pod;
use std::{collections::BTreeMap, net::IpAddr};

/// A running meshed pod with an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshedPod {
    pub namespace: String,
    pub name: String,
    pub ip: IpAddr,
    pub service_account: String,
    pub labels: BTreeMap<String, String>,
    pub owner: Option<Owner>,
}

/// Every TrafficSplit (namespace, name) → its backends: (Service, the
/// names of the pods behind it).
pub type SplitBackends = BTreeMap<(String, String), Vec<(String, Vec<String>)>>;

/// The workload a pod belongs to (`Deployment`, `StatefulSet`, `DaemonSet`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner {
    pub kind: &'static str,
    pub name: String,
}

pub(crate) fn meshed_pods(store: &Store) -> Vec<MeshedPod> {
    store
        .pods
        .iter()
        .filter(|(_, p)| pods::is_meshed(p) && pods::routable(p))
        .filter_map(|(key, p)| {
            Some(MeshedPod {
                namespace: key.ns.clone(),
                name: key.name.clone(),
                ip: pods::ips(p).into_iter().next()?,
                service_account: pods::service_account(p).to_string(),
                labels: p.metadata.labels.clone().unwrap_or_default(),
                owner: owner(p),
            })
        })
        .collect()
}

/// A pod as `weft dashboard` draws it: meshed or not, whose it is, the
/// ports its app containers declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSummary {
    pub namespace: String,
    pub name: String,
    pub service_account: String,
    pub meshed: bool,
    pub owner: Option<Owner>,
    pub ports: Vec<u16>,
    /// The image of its proxy container, when it has one.
    pub proxy_image: Option<String>,
}

pub(crate) fn pod_summaries(store: &Store) -> Vec<PodSummary> {
    store
        .pods
        .iter()
        .map(|(key, p)| {
            let mut ports: Vec<u16> = pods::app_containers(p)
                .flat_map(|c| c.ports.iter().flatten())
                .filter_map(|cp| u16::try_from(cp.container_port).ok())
                .collect();
            ports.sort_unstable();
            ports.dedup();
            PodSummary {
                namespace: key.ns.clone(),
                name: key.name.clone(),
                service_account: pods::service_account(p).to_string(),
                meshed: pods::is_meshed(p),
                owner: owner(p),
                ports,
                proxy_image: pods::proxy_container(p).and_then(|c| c.image.clone()),
            }
        })
        .collect()
}

/// Every TrafficSplit (namespace, name) → its root Service and its
/// backends' weights, as written.
pub type SplitWeights = BTreeMap<(String, String), (String, Vec<(String, u32)>)>;

pub(crate) fn split_weights(store: &Store) -> SplitWeights {
    store
        .splits
        .iter()
        .map(|(key, split)| {
            let weights = split
                .spec
                .backends
                .iter()
                .map(|b| (b.service.clone(), b.weight))
                .collect();
            (
                (key.ns.clone(), key.name.clone()),
                (split.spec.service.clone(), weights),
            )
        })
        .collect()
}

/// The controlling owner, seen through a Deployment's ReplicaSet: its name
/// is the Deployment's plus `-<pod-template-hash>`, so no ReplicaSet watch
/// is needed.
pub(crate) fn owner(pod: &Pod) -> Option<Owner> {
    let r = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))?;
    match r.kind.as_str() {
        "StatefulSet" => Some(Owner {
            kind: "StatefulSet",
            name: r.name.clone(),
        }),
        "DaemonSet" => Some(Owner {
            kind: "DaemonSet",
            name: r.name.clone(),
        }),
        "ReplicaSet" => {
            let hash = pod.metadata.labels.as_ref()?.get("pod-template-hash")?;
            let name = r.name.strip_suffix(hash.as_str())?.strip_suffix('-')?;
            Some(Owner {
                kind: "Deployment",
                name: name.to_string(),
            })
        }
        _ => None,
    }
}

pub(crate) fn split_backends(store: &Store) -> SplitBackends {
    store
        .splits
        .iter()
        .map(|(key, split)| {
            let backends = split
                .spec
                .backends
                .iter()
                .map(|b| {
                    let svc = ObjKey::new(&key.ns, &b.service);
                    let mut names: Vec<String> = store
                        .slices_of(&svc)
                        .flat_map(slice_pods)
                        .map(|k| k.name)
                        .collect();
                    names.sort();
                    names.dedup();
                    (b.service.clone(), names)
                })
                .collect();
            ((key.ns.clone(), key.name.clone()), backends)
        })
        .collect()
}

pub(crate) fn namespace_labels(store: &Store) -> BTreeMap<String, BTreeMap<String, String>> {
    store
        .namespaces
        .iter()
        .map(|(key, ns)| {
            (
                key.name.clone(),
                ns.metadata.labels.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_owned_by(kind: &str, name: &str, hash: Option<&str>) -> Pod {
        let mut labels = serde_json::Map::new();
        if let Some(h) = hash {
            labels.insert("pod-template-hash".into(), json!(h));
        }
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "shop", "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name,
                    "uid": "u", "controller": true}]},
        }))
        .unwrap()
    }

    #[test]
    fn a_replicaset_pod_belongs_to_its_deployment() {
        let p = pod_owned_by("ReplicaSet", "web-5d9f8c7b4", Some("5d9f8c7b4"));
        assert_eq!(
            owner(&p),
            Some(Owner {
                kind: "Deployment",
                name: "web".into()
            })
        );
        // A bare ReplicaSet (no template hash) is no Deployment.
        assert_eq!(owner(&pod_owned_by("ReplicaSet", "web-x", None)), None);
        assert_eq!(
            owner(&pod_owned_by("StatefulSet", "db", None)).map(|o| o.kind),
            Some("StatefulSet")
        );
        assert_eq!(owner(&pod_owned_by("Job", "once", None)), None);
    }
}
