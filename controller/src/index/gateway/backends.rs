//! backendRefs (and mirror targets) as `route_backends` names.
//!
//! Only Services are backends (`group: ""`, `kind: Service`, both the
//! defaults), named with a port of theirs; the endpoints are the Service's
//! ready endpoints on that port. A Service in another namespace needs a
//! ReferenceGrant in its namespace from the route's kind and namespace to
//! Services (all, or this one), unless it is the route's own parent (a
//! consumer route passing its traffic on to where it was going): weft is
//! stricter than GAMMA requires here, so that a namespace decides who may
//! route into it. ExternalName
//! Services are refused, as Gateway API advises.

use super::super::endpoints;
use super::super::outbound::{canonical_name, service_port};
use super::super::store::{Store, in_ns};
use super::route::{Route, service_backend, service_parents};
use super::{Build, Problem};
use weft_api::discovery::{Backend, RouteBackend};
use weft_k8s_api::gateway::GROUP;
use weft_k8s_api::gateway::refs::{BackendObjectReference, BackendRef};
use weft_k8s_api::gateway::status::conditions as c;

/// A backendRef as the proxy's RouteBackend; an unusable one keeps its
/// weight with no backend.
pub(super) fn route_backend(b: &mut Build<'_>, route: Route<'_>, r: &BackendRef) -> RouteBackend {
    let backend = resolve(b, route, &r.reference).unwrap_or_else(|p| {
        b.problems.push(p);
        String::new()
    });
    let filters = r
        .filters
        .iter()
        .map(|f| super::filters::map(b, route, f))
        .collect();
    RouteBackend {
        backend,
        weight: r.weight.map_or(1, |w| u32::try_from(w).unwrap_or(0)),
        filters,
    }
}

/// The `route_backends` name of a reference, adding the backend on first
/// use, or why it cannot be used.
pub(super) fn resolve(
    b: &mut Build<'_>,
    route: Route<'_>,
    r: &BackendObjectReference,
) -> Result<String, Problem> {
    let from = &route.key().ns;
    let problem = |reason, message| Problem { reason, message };
    let Some(key) = service_backend(from, r) else {
        return Err(problem(
            c::REASON_INVALID_KIND,
            format!(
                "backendRef {}/{} {}: weft routes only to Services",
                r.group.as_deref().unwrap_or(""),
                r.kind.as_deref().unwrap_or(""),
                r.name
            ),
        ));
    };
    let named = format!("Service {}/{}", key.ns, key.name);
    // A consumer route may always send its traffic on to the Service it
    // is attached to (GAMMA): that traffic was headed there anyway.
    let own_parent = || service_parents(route).any(|p| p == key);
    if &key.ns != from
        && !own_parent()
        && !granted(b.store, route.kind().as_str(), from, &key.ns, &key.name)
    {
        return Err(problem(
            c::REASON_REF_NOT_PERMITTED,
            format!(
                "backendRef {named}: no ReferenceGrant in namespace {} lets {}s in {from} reference it",
                key.ns,
                route.kind().as_str()
            ),
        ));
    }
    let Some(port) = r
        .port
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
    else {
        return Err(problem(
            c::REASON_BACKEND_NOT_FOUND,
            format!("backendRef {named} names no port"),
        ));
    };
    let Some(svc) = b.store.services.get(&key) else {
        return Err(problem(
            c::REASON_BACKEND_NOT_FOUND,
            format!("backendRef {named} does not exist"),
        ));
    };
    if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return Err(problem(
            c::REASON_UNSUPPORTED_VALUE,
            format!("backendRef {named} is an ExternalName Service, which weft does not route to"),
        ));
    }
    let Some(sp) = service_port(svc, port) else {
        return Err(problem(
            c::REASON_BACKEND_NOT_FOUND,
            format!("backendRef {named} has no port {port}"),
        ));
    };
    let name = format!("{}:{port}", canonical_name(b.cfg, &key));
    if !b.backends.contains_key(&name) {
        let ready = if b.endpoints {
            endpoints::ready(b.store, b.cfg, &key, sp.name.as_deref().unwrap_or(""))
        } else {
            Vec::new()
        };
        let backend = Backend {
            name: name.clone(),
            weight: 0,
            endpoints: ready.iter().map(|r| r.endpoint.clone()).collect(),
        };
        b.backends.insert(name.clone(), backend);
        b.ready.extend(ready);
    }
    Ok(name)
}

/// Whether a ReferenceGrant in `to_ns` lets routes of `kind` in `from_ns`
/// reference Service `to_ns/name`.
fn granted(store: &Store, kind: &str, from_ns: &str, to_ns: &str, name: &str) -> bool {
    in_ns(&store.grants, to_ns).any(|(_, g)| {
        let from = g
            .spec
            .from
            .iter()
            .any(|f| f.group == GROUP && f.kind == kind && f.namespace == from_ns);
        let to = g.spec.to.iter().any(|t| {
            t.group.is_empty()
                && t.kind == "Service"
                && t.name.as_deref().is_none_or(|n| n.is_empty() || n == name)
        });
        from && to
    })
}
