//! TrafficSplits: how a root Service's traffic is spread over backends.
//!
//! - The root is the Service `spec.service` in the split's namespace; the
//!   backends are Services of that namespace, each with its own endpoints on
//!   the root port's number (a root listed as its own backend contributes its
//!   own endpoints).
//! - Several splits on one root: the oldest (creation time, then name) wins;
//!   the others are reported and ignored.
//! - A missing backend, or one without the requested port, is left out (no
//!   traffic on that port) and reported.
//! - `matches` name HTTPRouteGroups whose every match becomes a split route.
//!   A missing or unusable group is reported and dropped. If every group is
//!   dropped, no request can match, so nothing is split: the answer carries
//!   no backends and all traffic goes to the root's own endpoints (sending
//!   `split_matches: []` would mean "split every request" instead).
//! - Gateway API routes attached to a root's port take precedence: the
//!   split is ignored on that port (for the clients the routes apply to)
//!   and reported.

use super::endpoints::{self, Ready};
use super::findings::{Finding, reason};
use super::outbound::{canonical_name, service_port};
use super::routes;
use super::store::{ObjKey, Store, in_ns};
use super::{Config, Kind, gateway};
use std::cmp::Ordering;
use weft_api::discovery::Backend;
use weft_api::policy::HttpRoute;
use weft_k8s_api::split::TrafficSplit;

/// What the winning split on a root means for one port.
#[derive(Default)]
pub(crate) struct Split {
    pub backends: Vec<Backend>,
    pub matches: Vec<HttpRoute>,
    /// The backends' ready endpoints, for the protocol hint.
    pub ready: Vec<Ready>,
}

/// The split that governs `root`: the oldest naming it.
pub(crate) fn winner<'a>(
    store: &'a Store,
    root: &'a ObjKey,
) -> Option<(&'a ObjKey, &'a TrafficSplit)> {
    in_ns(&store.splits, &root.ns)
        .filter(|(_, s)| s.spec.service == root.name)
        .min_by(older)
}

fn older(a: &(&ObjKey, &TrafficSplit), b: &(&ObjKey, &TrafficSplit)) -> Ordering {
    // Not yet persisted (no timestamp) counts as newest.
    let at = |s: &TrafficSplit| {
        let t = s.metadata.creation_timestamp.as_ref();
        (t.is_none(), t.cloned())
    };
    at(a.1).cmp(&at(b.1)).then_with(|| a.0.name.cmp(&b.0.name))
}

/// The winning split on `root` for port `port` (nothing when no split).
pub(crate) fn apply(
    store: &Store,
    cfg: &Config,
    root: &ObjKey,
    port: u16,
    sink: &mut Vec<Finding>,
) -> Split {
    let Some((key, ts)) = winner(store, root) else {
        return Split::default();
    };
    let mut report = |reason: &'static str, message: String| {
        sink.push(Finding::new(
            Kind::TrafficSplit,
            &key.ns,
            &key.name,
            reason,
            message,
        ));
    };
    let mut out = Split::default();
    for m in &ts.spec.matches {
        if m.kind != "HTTPRouteGroup" {
            report(
                reason::UNSUPPORTED_MATCH_KIND,
                format!(
                    "match {}/{} is not an HTTPRouteGroup; dropped",
                    m.kind, m.name
                ),
            );
            continue;
        }
        match routes::group_routes(store, &key.ns, &m.name, &[]) {
            Ok(r) => out.matches.extend(r),
            Err(e) => report(e.reason(), format!("match {}: {e}; dropped", m.name)),
        }
    }
    for b in &ts.spec.backends {
        let bkey = ObjKey::new(&key.ns, &b.service);
        let Some(svc) = store.services.get(&bkey) else {
            report(
                reason::MISSING_BACKEND_SERVICE,
                format!(
                    "backend service {} does not exist; it gets no traffic",
                    b.service
                ),
            );
            continue;
        };
        let Some(sp) = service_port(svc, port) else {
            report(
                reason::BACKEND_LACKS_PORT,
                format!(
                    "backend service {} has no port {port} (a port of root {}); it gets no traffic on that port",
                    b.service, root.name
                ),
            );
            continue;
        };
        let ready = endpoints::ready(store, cfg, &bkey, sp.name.as_deref().unwrap_or(""));
        out.backends.push(Backend {
            name: canonical_name(cfg, &bkey),
            weight: b.weight,
            endpoints: ready.iter().map(|r| r.endpoint.clone()).collect(),
        });
        out.ready.extend(ready);
    }
    if !ts.spec.matches.is_empty() && out.matches.is_empty() {
        return Split::default();
    }
    out
}

/// Reports what about `ts` is ignored.
pub(crate) fn check(
    store: &Store,
    cfg: &Config,
    key: &ObjKey,
    ts: &TrafficSplit,
    sink: &mut Vec<Finding>,
) {
    let report = |reason: &'static str, message: String| {
        Finding::new(Kind::TrafficSplit, &key.ns, &key.name, reason, message)
    };
    let root = ObjKey::new(&key.ns, &ts.spec.service);
    let Some(svc) = store.services.get(&root) else {
        sink.push(report(
            reason::MISSING_ROOT_SERVICE,
            format!(
                "root service {} does not exist; the split does nothing",
                root.name
            ),
        ));
        return;
    };
    if let Some((w, _)) = winner(store, &root)
        && w != key
    {
        sink.push(report(
            reason::SPLIT_SUPERSEDED,
            format!(
                "TrafficSplit {} splits the same root service {} and is older; this one is ignored",
                w.name, root.name
            ),
        ));
        return;
    }
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
    for p in ports.into_iter().flatten() {
        if let Ok(port) = u16::try_from(p.port) {
            apply(store, cfg, &root, port, sink);
            overridden(store, key, &root, port, sink);
        }
    }
}

/// Reports the Gateway API routes that take precedence over the split on
/// `port` of its root.
fn overridden(store: &Store, key: &ObjKey, root: &ObjKey, port: u16, sink: &mut Vec<Finding>) {
    let routes = gateway::any_attached(store, root, port);
    if routes.is_empty() {
        return;
    }
    let named: Vec<String> = routes
        .iter()
        .map(|r| {
            let k = r.key();
            let who = if k.ns == root.ns {
                String::new()
            } else {
                format!(" (for clients in namespace {})", k.ns)
            };
            format!("{} {}/{}{who}", r.kind(), k.ns, k.name)
        })
        .collect();
    sink.push(Finding::new(
        Kind::TrafficSplit,
        &key.ns,
        &key.name,
        reason::SPLIT_OVERRIDDEN_BY_ROUTE,
        format!(
            "{} {} to port {port} of root service {} and {} precedence: this split is ignored there",
            named.join(", "),
            if named.len() == 1 { "attaches" } else { "attach" },
            root.name,
            if named.len() == 1 { "takes" } else { "take" },
        ),
    ));
}
