//! The dashboard's answers from the cluster: the controller's index as
//! `weft authz explain` builds it (workloads, the policy each proxy would
//! get, TrafficSplits) and the TrafficMetrics API (what flowed). Thin: the
//! rules are in [`super::graph`].

use super::{
    graph::{self, Grant, Inputs, SplitInput, Workload},
    server::{Answer, ExplainQuery, Source},
};
use crate::{
    cluster::{self, Loaded, Settings},
    explain::{Question, Source as Caller, Traffic},
    stat::{self, Row, rows::EdgeRow},
};
use futures::{StreamExt as _, stream};
use kube::Client;
use std::collections::{BTreeMap, BTreeSet};
use weft_api::policy::{DefaultPolicy, authorization::Rules};
use weft_controller::index::{Index, PodSummary};
use weft_tls::SpiffeId;

/// TrafficMetrics requests in flight at once.
const CONCURRENT: usize = 8;

#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub settings: Settings,
}

impl Source for Cluster {
    fn graph(&self, namespaces: Vec<String>) -> Answer<graph::Graph> {
        let this = self.clone();
        Box::pin(async move {
            this.load_graph(namespaces)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }

    fn explain(&self, q: ExplainQuery) -> Answer<String> {
        let this = self.clone();
        Box::pin(async move { this.explain_for(q).await.map_err(|e| format!("{e:#}")) })
    }

    fn suggest(&self, workload: String) -> Answer<String> {
        let this = self.clone();
        Box::pin(async move {
            let namespace = workload.split('/').next().unwrap_or_default().to_string();
            let req = crate::suggest::read::Request {
                namespaces: vec![namespace],
                only: Some(workload),
                span: std::time::Duration::ZERO,
                every: std::time::Duration::ZERO,
            };
            crate::suggest::read::observe(&this, &req, &mut |_| {})
                .await
                .map(|s| crate::suggest::render_yaml(&s))
                .map_err(|e| format!("{e:#}"))
        })
    }
}

/// A workload's key: namespace, kind, name.
type Key = (String, String, String);

fn key_of(p: &PodSummary) -> Key {
    match &p.owner {
        Some(o) => (p.namespace.clone(), o.kind.to_string(), o.name.clone()),
        None => (p.namespace.clone(), "Pod".into(), p.name.clone()),
    }
}

impl Cluster {
    async fn load_graph(&self, namespaces: Vec<String>) -> anyhow::Result<graph::Graph> {
        let (inputs, notes) = self.load_inputs(namespaces).await?;
        let mut g = graph::build(inputs);
        g.notes = notes;
        Ok(g)
    }

    /// What the graph and `weft policy suggest` are built from: the
    /// workloads of `namespaces` (every injected one when empty), their
    /// policy, their measured edges and splits; and notes on anything that
    /// could not be read.
    pub async fn load_inputs(
        &self,
        mut namespaces: Vec<String>,
    ) -> anyhow::Result<(Inputs, Vec<String>)> {
        let Loaded {
            mut index,
            trust_domain: _,
            notes,
        } = cluster::load(&self.client, &self.settings).await?;
        if namespaces.is_empty() {
            namespaces = index.injected_namespaces().into_iter().collect();
        }
        let wanted: BTreeSet<&str> = namespaces.iter().map(String::as_str).collect();
        let pods: Vec<PodSummary> = index
            .pod_summaries()
            .into_iter()
            .filter(|p| wanted.contains(p.namespace.as_str()))
            .collect();
        let mut groups: BTreeMap<Key, Vec<PodSummary>> = BTreeMap::new();
        for p in pods {
            groups.entry(key_of(&p)).or_default().push(p);
        }

        let mut workloads = Vec::new();
        for ((namespace, kind, name), pods) in &groups {
            let w = Workload {
                namespace: namespace.clone(),
                kind: kind.clone(),
                name: name.clone(),
                meshed: pods.iter().any(|p| p.meshed),
                service_account: pods.first().map(|p| p.service_account.clone()),
                pods: pods.len(),
                proxy_images: pods
                    .iter()
                    .filter_map(|p| p.proxy_image.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                default_allow: true,
                ..Default::default()
            };
            workloads.push((w, pods.iter().find(|p| p.meshed).cloned()));
        }

        let plain: Vec<Workload> = workloads.iter().map(|(w, _)| w.clone()).collect();
        let (stats, edges, mut notes) = self.metrics(&namespaces, &plain, notes).await;
        let mut grants = Vec::new();
        let workloads: Vec<Workload> = workloads
            .into_iter()
            .map(|(mut w, meshed)| {
                w.stats = stats
                    .get(&(w.namespace.clone(), w.kind.clone(), w.name.clone()))
                    .cloned();
                if let Some(p) = meshed {
                    // The ports its pods declare, and any other its
                    // proxies served (a Service's targetPort the container
                    // does not list): the policy is judged where traffic is.
                    let mut ports: BTreeSet<u16> = p.ports.iter().copied().collect();
                    ports.extend(served_ports(&w.id(), &edges));
                    policy_of(&mut index, &p, &ports, &mut w, &mut grants);
                }
                w
            })
            .collect();
        let splits = self.splits(&index, &wanted, &mut notes).await;
        let window = stats
            .values()
            .chain(edges.iter().map(|(_, r)| r))
            .map(|r| r.window_seconds)
            .next()
            .map_or_else(|| "–".into(), |s| format!("{s}s"));
        let inputs = Inputs {
            window,
            namespaces,
            workloads,
            edges,
            grants,
            splits,
        };
        Ok((inputs, notes))
    }

    /// Each workload's own figures and its edges, as `weft stat` and `weft
    /// edges` read them. A failure becomes a note: the picture of the policy
    /// is worth showing without figures.
    async fn metrics(
        &self,
        namespaces: &[String],
        workloads: &[Workload],
        mut notes: Vec<String>,
    ) -> (BTreeMap<Key, Row>, Vec<(graph::Id, Row)>, Vec<String>) {
        // Owned inputs and a client per request: the futures are sent
        // between threads, and borrowed ones trip the compiler's lifetime
        // inference for streams of async blocks.
        let mut lists: Vec<(String, String)> = Vec::new();
        for ns in namespaces {
            for kind in ["deployments", "statefulsets", "daemonsets", "pods"] {
                lists.push((ns.clone(), kind.to_string()));
            }
        }
        let listed: Vec<Result<Vec<Row>, String>> = stream::iter(lists)
            .map(|(ns, target)| fetch(self.client.clone(), ns, target, false))
            .buffer_unordered(CONCURRENT)
            .collect()
            .await;
        let mut stats = BTreeMap::new();
        for rows in listed {
            match rows {
                Ok(rows) => {
                    for r in rows {
                        let ns = r.namespace.clone().unwrap_or_default();
                        stats.insert((ns, r.kind.clone(), r.name.clone()), r);
                    }
                }
                Err(e) => notes.push(format!("traffic metrics: {e}")),
            }
        }
        let measured: Vec<(graph::Id, String, String)> = workloads
            .iter()
            .filter(|w| w.meshed)
            .map(|w| {
                let target = format!("{}/{}", w.kind.to_ascii_lowercase(), w.name);
                (w.id(), w.namespace.clone(), target)
            })
            .collect();
        let edges: Vec<(graph::Id, Result<Vec<Row>, String>)> = stream::iter(measured)
            .map(|(id, ns, target)| {
                let rows = fetch(self.client.clone(), ns, target, true);
                async move { (id, rows.await) }
            })
            .buffer_unordered(CONCURRENT)
            .collect()
            .await;
        let mut all = Vec::new();
        for (id, rows) in edges {
            match rows {
                Ok(rows) => all.extend(rows.into_iter().map(|r| (id.clone(), r))),
                // A workload whose pods have not been scraped yet has no
                // edges; that is not worth a note per workload.
                Err(e) if e.contains("no meshed pods") => {}
                Err(e) => notes.push(format!("edges of {id}: {e}")),
            }
        }
        notes.sort();
        notes.dedup();
        (stats, all, notes)
    }

    async fn splits(
        &self,
        index: &Index,
        wanted: &BTreeSet<&str>,
        notes: &mut Vec<String>,
    ) -> Vec<SplitInput> {
        let mut out = Vec::new();
        for ((ns, name), (service, weights)) in index.split_weights() {
            if !wanted.contains(ns.as_str()) {
                continue;
            }
            let mut observed_rps = BTreeMap::new();
            let target = format!("trafficsplits/{name}");
            match fetch(self.client.clone(), ns.clone(), target, false).await {
                Ok(rows) => {
                    for r in rows {
                        observed_rps.insert(r.name, r.rps);
                    }
                }
                Err(e) => notes.push(format!("traffic of split {ns}/{name}: {e}")),
            }
            out.push(SplitInput {
                namespace: ns,
                name,
                service,
                weights: weights
                    .into_iter()
                    .map(|(s, w)| (s, u64::from(w)))
                    .collect(),
                observed_rps,
            });
        }
        out
    }

    /// `weft authz explain` for a pod of the workload the page shows.
    async fn explain_for(&self, q: ExplainQuery) -> anyhow::Result<String> {
        let mut parts = q.workload.splitn(3, '/');
        let (Some(ns), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            anyhow::bail!("pick a workload in the graph first");
        };
        let port: u16 = q
            .port
            .parse()
            .map_err(|_| anyhow::anyhow!("port {:?}: give the app's port number", q.port))?;
        let source: Caller = q
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("caller {:?}: {e}", q.from))?;
        let loaded = cluster::load(&self.client, &self.settings).await?;
        let pod = loaded
            .index
            .pod_summaries()
            .into_iter()
            .filter(|p| p.meshed)
            .find(|p| {
                let (pns, pkind, pname) = key_of(p);
                pns == ns && pkind.eq_ignore_ascii_case(kind) && pname == name
            })
            .ok_or_else(|| anyhow::anyhow!("{} has no meshed pod", q.workload))?;
        let question = Question {
            source,
            namespace: ns.into(),
            pod: pod.name,
            port,
            traffic: Traffic::Http {
                method: if q.method.is_empty() {
                    "GET".into()
                } else {
                    q.method.to_uppercase()
                },
                path: if q.path.is_empty() {
                    "/".into()
                } else {
                    q.path
                },
                headers: Vec::new(),
            },
        };
        // The index just loaded answers too: one read of the cluster.
        cluster::explain_in(&self.client, loaded, &question).await
    }
}

/// `weft stat` (or with `edges`, `weft edges`) of `target` in `ns`.
async fn fetch(
    client: Client,
    ns: String,
    target: String,
    edges: bool,
) -> Result<Vec<Row>, String> {
    let q = stat::parse_target(&target).and_then(|t| stat::Query::new(t, ns, None, edges))?;
    stat::fetch(&client, &q).await.map_err(|e| e.to_string())
}

/// What the policy of `pod`'s declared ports says: whether anything targets
/// the workload, its default, and every identity a rule allows something.
/// The ports the server side of `of`'s edges saw requests or connections on.
fn served_ports(of: &graph::Id, edges: &[(graph::Id, Row)]) -> BTreeSet<u16> {
    edges
        .iter()
        .filter(|(id, r)| id == of && r.edge.as_ref().is_some_and(EdgeRow::by_server))
        .flat_map(|(_, r)| {
            let shapes = r
                .requests
                .keys()
                .filter_map(|s| s.split(' ').next()?.parse().ok());
            shapes
                .chain(r.tcp_connections.keys().copied())
                .collect::<Vec<u16>>()
        })
        .collect()
}

fn policy_of(
    index: &mut Index,
    pod: &PodSummary,
    ports: &BTreeSet<u16>,
    w: &mut Workload,
    grants: &mut Vec<Grant>,
) {
    let mut seen = BTreeSet::new();
    for &port in ports {
        let Ok(rx) = index.inbound(&pod.namespace, &pod.name, port) else {
            continue;
        };
        let policy = rx.borrow().clone();
        w.targeted |= policy.targeted;
        w.default_allow = policy.default_policy() == DefaultPolicy::Allow;
        for a in &policy.authorizations {
            // A rule that failed closed (a missing route group) allows nothing.
            if a.rules.is_none()
                || matches!(a.rules, Some(Rules::HttpRoutes(ref r)) if r.routes.is_empty())
            {
                continue;
            }
            for identity in a.clients.iter().flat_map(|c| &c.identities) {
                let Ok(id) = identity.parse::<SpiffeId>() else {
                    continue;
                };
                let from = (id.namespace().to_string(), id.service_account().to_string());
                if seen.insert((from.clone(), a.name.clone())) {
                    grants.push(Grant {
                        from,
                        to: w.id(),
                        authorization: a.name.clone(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_k8s_api::metrics::ObjectReference;

    fn side(of: &str, side: &str, shapes: &[&str], tcp: &[u16]) -> (graph::Id, Row) {
        let r = Row {
            requests: shapes.iter().map(|s| (s.to_string(), 1)).collect(),
            tcp_connections: tcp.iter().map(|p| (*p, 1)).collect(),
            edge: Some(EdgeRow {
                direction: "from".into(),
                side: side.into(),
                peer: ObjectReference::default(),
            }),
            ..Default::default()
        };
        (graph::id("shop", "Deployment", of), r)
    }

    #[test]
    fn the_ports_a_workloads_proxies_served_on() {
        let edges = vec![
            side("api", "server", &["8081 GET /a", "9000 POST /b"], &[7000]),
            side("api", "client", &["1 GET /c"], &[2]),
            side("web", "server", &["80 GET /"], &[]),
        ];
        let api = graph::id("shop", "Deployment", "api");
        assert_eq!(served_ports(&api, &edges), [7000, 8081, 9000].into());
    }
}
