//! Answers a TrafficMetrics query from the latest scrape round and the
//! index's view of workloads. Pure: everything it reads is passed in.
//!
//! A resource's metrics are what its pods served (their inbound side); its
//! edges are, per peer, what its pods served to that peer (`from`, measured
//! by the server) and what they asked of it (`to`, measured by the client).
//! A peer is known by its SPIFFE id, so it is named as the one resource of
//! the queried kind whose pods run as that ServiceAccount, or as the
//! ServiceAccount when several (or none) do. Traffic with no verified peer
//! counts in a resource's totals but is on no edge.

use super::routes::{Kind, Query};
use super::traffic_stats::{Delta, Direction, Edge};
use crate::index::{MeshedPod, SplitBackends};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use weft_api::duration;
use weft_k8s_api::metrics::{self as smi, ObjectReference, TrafficMetrics, TrafficMetricsList};
use weft_tls::SpiffeId;

/// One scrape round's result, per pod (namespace, name).
#[derive(Clone, Debug, Default)]
pub struct Scraped {
    /// When the round ended; `None` before the first.
    pub at: Option<Time>,
    pub pods: BTreeMap<(String, String), PodWindow>,
}

/// What one pod's proxy reported over the window.
#[derive(Clone, Debug, Default)]
pub struct PodWindow {
    /// The seconds its scrapes cover: 0 until it has been scraped twice.
    pub seconds: f64,
    pub edges: BTreeMap<Edge, Delta>,
    /// When its proxy's certificate expires (Unix seconds), as last scraped.
    pub certificate_expiry: Option<f64>,
}

/// What the query is answered from.
pub struct Inputs<'a> {
    pub scraped: &'a Scraped,
    pub pods: &'a [MeshedPod],
    /// Namespace labels, for `labelSelector` on namespaces.
    pub namespaces: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// TrafficSplits: (namespace, name) → backends (Service, pod names).
    pub splits: &'a SplitBackends,
}

#[derive(Debug)]
pub enum Answer {
    One(Box<TrafficMetrics>),
    List(Box<TrafficMetricsList>),
    NotFound(String),
}

pub fn answer(q: &Query, inputs: &Inputs<'_>) -> Answer {
    if q.kind == Kind::TrafficSplit {
        return splits(q, inputs);
    }
    let groups = group(q, inputs);
    let one = |ns: Option<&str>, name: &str| ObjectReference {
        kind: q.kind.name().into(),
        namespace: ns.map(str::to_string),
        name: Some(name.to_string()),
    };
    match (&q.name, q.edges) {
        (Some(name), edges) => {
            let Some(((ns, _), pods)) = groups.into_iter().next() else {
                return Answer::NotFound(not_found(q, name));
            };
            let resource = one(ns.as_deref(), name);
            if edges {
                Answer::List(list(
                    resource.clone(),
                    edge_items(q.kind, &resource, &pods, inputs),
                ))
            } else {
                Answer::One(Box::new(item(
                    resource,
                    None,
                    &inbound(&pods, inputs),
                    inputs,
                )))
            }
        }
        (None, _) => {
            let items = groups
                .iter()
                .map(|((ns, name), pods)| {
                    item(
                        one(ns.as_deref(), name),
                        None,
                        &inbound(pods, inputs),
                        inputs,
                    )
                })
                .collect();
            let resource = ObjectReference {
                kind: q.kind.name().into(),
                namespace: q.namespace.clone(),
                name: None,
            };
            Answer::List(list(resource, items))
        }
    }
}

fn not_found(q: &Query, name: &str) -> String {
    match &q.namespace {
        Some(ns) => format!(
            "{}/{name} in namespace {ns} has no meshed pods",
            q.kind.plural()
        ),
        None => format!("{}/{name} has no meshed pods", q.kind.plural()),
    }
}

/// The pods of each resource the query selects, keyed by (namespace, name);
/// the namespace is `None` for namespaces themselves.
type Groups<'a> = BTreeMap<(Option<String>, String), Vec<&'a MeshedPod>>;

