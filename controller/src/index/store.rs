//! The objects the index holds, by kind, with the lookups the policy needs
//! kept up to date on every change (address → pod/Service, Service → its
//! EndpointSlices, pod → the slices naming it).

use super::gateway::{Route, route_links};
use super::{Kind, Resource, pods};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::api::networking::v1::ServiceCIDR;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use weft_k8s_api::access::TrafficTarget;
use weft_k8s_api::gateway::{GRPCRoute, HTTPRoute, ReferenceGrant};
use weft_k8s_api::specs::{HTTPRouteGroup, TCPRoute, UDPRoute};
use weft_k8s_api::split::TrafficSplit;

/// The label naming the Service an EndpointSlice belongs to.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Namespace and name; the namespace is empty for cluster-scoped objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjKey {
    pub ns: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(ns: &str, name: &str) -> Self {
        Self {
            ns: ns.to_owned(),
            name: name.to_owned(),
        }
    }

    pub fn of(meta: &ObjectMeta) -> Self {
        Self::new(
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or(""),
        )
    }

    pub fn namespace(name: &str) -> Self {
        Self::new("", name)
    }
}

/// Objects by kind, plus derived lookups.
#[derive(Default)]
pub(crate) struct Store {
    pub pods: BTreeMap<ObjKey, Pod>,
    pub services: BTreeMap<ObjKey, Service>,
    pub slices: BTreeMap<ObjKey, EndpointSlice>,
    pub namespaces: BTreeMap<ObjKey, Namespace>,
    pub service_accounts: BTreeMap<ObjKey, ServiceAccount>,
    pub targets: BTreeMap<ObjKey, TrafficTarget>,
    pub route_groups: BTreeMap<ObjKey, HTTPRouteGroup>,
    pub tcp_routes: BTreeMap<ObjKey, TCPRoute>,
    pub udp_routes: BTreeMap<ObjKey, UDPRoute>,
    pub splits: BTreeMap<ObjKey, TrafficSplit>,
    pub nodes: BTreeMap<ObjKey, Node>,
    pub service_cidrs: BTreeMap<ObjKey, ServiceCIDR>,
    pub http_routes: BTreeMap<ObjKey, HTTPRoute>,
    pub grpc_routes: BTreeMap<ObjKey, GRPCRoute>,
    pub grants: BTreeMap<ObjKey, ReferenceGrant>,
    pod_ips: HashMap<IpAddr, BTreeSet<ObjKey>>,
    service_ips: HashMap<IpAddr, BTreeSet<ObjKey>>,
    slices_by_service: HashMap<ObjKey, BTreeSet<ObjKey>>,
    /// (pod, slice) for every endpoint whose targetRef is a pod.
    slices_by_pod: BTreeSet<(ObjKey, ObjKey)>,
    /// (backend Service, parent Service, route kind, route) for every
    /// Service a Gateway API route sends to (or mirrors to) and every
    /// Service it attaches to.
    route_parents_by_backend: BTreeSet<(ObjKey, ObjKey, Kind, ObjKey)>,
    /// The networks the nodes and ServiceCIDRs publish, parsed and
    /// aggregated once per change of theirs rather than on every lookup of
    /// an unknown address (thousands of nodes' /24s merge into a few).
    pub published_networks: Vec<IpNet>,
}

/// Equality of objects; the SMI types (kube derives) compare by metadata
/// and spec, which is all they have.
trait Same {
    fn same(&self, other: &Self) -> bool;
}

macro_rules! same {
    (whole: $($t:ty),*; spec: $($c:ty),*) => {
        $(impl Same for $t {
            fn same(&self, other: &Self) -> bool {
                self == other
            }
        })*
        $(impl Same for $c {
            fn same(&self, other: &Self) -> bool {
                self.metadata == other.metadata && self.spec == other.spec
            }
        })*
    };
}

same!(
    whole: Pod, Service, EndpointSlice, Namespace, ServiceAccount, Node, ServiceCIDR;
    spec: TrafficTarget, HTTPRouteGroup, TCPRoute, UDPRoute, TrafficSplit, HTTPRoute, GRPCRoute,
        ReferenceGrant
);

