//! The dashboard's picture of the mesh, built from what the cluster says
//! (workloads, the policy the controller would send, TrafficSplits) and
//! what the proxies measured (TrafficMetrics edges). Pure, so every rule
//! the page shows is unit-tested here.

use crate::stat::{Row, rows::EdgeRow};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use weft_k8s_api::metrics::ObjectReference;

/// A node: `<namespace>/<kind>/<name>`, the kind in lower case
/// (`deployment`, `statefulset`, `daemonset`, `pod`, or `serviceaccount`
/// for a peer known only by its identity).
pub type Id = String;

pub fn id(namespace: &str, kind: &str, name: &str) -> Id {
    format!("{namespace}/{}/{name}", kind.to_ascii_lowercase())
}

/// A workload as the cluster describes it.
#[derive(Clone, Debug, Default)]
pub struct Workload {
    pub namespace: String,
    /// `Deployment`, `StatefulSet`, `DaemonSet` or `Pod` (a pod no
    /// controller owns).
    pub kind: String,
    pub name: String,
    pub meshed: bool,
    /// The ServiceAccount its pods run as.
    pub service_account: Option<String>,
    pub pods: usize,
    /// Its pods' proxy images, each once (several during a rollout).
    pub proxy_images: Vec<String>,
    /// Whether any TrafficTarget names it (then only grants allow traffic).
    pub targeted: bool,
    /// The default policy its proxies apply when nothing targets it.
    pub default_allow: bool,
    /// Its own traffic (TrafficMetrics of the workload), if measured.
    pub stats: Option<Row>,
}

impl Workload {
    pub fn id(&self) -> Id {
        id(&self.namespace, &self.kind, &self.name)
    }

    fn policed(&self) -> bool {
        self.targeted || !self.default_allow
    }
}

/// A caller's identity allowed to reach a workload, and by what.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// The caller's ServiceAccount: namespace and name.
    pub from: (String, String),
    pub to: Id,
    /// The authorization's name (`traffictarget/shop/web-to-api`).
    pub authorization: String,
}

