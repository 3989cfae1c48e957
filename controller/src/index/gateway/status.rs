//! What weft says in a route's status: one `status.parents` entry per
//! Service parentRef, with `controllerName` weft's and two conditions.
//!
//! - `Accepted`: True when the Service exists (and has the parentRef's
//!   port, if it names one); else False, `NoMatchingParent`.
//! - `ResolvedRefs`: True when every backendRef and mirror resolves and
//!   every filter, match and duration is one weft applies; else False with
//!   the first problem's reason (`BackendNotFound`, `RefNotPermitted`,
//!   `InvalidKind`, `UnsupportedValue`) and every problem in the message.
//!   The problems are those flattening the route meets, so the status
//!   tells exactly what the proxies were told to fail or leave out.
//!
//! The list is atomic in the API: weft rewrites it whole, keeping other
//! controllers' entries and the conditions of other types on its own, and
//! a condition keeps its `lastTransitionTime` while its status holds.

use super::super::outbound::service_port;
use super::super::store::Store;
use super::super::{Config, Kind};
use super::route::{Route, service_parent};
use super::{Build, flatten};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use weft_api::contract::gateway::CONTROLLER_NAME;
use weft_k8s_api::gateway::refs::ParentReference;
use weft_k8s_api::gateway::status::{RouteParentStatus, conditions as c};

/// The most entries the API allows in `status.parents`.
const MAX_PARENTS: usize = 32;

/// A route whose status weft must write.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteStatusUpdate {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// The version the new list was computed from: the write must fail if
    /// the route changed since.
    pub resource_version: Option<String>,
    /// The whole new `status.parents`.
    pub parents: Vec<RouteParentStatus>,
}

/// One condition as weft means it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The update `route` needs, if any.
pub(crate) fn update(
    store: &Store,
    cfg: &Config,
    route: Route<'_>,
    now: &Time,
) -> Option<RouteStatusUpdate> {
    let meta = route.meta();
    let current = match route {
        Route::Http(_, r) => r.status.as_ref().map(|s| s.parents.as_slice()),
        Route::Grpc(_, r) => r.status.as_ref().map(|s| s.parents.as_slice()),
    };
    let parents = merge(
        current.unwrap_or_default(),
        wanted(store, cfg, route),
        meta.generation,
        now,
    )?;
    Some(RouteStatusUpdate {
        kind: route.kind(),
        namespace: route.key().ns.clone(),
        name: route.key().name.clone(),
        resource_version: meta.resource_version.clone(),
        parents,
    })
}

/// The conditions weft means for each Service parent of `route`.
pub(crate) fn wanted(
    store: &Store,
    cfg: &Config,
    route: Route<'_>,
) -> Vec<(ParentReference, Vec<Wanted>)> {
    let mut build = Build::judging(store, cfg);
    flatten::route(&mut build, route);
    let resolved = match build.problems.first() {
        None => Wanted {
            type_: c::RESOLVED_REFS,
            status: true,
            reason: c::REASON_RESOLVED_REFS,
            message: "every reference resolves".into(),
        },
        Some(first) => Wanted {
            type_: c::RESOLVED_REFS,
            status: false,
            reason: first.reason,
            message: build
                .problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        },
    };
    let ns = &route.key().ns;
    let mut out: Vec<(ParentReference, Vec<Wanted>)> = Vec::new();
    for p in route.parent_refs() {
        let Some((svc, port)) = service_parent(ns, p) else {
            continue;
        };
        if out.iter().any(|(q, _)| q == p) {
            continue;
        }
        let named = format!("Service {}/{}", svc.ns, svc.name);
        let refused = |message: String| Wanted {
            type_: c::ACCEPTED,
            status: false,
            reason: c::REASON_NO_MATCHING_PARENT,
            message,
        };
        let accepted = match store.services.get(&svc) {
            None => refused(format!("{named} does not exist")),
            Some(s) if s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName") => {
                refused(format!(
                    "{named} is an ExternalName Service, whose traffic weft does not mediate"
                ))
            }
            Some(s)
                if port.is_some_and(|p| {
                    u16::try_from(p).map_or(true, |p| service_port(s, p).is_none())
                }) =>
            {
                refused(format!("{named} has no port {}", port.unwrap_or_default()))
            }
            Some(_) => Wanted {
                type_: c::ACCEPTED,
                status: true,
                reason: c::REASON_ACCEPTED,
                message: if &svc.ns == ns {
                    format!("applies to every client of {named}")
                } else {
                    format!("applies to the clients of {named} in namespace {ns}")
                },
            },
        };
        out.push((p.clone(), vec![accepted, resolved.clone()]));
    }
    out
}

/// `current` with weft's entries replaced by `wanted`, or `None` when that
/// changes nothing.
pub(crate) fn merge(
    current: &[RouteParentStatus],
    wanted: Vec<(ParentReference, Vec<Wanted>)>,
    generation: Option<i64>,
    now: &Time,
) -> Option<Vec<RouteParentStatus>> {
    let ours = |s: &&RouteParentStatus| s.controller_name == CONTROLLER_NAME;
    let mut next: Vec<RouteParentStatus> = current.iter().filter(|s| !ours(s)).cloned().collect();
    for (parent_ref, conditions) in wanted {
        let old = current
            .iter()
            .filter(ours)
            .find(|s| s.parent_ref == parent_ref);
        let old_conditions = old.map(|s| s.conditions.as_slice()).unwrap_or_default();
        let mut all: Vec<Condition> = conditions
            .iter()
            .map(|w| condition(w, old_conditions, generation, now))
            .collect();
        all.extend(
            old_conditions
                .iter()
                .filter(|o| !conditions.iter().any(|w| w.type_ == o.type_))
                .cloned(),
        );
        next.push(RouteParentStatus {
            parent_ref,
            controller_name: CONTROLLER_NAME.into(),
            conditions: all,
        });
    }
    next.truncate(MAX_PARENTS);
    (next != current).then_some(next)
}

fn condition(w: &Wanted, old: &[Condition], generation: Option<i64>, now: &Time) -> Condition {
    let status = if w.status { "True" } else { "False" };
    let since = old
        .iter()
        .find(|o| o.type_ == w.type_ && o.status == status)
        .map_or_else(|| now.clone(), |o| o.last_transition_time.clone());
    Condition {
        type_: w.type_.into(),
        status: status.into(),
        reason: w.reason.into(),
        message: w.message.clone(),
        last_transition_time: since,
        observed_generation: generation,
    }
}
