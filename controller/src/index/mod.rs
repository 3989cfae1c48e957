//! The pure policy index: everything the controller serves, computed from
//! the objects its watches have seen, with no kube client and no gRPC.
//!
//! The kube glue feeds it typed objects; the gRPC servers subscribe to it:
//!
//! ```text
//! Config::new(TrustDomain)                    then set cluster_domain, default_policy, cluster_networks
//! Index::new(Config)
//! Index::apply(Resource)                       add or update one object
//! Index::delete(Kind, Option<&str>, &str)      remove one object (namespace, name)
//! Index::reset(Kind, Vec<Resource>)            a relist, applied as one swap
//! Index::inbound(ns, pod, port)                -> Result<watch::Receiver<Arc<InboundPolicyUpdate>>, InboundError>
//! Index::pod_identity(ns, pod)                 -> Option<String>
//! Index::outbound(Target, source_ns)           -> Result<watch::Receiver<Arc<Outbound>>, OutboundError>
//! Index::findings()                            -> Vec<Finding>   (sorted, for Events)
//! Index::route_statuses(&Time)                 -> Vec<RouteStatusUpdate>  (Gateway API route status to write)
//! Index::changes()                             -> watch::Receiver<()>  (sees every change of the objects held)
//! Index::injected_namespaces()                 -> BTreeSet<String>
//! Index::meshed_pods()                         -> Vec<MeshedPod>  (for TrafficMetrics)
//! Index::split_backends()                      -> SplitBackends  (every split's backends and their pods)
//! Index::pod_summaries()                       -> Vec<PodSummary>  (every pod, for weft dashboard)
//! Index::split_weights()                       -> SplitWeights  (every split's root and weights)
//! Index::namespace_labels()                    -> BTreeMap<String, BTreeMap<String, String>>
//! Index::subscriptions()                       -> Subscriptions  (live counts)
//! ```
//!
//! Subscriptions are `tokio::sync::watch` channels whose senders the index
//! keeps. Each change works out the scope it can affect (a TrafficTarget or
//! route → the pods of its namespace; a pod → itself and the services whose
//! EndpointSlices name it; a Service → the pods it selects; a Service or
//! slice → that Service and the splits using it as a backend; a split → its
//! root; an HTTPRoute or GRPCRoute → the Services it attaches to; a
//! ReferenceGrant → the Services of the routes reaching into its namespace;
//! a Service or slice → also the parents of the routes sending to it; a
//! namespace → everything in it) and recomputes only the
//! subscriptions in that scope, sending only when the value changed. Senders
//! nobody listens to any more are dropped when they come up for
//! recomputation and whenever a new subscription is made. An inbound sender
//! is also dropped when its pod disappears or stops being meshed, which ends
//! the receiver's stream.
//!
//! The index answers from what it holds. Answering only after every watch's
//! initial list (so that a missing route group is judged only after sync) is
//! the glue's job.
//!
//! The semantics are those of "Policy" in the design; the choices it leaves
//! open are documented where they are made ([`inbound`], [`protocols`],
//! [`outbound`], [`split`], [`canonical`], [`gateway`]).

mod annotations;
mod canonical;
mod endpoints;
mod findings;
mod gateway;
mod inbound;
mod networks;
mod outbound;
mod pods;
mod probes;
mod protocols;
mod routes;
mod scope;
mod split;
mod store;
mod subscriptions;
mod targets;
mod workloads;

#[cfg(test)]
mod tests;

pub use findings::{Finding, reason};
pub use gateway::status::RouteStatusUpdate;
pub use outbound::{Outbound, OutboundError, Target};
pub use workloads::{MeshedPod, Owner, PodSummary, SplitBackends, SplitWeights};

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::ServiceCIDR;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use weft_api::contract::annotations as ann;
use weft_api::contract::control_plane::DEFAULT_CLUSTER_DOMAIN;
use weft_api::policy::{DefaultPolicy, InboundPolicyUpdate};
use weft_k8s_api::access::TrafficTarget;
use weft_k8s_api::gateway::{GRPCRoute, HTTPRoute, ReferenceGrant};
use weft_k8s_api::specs::{HTTPRouteGroup, TCPRoute, UDPRoute};
use weft_k8s_api::split::TrafficSplit;
use weft_tls::TrustDomain;

use scope::Scope;
use store::{ObjKey, Store};

/// Mesh-wide settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The trust domain of every workload's SPIFFE id.
    pub trust_domain: TrustDomain,
    /// The Kubernetes cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// Used where neither the pod nor its namespace sets
    /// `weft.io/default-policy`.
    pub default_policy: DefaultPolicy,
    /// Networks inside the cluster besides those the cluster publishes
    /// (its nodes' pod CIDRs and its ServiceCIDRs, which the index follows).
    /// An address inside any of them that no pod or Service has (yet) is
    /// answered `Unavailable`, never `NotMeshed`, so no proxy falls back to
    /// plaintext towards the cluster.
    pub cluster_networks: Vec<IpNet>,
}

