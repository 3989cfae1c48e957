//! Which subscriptions a change can affect.
//!
//! Each changed object (both its old and new versions) adds to a scope;
//! only subscriptions inside it are recomputed:
//!
//! - a pod: its own inbound policy, its addresses, and the Services whose
//!   EndpointSlices name it (its identity, readiness or opaque ports show in
//!   their endpoints and hints);
//! - a Service: itself, its cluster IPs, and the inbound policy of the pods
//!   it selects (its ports can declare theirs HTTP); an EndpointSlice: its
//!   Service;
//! - a TrafficTarget, TCPRoute or UDPRoute: the inbound policy of every pod
//!   of its namespace (the only namespace they bind);
//! - an HTTPRouteGroup: that too, and the roots of its namespace's splits;
//! - a TrafficSplit: its root;
//! - an HTTPRoute or GRPCRoute: the Services it attaches to;
//! - a ReferenceGrant: the Services the routes of other namespaces that
//!   send into its namespace attach to;
//! - a namespace: everything in it (its annotations are defaults for all);
//! - a ServiceAccount: nothing (identities come from the pods' spec);
//! - a Node or a ServiceCIDR: every address (they say which networks are
//!   inside the cluster).
//!
//! Then every Service in scope brings in the roots of the splits using it as
//! a backend, the Services of the routes sending (or mirroring) to it, and
//! its cluster IPs.

use super::canonical::OutKey;
use super::store::{ObjKey, Store, in_ns, service_ips, slice_service};
use super::{Resource, gateway, pods, protocols};
use std::collections::BTreeSet;
use std::net::IpAddr;

#[derive(Debug, Default)]
pub(crate) struct Scope {
    inbound_ns: BTreeSet<String>,
    inbound_pods: BTreeSet<ObjKey>,
    outbound_ns: BTreeSet<String>,
    services: BTreeSet<ObjKey>,
    addresses: BTreeSet<IpAddr>,
    /// The cluster's networks changed: every address may answer otherwise.
    all_addresses: bool,
}

impl Scope {
    pub fn add(&mut self, store: &Store, r: &Resource) {
        let key = ObjKey::of(r.meta());
        match r {
            Resource::Pod(p) => {
                self.addresses.extend(pods::ips(p));
                self.services.extend(store.services_naming(&key));
                self.inbound_pods.insert(key);
            }
            Resource::Service(s) => {
                self.addresses.extend(service_ips(s));
                let selected = protocols::selected(store, &key, s).cloned();
                self.inbound_pods.extend(selected);
                self.services.insert(key);
            }
            Resource::EndpointSlice(s) => self.services.extend(slice_service(s)),
            Resource::Namespace(_) => {
                self.inbound_ns.insert(key.name.clone());
                self.outbound_ns.insert(key.name);
            }
            Resource::ServiceAccount(_) => {}
            Resource::TrafficTarget(_) | Resource::TcpRoute(_) | Resource::UdpRoute(_) => {
                self.inbound_ns.insert(key.ns);
            }
            Resource::HttpRouteGroup(_) => {
                let roots = in_ns(&store.splits, &key.ns)
                    .map(|(_, s)| ObjKey::new(&key.ns, &s.spec.service));
                self.services.extend(roots);
                self.inbound_ns.insert(key.ns);
            }
            Resource::TrafficSplit(s) => {
                self.services.insert(ObjKey::new(&key.ns, &s.spec.service));
            }
            Resource::HttpRoute(r) => {
                let parents = gateway::service_parents(gateway::Route::Http(&key, r));
                self.services.extend(parents);
            }
            Resource::GrpcRoute(r) => {
                let parents = gateway::service_parents(gateway::Route::Grpc(&key, r));
                self.services.extend(parents);
            }
            Resource::ReferenceGrant(_) => {
                // Which routes a grant lets in depends on its every field;
                // the routes reaching into its namespace from elsewhere
                // are few, and a grant changes rarely.
                for route in gateway::all_routes(store) {
                    if route.key().ns == key.ns {
                        continue;
                    }
                    let reaching = gateway::route_links(route)
                        .into_iter()
                        .filter(|(backend, _)| backend.ns == key.ns)
                        .map(|(_, parent)| parent);
                    self.services.extend(reaching);
                }
            }
            Resource::Node(_) | Resource::ServiceCidr(_) => self.all_addresses = true,
        }
    }

    /// Adds what the changed objects reach through others, in the store's
    /// current state.
    pub fn expand(&mut self, store: &Store) {
        for ns in &self.outbound_ns {
            for (k, s) in in_ns(&store.services, ns) {
                self.services.insert(k.clone());
                self.addresses.extend(service_ips(s));
            }
            for (_, p) in in_ns(&store.pods, ns) {
                self.addresses.extend(pods::ips(p));
            }
        }
        let namespaces: BTreeSet<&str> = self.services.iter().map(|k| k.ns.as_str()).collect();
        let mut roots = Vec::new();
        for ns in namespaces {
            for (_, ts) in in_ns(&store.splits, ns) {
                let uses = ts
                    .spec
                    .backends
                    .iter()
                    .any(|b| self.services.contains(&ObjKey::new(ns, &b.service)));
                if uses {
                    roots.push(ObjKey::new(ns, &ts.spec.service));
                }
            }
        }
        let routing: Vec<ObjKey> = self
            .services
            .iter()
            .flat_map(|k| store.route_parents_of(k))
            .collect();
        self.services.extend(roots);
        self.services.extend(routing);
        for k in &self.services {
            if let Some(s) = store.services.get(k) {
                self.addresses.extend(service_ips(s));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.inbound_ns.is_empty()
            && self.inbound_pods.is_empty()
            && self.services.is_empty()
            && self.addresses.is_empty()
            && !self.all_addresses
    }

    pub fn networks_changed(&self) -> bool {
        self.all_addresses
    }

    pub fn has_inbound(&self, pod: &ObjKey) -> bool {
        self.inbound_ns.contains(&pod.ns) || self.inbound_pods.contains(pod)
    }

    pub fn has_outbound(&self, key: &OutKey) -> bool {
        match key {
            OutKey::Address(a) => self.all_addresses || self.addresses.contains(&a.ip()),
            OutKey::Service { svc, .. } => self.services.contains(svc),
            OutKey::ClusterName(_) | OutKey::External(_) => false,
        }
    }
}
