//! Which routes decide a Service port's traffic for a client.
//!
//! A route attaches to port `port` of Service `svc` when one of its
//! parentRefs names `svc` (`group: ""`, `kind: Service`, the namespace
//! defaulting to the route's) without a port or with that port. A route in
//! the Service's namespace is a producer route and applies to every
//! client; one in another namespace is a consumer route and applies only
//! to clients in its own namespace, where it replaces the producer routes:
//! a client namespace with any consumer route on the port uses only those.

use super::super::store::{ObjKey, Store};
use super::route::{self, Route, service_parent};

/// Whether `route` attaches to port `port` of `svc`.
pub(crate) fn attaches(route: Route<'_>, svc: &ObjKey, port: u16) -> bool {
    route.parent_refs().iter().any(|p| {
        service_parent(&route.key().ns, p)
            .is_some_and(|(k, p)| &k == svc && p.is_none_or(|p| p == i32::from(port)))
    })
}

/// The routes that decide what a client in `client_ns` sends to port
/// `port` of `svc`.
pub(crate) fn attached<'a>(
    store: &'a Store,
    svc: &ObjKey,
    port: u16,
    client_ns: &str,
) -> Vec<Route<'a>> {
    let on = |ns: &str| -> Vec<Route<'a>> {
        route::in_namespace(store, ns)
            .filter(|r| attaches(*r, svc, port))
            .collect()
    };
    if client_ns != svc.ns {
        let consumer = on(client_ns);
        if !consumer.is_empty() {
            return consumer;
        }
    }
    on(&svc.ns)
}

/// Every route attaching to port `port` of `svc`, producer or consumer.
pub(crate) fn any_attached<'a>(store: &'a Store, svc: &ObjKey, port: u16) -> Vec<Route<'a>> {
    route::all(store)
        .filter(|r| attaches(*r, svc, port))
        .collect()
}