/// A TrafficSplit: its backends' weights and the traffic each received.
#[derive(Clone, Debug, Default)]
pub struct SplitInput {
    pub namespace: String,
    pub name: String,
    pub service: String,
    /// Backend Service and weight, as written.
    pub weights: Vec<(String, u64)>,
    /// Requests per second each backend received (TrafficMetrics of the
    /// split, one row per backend), by backend Service.
    pub observed_rps: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The metrics API's window, as it says it (`30s`).
    pub window: String,
    pub namespaces: Vec<String>,
    pub workloads: Vec<Workload>,
    /// Each workload's edges, as `weft edges` reads them.
    pub edges: Vec<(Id, Row)>,
    pub grants: Vec<Grant>,
    pub splits: Vec<SplitInput>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Graph {
    pub window: String,
    pub namespaces: Vec<String>,
    /// What could not be read, or had to be assumed.
    pub notes: Vec<String>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub splits: Vec<Split>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    pub id: Id,
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub meshed: bool,
    pub service_account: Option<String>,
    pub pods: usize,
    pub proxy_images: Vec<String>,
    pub rps: Option<f64>,
    pub success: Option<f64>,
    pub p99_ms: Option<f64>,
    /// When the earliest of its proxies' certificates expires (Unix seconds).
    pub certificate_expiry: Option<f64>,
}

/// What the policy says about an edge, beside what flowed on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// A grant allows it and traffic flowed.
    AllowedUsed,
    /// A grant allows it; nothing flowed in the window.
    AllowedUnused,
    /// Traffic flowed, and the destination's policy allows it nothing.
    Refused,
    /// Traffic flowed to a workload no policy restricts (default allow).
    Unpoliced,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Edge {
    pub from: Id,
    pub to: Id,
    pub state: State,
    pub rps: Option<f64>,
    pub success: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Connections forwarded as bytes (not HTTP) in the window.
    pub tcp_connections: u64,
    /// What allows it, when something does.
    pub authorization: Option<String>,
    pub denied: Vec<Denied>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Denied {
    pub reason: String,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Split {
    pub namespace: String,
    pub name: String,
    pub service: String,
    pub backends: Vec<SplitBackend>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SplitBackend {
    pub service: String,
    /// The weight over the sum of weights.
    pub weight_share: Option<f64>,
    /// The backend's requests over all the split's requests in the window.
    pub observed_share: Option<f64>,
}

/// The reason a proxy gives a caller no grant names (`weft-deny-reason`).
const NO_TRAFFIC_TARGET: &str = "no-traffic-target";

pub fn build(inputs: Inputs) -> Graph {
    let mut nodes: BTreeMap<Id, Node> =
        inputs.workloads.iter().map(|w| (w.id(), node(w))).collect();
    let by_id: BTreeMap<Id, &Workload> = inputs.workloads.iter().map(|w| (w.id(), w)).collect();

    // Which workloads each caller identity is.
    let mut callers: BTreeMap<(String, String), Vec<Id>> = BTreeMap::new();
    for w in &inputs.workloads {
        if let Some(sa) = &w.service_account {
            callers
                .entry((w.namespace.clone(), sa.clone()))
                .or_default()
                .push(w.id());
        }
    }

    // One measurement per (caller, callee): the server side's when both
    // proxies measured, since that is where the policy is applied.
    let mut measured: BTreeMap<(Id, Id), &Row> = BTreeMap::new();
    let server = |r: &Row| r.edge.as_ref().is_some_and(EdgeRow::by_server);
    for (of, row) in &inputs.edges {
        let Some(e) = &row.edge else { continue };
        let peer = peer_id(&e.peer);
        let key = match e.direction.as_str() {
            "to" => (of.clone(), peer.clone()),
            "from" => (peer.clone(), of.clone()),
            _ => continue,
        };
        if e.direction == "to" && shared_identity_measured(&inputs.edges, of, &e.peer, &callers) {
            continue;
        }
        nodes
            .entry(peer.clone())
            .or_insert_with(|| peer_node(&e.peer, &peer));
        match measured.get(&key) {
            Some(kept) if server(kept) || !server(row) => {}
            _ => {
                measured.insert(key, row);
            }
        }
    }

    let mut granted: BTreeMap<(Id, Id), String> = BTreeMap::new();
    for g in &inputs.grants {
        let from = callers.get(&g.from).cloned().unwrap_or_else(|| {
            // An identity no workload runs as now: drawn as itself.
            let sa = id(&g.from.0, "ServiceAccount", &g.from.1);
            nodes
                .entry(sa.clone())
                .or_insert_with(|| sa_node(&g.from.0, &g.from.1, &sa));
            vec![sa]
        });
        for f in from {
            granted
                .entry((f, g.to.clone()))
                .or_insert_with(|| g.authorization.clone());
        }
    }

    let keys: BTreeSet<(Id, Id)> = measured.keys().chain(granted.keys()).cloned().collect();
    let edges = keys
        .into_iter()
        .map(|key| {
            let row = measured.get(&key).copied().filter(|r| carried(r));
            let grant = granted.get(&key).cloned();
            let policed = by_id.get(&key.1).is_some_and(|w| w.policed());
            let state = match (row.is_some(), &grant) {
                (true, Some(_)) => State::AllowedUsed,
                (false, Some(_)) => State::AllowedUnused,
                (true, None) if policed => State::Refused,
                (_, None) => State::Unpoliced,
            };
            // What the proxies counted; for a caller the policy refuses
            // outright, before its proxies reported reasons, what it implies.
            let mut denied: Vec<Denied> = row
                .map(|r| {
                    r.denied
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(reason, n)| Denied {
                            reason: reason.clone(),
                            count: *n,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let (State::Refused, Some(r), true) = (state, row, denied.is_empty()) {
                denied.push(Denied {
                    reason: NO_TRAFFIC_TARGET.into(),
                    count: r.success_count + r.failure_count,
                });
            }
            Edge {
                rps: row.map(|r| r.rps),
                tcp_connections: row.map_or(0, |r| r.tcp_connections.values().sum()),
                success: row.and_then(|r| r.success_rate),
                p99_ms: row.and_then(|r| r.p99_ms),
                from: key.0,
                to: key.1,
                state,
                authorization: grant,
                denied,
            }
        })
        .collect();

    Graph {
        window: inputs.window,
        namespaces: inputs.namespaces,
        notes: Vec::new(),
        nodes: nodes.into_values().collect(),
        edges,
        splits: inputs.splits.iter().map(split).collect(),
    }
}

/// Whether a client-side edge from `of` to a peer known only as a
/// ServiceAccount (several workloads run as it) is already measured by
/// those workloads' own proxies: then it is the same traffic, drawn per
/// workload from the server side.
fn shared_identity_measured(
    edges: &[(Id, Row)],
    of: &Id,
    peer: &ObjectReference,
    callers: &BTreeMap<(String, String), Vec<Id>>,
) -> bool {
    if peer.kind != "ServiceAccount" {
        return false;
    }
    let sa = (
        peer.namespace.clone().unwrap_or_default(),
        peer.name.clone().unwrap_or_default(),
    );
    let Some(workloads) = callers.get(&sa) else {
        return false;
    };
    edges.iter().any(|(w, r)| {
        workloads.contains(w)
            && r.edge
                .as_ref()
                .is_some_and(|e| e.served() && peer_id(&e.peer) == *of)
    })
}

/// Whether a measured edge carried any request in the window.
/// Whether a row saw traffic: responses, or connections forwarded as bytes
/// (which SMI's counts leave out).
fn carried(r: &Row) -> bool {
    r.success_count + r.failure_count > 0 || r.tcp_connections.values().any(|n| *n > 0)
}

fn node(w: &Workload) -> Node {
    let stats = w.stats.as_ref().filter(|r| carried(r));
    Node {
        id: w.id(),
        namespace: w.namespace.clone(),
        kind: w.kind.to_ascii_lowercase(),
        name: w.name.clone(),
        meshed: w.meshed,
        service_account: w.service_account.clone(),
        pods: w.pods,
        proxy_images: w.proxy_images.clone(),
        rps: stats.map(|r| r.rps),
        success: stats.and_then(|r| r.success_rate),
        p99_ms: stats.and_then(|r| r.p99_ms),
        // Whether or not traffic flowed.
        certificate_expiry: w.stats.as_ref().and_then(|r| r.certificate_expiry),
    }
}

/// The node of a peer the metrics API named.
pub(crate) fn peer_id(p: &ObjectReference) -> Id {
    id(
        p.namespace.as_deref().unwrap_or_default(),
        &p.kind,
        p.name.as_deref().unwrap_or_default(),
    )
}

/// A peer the workloads listed do not include (another namespace, or an
/// identity several workloads share): drawn, meshed (it was measured by
/// its identity), without figures of its own.
fn peer_node(p: &ObjectReference, id: &str) -> Node {
    Node {
        id: id.into(),
        namespace: p.namespace.clone().unwrap_or_default(),
        kind: p.kind.to_ascii_lowercase(),
        name: p.name.clone().unwrap_or_default(),
        meshed: true,
        service_account: None,
        pods: 0,
        proxy_images: Vec::new(),
        rps: None,
        success: None,
        p99_ms: None,
        certificate_expiry: None,
    }
}

fn sa_node(namespace: &str, name: &str, id: &str) -> Node {
    let p = ObjectReference {
        kind: "ServiceAccount".into(),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
    };
    Node {
        service_account: Some(name.into()),
        ..peer_node(&p, id)
    }
}

fn split(s: &SplitInput) -> Split {
    let weights: u64 = s.weights.iter().map(|(_, w)| w).sum();
    let observed: f64 = s.observed_rps.values().sum();
    Split {
        namespace: s.namespace.clone(),
        name: s.name.clone(),
        service: s.service.clone(),
        backends: s
            .weights
            .iter()
            .map(|(service, w)| SplitBackend {
                service: service.clone(),
                weight_share: (weights > 0).then(|| *w as f64 / weights as f64),
                observed_share: (observed > 0.0)
                    .then(|| s.observed_rps.get(service).copied().unwrap_or(0.0) / observed),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