macro_rules! kinds {
    ($($variant:ident => $field:ident),* $(,)?) => {
        impl Resource {
            pub fn kind(&self) -> Kind {
                match self { $(Resource::$variant(_) => Kind::$variant,)* }
            }

            pub(crate) fn meta(&self) -> &ObjectMeta {
                match self { $(Resource::$variant(o) => &o.metadata,)* }
            }
        }

        impl PartialEq for Resource {
            fn eq(&self, other: &Self) -> bool {
                match (self, other) {
                    $((Resource::$variant(a), Resource::$variant(b)) => a.same(b),)*
                    _ => false,
                }
            }
        }

        impl Store {
            /// Whether exactly this object is already held (a resync).
            pub fn holds(&self, r: &Resource) -> bool {
                match r {
                    $(Resource::$variant(o) => self.$field.get(&ObjKey::of(&o.metadata)).is_some_and(|held| held.same(o)),)*
                }
            }

            /// Stores `r`, returning the version it replaces.
            pub fn insert(&mut self, r: Resource) -> Option<Resource> {
                let key = ObjKey::of(r.meta());
                let kind = r.kind();
                let old = match r {
                    $(Resource::$variant(o) => self.$field.insert(key.clone(), o).map(Resource::$variant),)*
                };
                if let Some(old) = &old {
                    self.unindex(old);
                }
                self.index(&key, kind);
                old
            }

            pub fn remove(&mut self, kind: Kind, key: &ObjKey) -> Option<Resource> {
                let old = match kind {
                    $(Kind::$variant => self.$field.remove(key).map(Resource::$variant),)*
                };
                if let Some(old) = &old {
                    self.unindex(old);
                }
                old
            }

            pub fn keys(&self, kind: Kind) -> Vec<ObjKey> {
                match kind {
                    $(Kind::$variant => self.$field.keys().cloned().collect(),)*
                }
            }
        }
    };
}

kinds! {
    Pod => pods,
    Service => services,
    EndpointSlice => slices,
    Namespace => namespaces,
    ServiceAccount => service_accounts,
    TrafficTarget => targets,
    HttpRouteGroup => route_groups,
    TcpRoute => tcp_routes,
    UdpRoute => udp_routes,
    TrafficSplit => splits,
    Node => nodes,
    ServiceCidr => service_cidrs,
    HttpRoute => http_routes,
    GrpcRoute => grpc_routes,
    ReferenceGrant => grants,
}

impl Store {
    fn index(&mut self, key: &ObjKey, kind: Kind) {
        match kind {
            Kind::Pod => {
                let pod = &self.pods[key];
                if pods::routable(pod) {
                    for ip in pods::ips(pod) {
                        self.pod_ips.entry(ip).or_default().insert(key.clone());
                    }
                }
            }
            Kind::Service => {
                for ip in service_ips(&self.services[key]) {
                    self.service_ips.entry(ip).or_default().insert(key.clone());
                }
            }
            Kind::EndpointSlice => {
                let slice = &self.slices[key];
                if let Some(svc) = slice_service(slice) {
                    self.slices_by_service
                        .entry(svc)
                        .or_default()
                        .insert(key.clone());
                }
                let named: Vec<ObjKey> = slice_pods(slice).collect();
                for pod in named {
                    self.slices_by_pod.insert((pod, key.clone()));
                }
            }
            Kind::Node | Kind::ServiceCidr => self.publish_networks(),
            Kind::HttpRoute | Kind::GrpcRoute => {
                let links = self.route(kind, key).map(route_links).unwrap_or_default();
                for (backend, parent) in links {
                    self.route_parents_by_backend
                        .insert((backend, parent, kind, key.clone()));
                }
            }
            _ => {}
        }
    }