fn group<'a>(q: &Query, inputs: &Inputs<'a>) -> Groups<'a> {
    let mut out: Groups<'a> = BTreeMap::new();
    let mut selected: BTreeSet<(Option<String>, String)> = BTreeSet::new();
    for p in inputs.pods {
        if q.namespace.as_ref().is_some_and(|ns| *ns != p.namespace) {
            continue;
        }
        let Some(name) = resource_name(q.kind, p) else {
            continue;
        };
        if q.name.as_ref().is_some_and(|n| *n != name) {
            continue;
        }
        let key = match q.kind {
            Kind::Namespace => (None, name),
            _ => (Some(p.namespace.clone()), name),
        };
        // A workload is selected when any of its pods' labels match; a
        // namespace by its own labels.
        let labels = match q.kind {
            Kind::Namespace => inputs.namespaces.get(&p.namespace),
            _ => Some(&p.labels),
        };
        if labels.is_some_and(|l| q.selector.matches(l)) {
            selected.insert(key.clone());
        }
        out.entry(key).or_default().push(p);
    }
    out.retain(|k, _| selected.contains(k));
    out
}

fn resource_name(kind: Kind, p: &MeshedPod) -> Option<String> {
    match kind {
        Kind::Pod => Some(p.name.clone()),
        Kind::Namespace => Some(p.namespace.clone()),
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet => p
            .owner
            .as_ref()
            .filter(|o| o.kind == kind.name())
            .map(|o| o.name.clone()),
        Kind::TrafficSplit => None,
    }
}

fn deltas<'a>(p: &MeshedPod, inputs: &Inputs<'a>) -> Option<&'a BTreeMap<Edge, Delta>> {
    window(p, inputs).map(|w| &w.edges)
}

fn window<'a>(p: &MeshedPod, inputs: &Inputs<'a>) -> Option<&'a PodWindow> {
    inputs
        .scraped
        .pods
        .get(&(p.namespace.clone(), p.name.clone()))
}

/// The longest window the pods' scrapes cover.
fn covered(pods: &[&MeshedPod], inputs: &Inputs<'_>) -> f64 {
    pods.iter()
        .filter_map(|p| window(p, inputs))
        .map(|w| w.seconds)
        .fold(0.0, f64::max)
}

/// Everything the pods served, from any peer.
fn inbound(pods: &[&MeshedPod], inputs: &Inputs<'_>) -> Delta {
    let mut total = Delta {
        seconds: covered(pods, inputs),
        ..Default::default()
    };
    for p in pods {
        for (edge, d) in deltas(p, inputs).into_iter().flatten() {
            if edge.direction == Direction::Inbound {
                total.add(d);
            }
        }
    }
    total.certificate_expiry = pods
        .iter()
        .filter_map(|p| window(p, inputs)?.certificate_expiry)
        .reduce(f64::min);
    total
}

fn edge_items(
    kind: Kind,
    resource: &ObjectReference,
    pods: &[&MeshedPod],
    inputs: &Inputs<'_>,
) -> Vec<TrafficMetrics> {
    // Keyed by (direction, peer kind, namespace, name) to merge pods and
    // ServiceAccounts that resolve to the same peer.
    let mut merged: BTreeMap<(Direction, String, Option<String>, Option<String>), Delta> =
        BTreeMap::new();
    let seconds = covered(pods, inputs);
    for p in pods {
        for (edge, d) in deltas(p, inputs).into_iter().flatten() {
            let Some(peer) = peer_ref(kind, &edge.peer, inputs.pods) else {
                continue;
            };
            merged
                .entry((edge.direction, peer.kind, peer.namespace, peer.name))
                .or_default()
                .add(d);
        }
    }
    merged
        .into_iter()
        .map(|((direction, kind, namespace, name), d)| {
            let (direction, side) = match direction {
                Direction::Inbound => ("from", "server"),
                Direction::Outbound => ("to", "client"),
            };
            let edge = smi::Edge {
                direction: direction.into(),
                side: side.into(),
                resource: ObjectReference {
                    kind,
                    namespace,
                    name,
                },
            };
            let d = Delta { seconds, ..d };
            item(resource.clone(), Some(edge), &d, inputs)
        })
        .collect()
}