impl Config {
    /// The defaults: cluster domain `cluster.local`, default policy `allow`,
    /// no networks besides the cluster's own.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.into(),
            default_policy: DefaultPolicy::Allow,
            cluster_networks: Vec::new(),
        }
    }
}

/// One object, as the watches decode it.
// A Resource only passes through on its way into the store's typed maps;
// boxing the large variants would cost an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Resource {
    Pod(Pod),
    Service(Service),
    EndpointSlice(EndpointSlice),
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    TrafficTarget(TrafficTarget),
    HttpRouteGroup(HTTPRouteGroup),
    TcpRoute(TCPRoute),
    UdpRoute(UDPRoute),
    TrafficSplit(TrafficSplit),
    /// Only its name and pod CIDRs (see `slim::node`).
    Node(Node),
    ServiceCidr(ServiceCIDR),
    HttpRoute(HTTPRoute),
    GrpcRoute(GRPCRoute),
    ReferenceGrant(ReferenceGrant),
}

/// The kinds the index holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Pod,
    Service,
    EndpointSlice,
    Namespace,
    ServiceAccount,
    TrafficTarget,
    HttpRouteGroup,
    TcpRoute,
    UdpRoute,
    TrafficSplit,
    Node,
    ServiceCidr,
    HttpRoute,
    GrpcRoute,
    ReferenceGrant,
}

impl Kind {
    /// The Kubernetes kind, as an Event's `involvedObject.kind` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Namespace => "Namespace",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::TrafficTarget => "TrafficTarget",
            Kind::HttpRouteGroup => "HTTPRouteGroup",
            Kind::TcpRoute => "TCPRoute",
            Kind::UdpRoute => "UDPRoute",
            Kind::TrafficSplit => "TrafficSplit",
            Kind::Node => "Node",
            Kind::ServiceCidr => "ServiceCIDR",
            Kind::HttpRoute => "HTTPRoute",
            Kind::GrpcRoute => "GRPCRoute",
            Kind::ReferenceGrant => "ReferenceGrant",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why there is no inbound policy for a pod.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("no pod {namespace}/{name} is known")]
    NoSuchPod { namespace: String, name: String },
    #[error(
        "pod {namespace}/{name} is not meshed (it has no {} container)",
        weft_api::contract::pod::PROXY_CONTAINER
    )]
    NotMeshed { namespace: String, name: String },
}

/// How many subscriptions the index keeps senders for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscriptions {
    pub inbound: usize,
    pub outbound: usize,
}

/// The index as the watches, the gRPC servers and the metrics API share it.
pub type SharedIndex = Arc<Mutex<Index>>;

/// The policy index. See the module documentation.
pub struct Index {
    cfg: Config,
    store: Store,
    subs: subscriptions::Subs,
    /// Poked whenever the objects held change.
    changes: watch::Sender<()>,
}

