//! HTTPRoutes and GRPCRoutes seen through one view, and the Services a
//! route names.

use super::super::Kind;
use super::super::store::{ObjKey, Store};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use weft_k8s_api::gateway::filter::RouteFilter;
use weft_k8s_api::gateway::grpc::GrpcRouteMatch;
use weft_k8s_api::gateway::http::{HttpRouteMatch, HttpRouteRetry, HttpRouteTimeouts};
use weft_k8s_api::gateway::refs::{BackendObjectReference, BackendRef, ParentReference};
use weft_k8s_api::gateway::{GRPCRoute, HTTPRoute};

/// One route of either kind, with its key.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Route<'a> {
    Http(&'a ObjKey, &'a HTTPRoute),
    Grpc(&'a ObjKey, &'a GRPCRoute),
}

/// One rule of either kind. GRPCRoute has no timeouts or retry.
pub(crate) struct Rule<'a> {
    pub name: Option<&'a str>,
    pub matches: Matches<'a>,
    pub filters: &'a [RouteFilter],
    pub backend_refs: &'a [BackendRef],
    pub timeouts: Option<&'a HttpRouteTimeouts>,
    pub retry: Option<&'a HttpRouteRetry>,
}

pub(crate) enum Matches<'a> {
    Http(&'a [HttpRouteMatch]),
    Grpc(&'a [GrpcRouteMatch]),
}

impl<'a> Route<'a> {
    pub fn kind(self) -> Kind {
        match self {
            Route::Http(..) => Kind::HttpRoute,
            Route::Grpc(..) => Kind::GrpcRoute,
        }
    }

    pub fn key(self) -> &'a ObjKey {
        match self {
            Route::Http(k, _) | Route::Grpc(k, _) => k,
        }
    }

    pub fn meta(self) -> &'a ObjectMeta {
        match self {
            Route::Http(_, r) => &r.metadata,
            Route::Grpc(_, r) => &r.metadata,
        }
    }

    pub fn parent_refs(self) -> &'a [ParentReference] {
        match self {
            Route::Http(_, r) => &r.spec.parent_refs,
            Route::Grpc(_, r) => &r.spec.parent_refs,
        }
    }

    /// `<kind>/<namespace>/<name>`, as RouteRule.route spells it.
    pub fn name(self) -> String {
        let k = self.key();
        format!("{}/{}/{}", self.kind().as_str(), k.ns, k.name)
    }

    pub fn rules(self) -> Vec<Rule<'a>> {
        match self {
            Route::Http(_, r) => r
                .spec
                .rules
                .iter()
                .map(|r| Rule {
                    name: r.name.as_deref(),
                    matches: Matches::Http(&r.matches),
                    filters: &r.filters,
                    backend_refs: &r.backend_refs,
                    timeouts: r.timeouts.as_ref(),
                    retry: r.retry.as_ref(),
                })
                .collect(),
            Route::Grpc(_, r) => r
                .spec
                .rules
                .iter()
                .map(|r| Rule {
                    name: r.name.as_deref(),
                    matches: Matches::Grpc(&r.matches),
                    filters: &r.filters,
                    backend_refs: &r.backend_refs,
                    timeouts: None,
                    retry: None,
                })
                .collect(),
        }
    }

    /// Every backend reference: the rules' backendRefs and the targets of
    /// their mirrors, the backendRefs' own filters included.
    pub fn backend_objects(self) -> Vec<&'a BackendObjectReference> {
        let mirrors = |filters: &'a [RouteFilter]| {
            filters
                .iter()
                .filter_map(|f| f.request_mirror.as_ref().map(|m| &m.backend_ref))
        };
        let mut out = Vec::new();
        for rule in self.rules() {
            out.extend(mirrors(rule.filters));
            for b in rule.backend_refs {
                out.push(&b.reference);
                out.extend(mirrors(&b.filters));
            }
        }
        out
    }
}

/// Every route of both kinds.
pub(crate) fn all(store: &Store) -> impl Iterator<Item = Route<'_>> {
    let http = store.http_routes.iter().map(|(k, r)| Route::Http(k, r));
    http.chain(store.grpc_routes.iter().map(|(k, r)| Route::Grpc(k, r)))
}

/// The routes of both kinds in one namespace.
pub(crate) fn in_namespace<'a>(
    store: &'a Store,
    ns: &str,
) -> impl Iterator<Item = Route<'a>> + use<'a> {
    let (a, b) = (ns.to_owned(), ns.to_owned());
    let http = in_ns_owned(&store.http_routes, a).map(|(k, r)| Route::Http(k, r));
    http.chain(in_ns_owned(&store.grpc_routes, b).map(|(k, r)| Route::Grpc(k, r)))
}

/// `in_ns`, for a namespace that need not outlive the objects.
fn in_ns_owned<T>(map: &BTreeMap<ObjKey, T>, ns: String) -> impl Iterator<Item = (&ObjKey, &T)> {
    map.range(ObjKey::new(&ns, "")..)
        .take_while(move |(k, _)| k.ns == ns)
}

/// The Service a parentRef names, and the port it narrows to (`None`: all).
/// The API defaults an absent group to Gateway API's own, so only an
/// explicit core group names a Service.
pub(crate) fn service_parent(route_ns: &str, p: &ParentReference) -> Option<(ObjKey, Option<i32>)> {
    let is_service = p.group.as_deref() == Some("") && p.kind.as_deref() == Some("Service");
    is_service.then(|| {
        let ns = p.namespace.as_deref().unwrap_or(route_ns);
        (ObjKey::new(ns, &p.name), p.port)
    })
}

/// The Service a backend reference names, if it names one.
pub(crate) fn service_backend(route_ns: &str, r: &BackendObjectReference) -> Option<ObjKey> {
    let core = r.group.as_deref().is_none_or(str::is_empty);
    let service = r.kind.as_deref().is_none_or(|k| k == "Service");
    (core && service).then(|| ObjKey::new(r.namespace.as_deref().unwrap_or(route_ns), &r.name))
}

/// The Services a route attaches to.
pub(crate) fn service_parents(route: Route<'_>) -> impl Iterator<Item = ObjKey> + '_ {
    let ns = &route.key().ns;
    route
        .parent_refs()
        .iter()
        .filter_map(move |p| service_parent(ns, p).map(|(k, _)| k))
}

/// (backend Service, parent Service) for every Service the route sends or
/// mirrors to and every Service it attaches to: whose answers a change of
/// the backend reaches.
pub(crate) fn route_links(route: Route<'_>) -> Vec<(ObjKey, ObjKey)> {
    let ns = &route.key().ns;
    let parents: Vec<ObjKey> = service_parents(route).collect();
    let mut out = Vec::new();
    for b in route.backend_objects() {
        if let Some(backend) = service_backend(ns, b) {
            out.extend(parents.iter().map(|p| (backend.clone(), p.clone())));
        }
    }
    out.sort();
    out.dedup();
    out
}