/// The peer behind a SPIFFE id, as a resource of `kind` when exactly one
/// runs as that ServiceAccount; `None` for unauthenticated traffic.
fn peer_ref(kind: Kind, peer: &str, pods: &[MeshedPod]) -> Option<ObjectReference> {
    let id: SpiffeId = peer.parse().ok()?;
    let (ns, sa) = (id.namespace(), id.service_account());
    if kind == Kind::Namespace {
        return Some(ObjectReference {
            kind: "Namespace".into(),
            namespace: None,
            name: Some(ns.to_string()),
        });
    }
    let names: BTreeSet<Option<String>> = pods
        .iter()
        .filter(|p| p.namespace == ns && p.service_account == sa)
        .map(|p| resource_name(kind, p))
        .collect();
    Some(match names.into_iter().collect::<Vec<_>>().as_slice() {
        [Some(name)] => ObjectReference {
            kind: kind.name().into(),
            namespace: Some(ns.to_string()),
            name: Some(name.clone()),
        },
        _ => ObjectReference {
            kind: "ServiceAccount".into(),
            namespace: Some(ns.to_string()),
            name: Some(sa.to_string()),
        },
    })
}

/// A TrafficSplit's backends, one item per backend Service, with what its
/// pods served (or their edges, peers named as Deployments).
fn splits(q: &Query, inputs: &Inputs<'_>) -> Answer {
    let mut items = Vec::new();
    let mut found = false;
    for ((ns, name), backends) in inputs.splits {
        if q.namespace.as_ref().is_some_and(|n| n != ns)
            || q.name.as_ref().is_some_and(|n| n != name)
        {
            continue;
        }
        found = true;
        for (service, pod_names) in backends {
            let pods: Vec<&MeshedPod> = inputs
                .pods
                .iter()
                .filter(|p| p.namespace == *ns && pod_names.contains(&p.name))
                .filter(|p| q.selector.matches(&p.labels))
                .collect();
            let backend = ObjectReference {
                kind: "Service".into(),
                namespace: Some(ns.clone()),
                name: Some(service.clone()),
            };
            if q.edges {
                items.extend(edge_items(Kind::Deployment, &backend, &pods, inputs));
            } else {
                items.push(item(backend, None, &inbound(&pods, inputs), inputs));
            }
        }
    }
    if let (Some(name), false) = (&q.name, found) {
        return Answer::NotFound(format!(
            "trafficsplits/{name} in namespace {} does not exist",
            q.namespace.as_deref().unwrap_or_default()
        ));
    }
    let resource = ObjectReference {
        kind: Kind::TrafficSplit.name().into(),
        namespace: q.namespace.clone(),
        name: q.name.clone(),
    };
    Answer::List(list(resource, items))
}

fn item(
    resource: ObjectReference,
    edge: Option<smi::Edge>,
    d: &Delta,
    inputs: &Inputs<'_>,
) -> TrafficMetrics {
    let metrics = d.smi_metrics(edge.is_some());
    TrafficMetrics {
        kind: "TrafficMetrics".into(),
        api_version: smi::API_VERSION.into(),
        metadata: ObjectMeta {
            name: resource.name.clone(),
            namespace: resource.namespace.clone(),
            creation_timestamp: inputs.scraped.at.clone(),
            ..Default::default()
        },
        timestamp: inputs.scraped.at.clone().unwrap_or_else(epoch),
        window: duration::format(Duration::from_secs(d.seconds.round() as u64)),
        resource,
        edge,
        metrics,
    }
}

fn list(resource: ObjectReference, items: Vec<TrafficMetrics>) -> Box<TrafficMetricsList> {
    Box::new(TrafficMetricsList {
        kind: "TrafficMetricsList".into(),
        api_version: smi::API_VERSION.into(),
        metadata: ListMeta::default(),
        resource,
        items,
    })
}

fn epoch() -> Time {
    Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