    fn route(&self, kind: Kind, key: &ObjKey) -> Option<Route<'_>> {
        match kind {
            Kind::HttpRoute => self
                .http_routes
                .get_key_value(key)
                .map(|(k, r)| Route::Http(k, r)),
            Kind::GrpcRoute => self
                .grpc_routes
                .get_key_value(key)
                .map(|(k, r)| Route::Grpc(k, r)),
            _ => None,
        }
    }

    fn publish_networks(&mut self) {
        let pods = self
            .nodes
            .values()
            .filter_map(|n| n.spec.as_ref())
            .flat_map(|s| s.pod_cidrs.iter().flatten().chain(s.pod_cidr.iter()));
        let services = self
            .service_cidrs
            .values()
            .filter_map(|c| c.spec.as_ref())
            .flat_map(|s| s.cidrs.iter().flatten());
        let all: Vec<IpNet> = pods
            .chain(services)
            .filter_map(|c| c.parse().ok())
            .collect();
        self.published_networks = IpNet::aggregate(&all);
    }

    fn unindex(&mut self, old: &Resource) {
        let key = ObjKey::of(old.meta());
        match old {
            Resource::Pod(pod) => {
                for ip in pods::ips(pod) {
                    remove_from(&mut self.pod_ips, &ip, &key);
                }
            }
            Resource::Service(svc) => {
                for ip in service_ips(svc) {
                    remove_from(&mut self.service_ips, &ip, &key);
                }
            }
            Resource::EndpointSlice(slice) => {
                if let Some(svc) = slice_service(slice) {
                    remove_from(&mut self.slices_by_service, &svc, &key);
                }
                for pod in slice_pods(slice) {
                    self.slices_by_pod.remove(&(pod, key.clone()));
                }
            }
            Resource::Node(_) | Resource::ServiceCidr(_) => self.publish_networks(),
            Resource::HttpRoute(r) => {
                self.unindex_route(Kind::HttpRoute, &key, Route::Http(&key, r));
            }
            Resource::GrpcRoute(r) => {
                self.unindex_route(Kind::GrpcRoute, &key, Route::Grpc(&key, r));
            }
            _ => {}
        }
    }

    fn unindex_route(&mut self, kind: Kind, key: &ObjKey, route: Route<'_>) {
        for (backend, parent) in route_links(route) {
            self.route_parents_by_backend
                .remove(&(backend, parent, kind, key.clone()));
        }
    }

    /// The Services that Gateway API routes sending to (or mirroring to)
    /// `backend` attach to.
    pub fn route_parents_of(&self, backend: &ObjKey) -> BTreeSet<ObjKey> {
        let from = (
            backend.clone(),
            ObjKey::default(),
            Kind::Pod,
            ObjKey::default(),
        );
        self.route_parents_by_backend
            .range(from..)
            .take_while(|(b, ..)| b == backend)
            .map(|(_, parent, ..)| parent.clone())
            .collect()
    }

    /// The Service whose cluster IP this is. Two Services never share one,
    /// so the first is as good as any.
    pub fn service_at(&self, ip: IpAddr) -> Option<&ObjKey> {
        self.service_ips.get(&ip)?.first()
    }

    /// The running, non-host-network pod with this IP (the first by name, if
    /// a finished pod's address was already reused).
    pub fn pod_at(&self, ip: IpAddr) -> Option<&ObjKey> {
        self.pod_ips.get(&ip)?.first()
    }

    /// The EndpointSlices of a Service.
    pub fn slices_of<'a>(&'a self, svc: &ObjKey) -> impl Iterator<Item = &'a EndpointSlice> {
        self.slices_by_service
            .get(svc)
            .into_iter()
            .flatten()
            .filter_map(|k| self.slices.get(k))
    }

    /// The Services whose slices name this pod.
    pub fn services_naming(&self, pod: &ObjKey) -> BTreeSet<ObjKey> {
        let from = (pod.clone(), ObjKey::default());
        self.slices_by_pod
            .range(from..)
            .take_while(|(p, _)| p == pod)
            .filter_map(|(_, slice)| self.slices.get(slice).and_then(slice_service))
            .collect()
    }

    pub fn namespace_annotations(&self, ns: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces
            .get(&ObjKey::namespace(ns))?
            .metadata
            .annotations
            .as_ref()
    }
}

/// The objects of one namespace in a map keyed by [`ObjKey`].
pub(crate) fn in_ns<'a, T>(
    map: &'a BTreeMap<ObjKey, T>,
    ns: &'a str,
) -> impl Iterator<Item = (&'a ObjKey, &'a T)> {
    map.range(ObjKey::new(ns, "")..)
        .take_while(move |(k, _)| k.ns == ns)
}

fn remove_from<K: std::hash::Hash + Eq>(map: &mut HashMap<K, BTreeSet<ObjKey>>, k: &K, v: &ObjKey) {
    if let Some(set) = map.get_mut(k) {
        set.remove(v);
        if set.is_empty() {
            map.remove(k);
        }
    }
}

/// A Service's cluster IPs (none for headless and ExternalName Services).
pub(crate) fn service_ips(svc: &Service) -> BTreeSet<IpAddr> {
    let Some(spec) = &svc.spec else {
        return BTreeSet::new();
    };
    spec.cluster_ips
        .iter()
        .flatten()
        .chain(spec.cluster_ip.iter())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The Service an EndpointSlice belongs to.
pub(crate) fn slice_service(slice: &EndpointSlice) -> Option<ObjKey> {
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(ObjKey::new(
        slice.metadata.namespace.as_deref().unwrap_or(""),
        name,
    ))
}

/// The pods a slice's endpoints refer to.
pub(crate) fn slice_pods(slice: &EndpointSlice) -> impl Iterator<Item = ObjKey> + '_ {
    let ns = slice.metadata.namespace.as_deref().unwrap_or("");
    slice
        .endpoints
        .iter()
        .filter_map(move |e| endpoint_pod(ns, e))
}

/// The pod an endpoint's targetRef names (in the slice's namespace unless
/// it says otherwise).
pub(crate) fn endpoint_pod(slice_ns: &str, e: &Endpoint) -> Option<ObjKey> {
    let r = e.target_ref.as_ref()?;
    if r.kind.as_deref() != Some("Pod") {
        return None;
    }
    Some(ObjKey::new(
        r.namespace.as_deref().unwrap_or(slice_ns),
        r.name.as_deref()?,
    ))
}