impl Index {
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            store: Store::default(),
            subs: subscriptions::Subs::default(),
            changes: watch::Sender::new(()),
        }
    }

    /// Adds or updates one object.
    pub fn apply(&mut self, r: Resource) {
        if self.store.holds(&r) {
            return;
        }
        let mut scope = Scope::default();
        scope.add(&self.store, &r);
        if let Some(old) = self.store.insert(r) {
            scope.add(&self.store, &old);
        }
        self.refresh(scope);
        self.changed();
    }

    /// Removes one object; `namespace` is `None` for namespaces.
    pub fn delete(&mut self, kind: Kind, namespace: Option<&str>, name: &str) {
        let key = ObjKey::new(namespace.unwrap_or(""), name);
        if let Some(old) = self.store.remove(kind, &key) {
            let mut scope = Scope::default();
            scope.add(&self.store, &old);
            self.refresh(scope);
            self.changed();
        }
    }

    /// Replaces every object of `kind` with `all` (a relist): objects absent
    /// from `all` are removed, and subscribers see only the end state.
    /// Objects of another kind in `all` are ignored.
    pub fn reset(&mut self, kind: Kind, all: Vec<Resource>) {
        let mut fresh = BTreeMap::new();
        for r in all {
            if r.kind() == kind {
                fresh.insert(ObjKey::of(r.meta()), r);
            } else {
                tracing::warn!(expected = %kind, got = %r.kind(), "relist holds an object of another kind; ignored");
            }
        }
        let mut scope = Scope::default();
        let mut changed = false;
        for key in self.store.keys(kind) {
            if !fresh.contains_key(&key)
                && let Some(old) = self.store.remove(kind, &key)
            {
                scope.add(&self.store, &old);
                changed = true;
            }
        }
        for r in fresh.into_values() {
            if self.store.holds(&r) {
                continue;
            }
            scope.add(&self.store, &r);
            if let Some(old) = self.store.insert(r) {
                scope.add(&self.store, &old);
            }
            changed = true;
        }
        self.refresh(scope);
        if changed {
            self.changed();
        }
    }

    /// Subscribes to the inbound policy of a meshed pod's port.
    pub fn inbound(
        &mut self,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> Result<watch::Receiver<Arc<InboundPolicyUpdate>>, InboundError> {
        let key = ObjKey::new(namespace, pod);
        if let Some(rx) = self.subs.inbound_rx(&key, port) {
            return Ok(rx);
        }
        let policy = inbound::policy(&self.store, &self.cfg, &key, port, &mut Vec::new())?;
        Ok(self.subs.add_inbound(key, port, policy))
    }

    /// The SPIFFE id a known pod runs as, meshed or not, so that the gRPC
    /// layer can refuse a proxy asking for another identity's pod.
    pub fn pod_identity(&self, namespace: &str, pod: &str) -> Option<String> {
        let pod = self.store.pods.get(&ObjKey::new(namespace, pod))?;
        pods::identity(&self.cfg, namespace, pod)
    }

    /// Subscribes to discovery for a destination, as seen from a pod in
    /// `source_ns` (which short names and consumer routes depend on).
    pub fn outbound(
        &mut self,
        target: Target,
        source_ns: &str,
    ) -> Result<watch::Receiver<Arc<Outbound>>, OutboundError> {
        let key = canonical::key(&target, source_ns, &self.cfg.cluster_domain)?;
        if let Some(rx) = self.subs.outbound_rx(&key, source_ns) {
            return Ok(rx);
        }
        let value = outbound::resolve(&self.store, &self.cfg, &key, source_ns);
        Ok(self.subs.add_outbound(key, source_ns, value))
    }

    /// The Gateway API routes whose `status.parents` differ from what weft
    /// means for them, each with the whole new list; `now` stamps the
    /// conditions that change.
    pub fn route_statuses(&self, now: &Time) -> Vec<RouteStatusUpdate> {
        gateway::all_routes(&self.store)
            .filter_map(|r| gateway::status::update(&self.store, &self.cfg, r, now))
            .collect()
    }

    /// Every invalid or dangling reference among the objects held, sorted,
    /// each once.
    pub fn findings(&self) -> Vec<Finding> {
        findings::all(&self.store, &self.cfg)
    }

    /// Sees a change whenever an object is added, updated or removed, which
    /// is when [`Index::findings`] may have changed. Computing findings takes
    /// the whole store, so the index leaves it to whoever waits here.
    pub fn changes(&self) -> watch::Receiver<()> {
        self.changes.subscribe()
    }

    /// Namespaces annotated `weft.io/inject: enabled`.
    pub fn injected_namespaces(&self) -> BTreeSet<String> {
        self.store
            .namespaces
            .iter()
            .filter(|(_, n)| {
                n.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(ann::INJECT))
                    .is_some_and(|v| v.trim() == ann::INJECT_ENABLED)
            })
            .map(|(k, _)| k.name.clone())
            .collect()
    }

    /// Running meshed pods with an address, and the workload owning each:
    /// what the TrafficMetrics scraper reads and aggregates by.
    pub fn meshed_pods(&self) -> Vec<MeshedPod> {
        workloads::meshed_pods(&self.store)
    }

    /// Every pod, meshed or not, with its owner and declared ports.
    pub fn pod_summaries(&self) -> Vec<PodSummary> {
        workloads::pod_summaries(&self.store)
    }

    /// Every TrafficSplit's root Service and backend weights.
    pub fn split_weights(&self) -> SplitWeights {
        workloads::split_weights(&self.store)
    }

    /// Every TrafficSplit's backends and the pods behind each, by name.
    pub fn split_backends(&self) -> SplitBackends {
        workloads::split_backends(&self.store)
    }

    /// Every namespace's labels.
    pub fn namespace_labels(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        workloads::namespace_labels(&self.store)
    }

    /// How many subscriptions have live senders.
    /// The networks treated as inside the cluster (see `networks`).
    pub fn cluster_networks(&self) -> Vec<IpNet> {
        let mut all: Vec<IpNet> = networks::all(&self.store, &self.cfg).collect();
        all.sort();
        all.dedup();
        all
    }

    pub fn subscriptions(&self) -> Subscriptions {
        self.subs.counts()
    }

    fn changed(&self) {
        self.changes.send_modify(|()| {});
    }

    fn refresh(&mut self, mut scope: Scope) {
        if scope.networks_changed() {
            let networks: Vec<String> = self
                .cluster_networks()
                .iter()
                .map(ToString::to_string)
                .collect();
            tracing::info!(networks = %networks.join(","), "the cluster's networks");
        }
        scope.expand(&self.store);
        self.subs.refresh(&self.store, &self.cfg, &scope);
    }
}
