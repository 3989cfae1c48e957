//! Gateway API routes in the mesh: has weft-controller accepted every
//! HTTPRoute and GRPCRoute attached to a Service (its `status.parents`
//! entry for each Service parent says `Accepted` and `ResolvedRefs`), and
//! does any TrafficSplit lose to such a route.

use super::{Line, listing};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use weft_api::contract::gateway::CONTROLLER_NAME;
use weft_controller::index::{Config, Finding, Index, Kind, Resource, reason};
use weft_k8s_api::gateway::{
    GRPC_ROUTE, GRPCRoute, HTTP_ROUTE, HTTPRoute,
    refs::ParentReference,
    status::{RouteParentStatus, conditions as c},
};

pub const CHECK: &str = "Gateway API routes";

/// A message longer than this is cut in the check's line.
const MESSAGE_CHARS: usize = 160;

/// One route as the check reads it.
#[derive(Clone, Copy, Debug)]
pub struct Route<'a> {
    pub kind: &'static str,
    pub meta: &'a ObjectMeta,
    pub parents: &'a [ParentReference],
    pub status: &'a [RouteParentStatus],
}

impl<'a> From<&'a HTTPRoute> for Route<'a> {
    fn from(r: &'a HTTPRoute) -> Self {
        Self {
            kind: HTTP_ROUTE,
            meta: &r.metadata,
            parents: &r.spec.parent_refs,
            status: r.status.as_ref().map_or(&[], |s| s.parents.as_slice()),
        }
    }
}

impl<'a> From<&'a GRPCRoute> for Route<'a> {
    fn from(r: &'a GRPCRoute) -> Self {
        Self {
            kind: GRPC_ROUTE,
            meta: &r.metadata,
            parents: &r.spec.parent_refs,
            status: r.status.as_ref().map_or(&[], |s| s.parents.as_slice()),
        }
    }
}

impl<'a> Route<'a> {
    /// The route among listed objects, if it is one.
    pub fn of(r: &'a Resource) -> Option<Self> {
        match r {
            Resource::HttpRoute(h) => Some(h.into()),
            Resource::GrpcRoute(g) => Some(g.into()),
            _ => None,
        }
    }

    fn name(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind,
            self.meta.namespace.as_deref().unwrap_or_default(),
            self.meta.name.as_deref().unwrap_or_default()
        )
    }

    /// Its parentRefs that name a Service (the API defaults an absent
    /// group to Gateway API's own, so a Service parent spells `group: ""`).
    pub fn service_parents(&self) -> Vec<&'a ParentReference> {
        let mut out: Vec<&ParentReference> = Vec::new();
        for p in self.parents {
            let service = p.group.as_deref() == Some("") && p.kind.as_deref() == Some("Service");
            if service && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// What keeps weft from applying the route as written, one entry per
    /// Service parent; empty when every parent is accepted and resolved.
    fn problems(&self) -> Vec<String> {
        let ns = self.meta.namespace.as_deref().unwrap_or_default();
        let mut out = Vec::new();
        for p in self.service_parents() {
            let parent = format!(
                "Service {}/{}{}",
                p.namespace.as_deref().unwrap_or(ns),
                p.name,
                p.port.map(|p| format!(" port {p}")).unwrap_or_default()
            );
            let ours = self
                .status
                .iter()
                .find(|s| s.controller_name == CONTROLLER_NAME && &s.parent_ref == p);
            let Some(ours) = ours else {
                out.push(format!(
                    "{parent}: no status from {CONTROLLER_NAME} yet (is weft-controller running, and may it patch {}s/status?)",
                    self.kind.to_lowercase()
                ));
                continue;
            };
            let mut bad: Vec<String> = [c::ACCEPTED, c::RESOLVED_REFS]
                .into_iter()
                .filter_map(|t| not_true(t, &ours.conditions))
                .collect();
            if bad.is_empty() {
                let generation = self.meta.generation;
                let stale = ours
                    .conditions
                    .iter()
                    .any(|c| generation.is_some() && c.observed_generation < generation);
                if stale {
                    bad.push(format!(
                        "status is for an older generation than {}: not judged since the last change",
                        generation.unwrap_or_default()
                    ));
                }
            }
            if !bad.is_empty() {
                out.push(format!("{parent}: {}", bad.join("; ")));
            }
        }
        out
    }
}

/// Why condition `type_` is not `True`, or `None` when it is.
fn not_true(type_: &str, conditions: &[Condition]) -> Option<String> {
    let Some(c) = conditions.iter().find(|c| c.type_ == type_) else {
        return Some(format!("{type_} missing"));
    };
    (c.status != "True").then(|| {
        let mut message: String = c.message.chars().take(MESSAGE_CHARS).collect();
        if c.message.chars().count() > MESSAGE_CHARS {
            message.push('…');
        }
        format!("{type_}={} {}: {message}", c.status, c.reason)
    })
}

/// The routes line. `served` is whether the API server serves HTTPRoute
/// or GRPCRoute at all (the Gateway API CRDs are installed).
pub fn routes(served: bool, routes: &[Route<'_>]) -> Line {
    if !served {
        return Line::pass(
            CHECK,
            "Gateway API CRDs not installed: HTTPRoute and GRPCRoute are not in use",
        );
    }
    let attached: Vec<&Route<'_>> = routes
        .iter()
        .filter(|r| !r.service_parents().is_empty())
        .collect();
    if attached.is_empty() {
        return Line::pass(
            CHECK,
            "no HTTPRoute or GRPCRoute has a Service parent (routes attached to Gateways are not the mesh's)",
        );
    }
    let failing: Vec<String> = attached
        .iter()
        .filter_map(|r| {
            let p = r.problems();
            (!p.is_empty()).then(|| format!("{} ({})", r.name(), p.join("; ")))
        })
        .collect();
    if failing.is_empty() {
        return Line::pass(
            CHECK,
            format!(
                "{} route(s) attached to Services, each Accepted with ResolvedRefs by {CONTROLLER_NAME}",
                attached.len()
            ),
        );
    }
    Line::warn(
        CHECK,
        format!(
            "{} of {} route(s) attached to Services are not applied as written: {}",
            failing.len(),
            attached.len(),
            listing_of(&failing, 3)
        ),
        "kubectl get <kind> -n <namespace> <name> -o yaml shows status.parents; what each reason means: docs/gateway-api.md#route-status",
    )
}

/// The first `shown` entries, then how many more.
fn listing_of(all: &[String], shown: usize) -> String {
    if all.len() <= shown {
        return all.join(", ");
    }
    let first: Vec<String> = all[..shown].to_vec();
    format!("{}, and {} more", first.join(", "), all.len() - shown)
}

/// TrafficSplits ignored on a port because Gateway API routes attach to
/// it, as weft-controller reports them (the `SplitOverriddenByRoute`
/// Event), judged by the controller's own index from the Services, splits
/// and routes listed.
pub fn overridden_splits(objects: Vec<Resource>) -> Vec<Finding> {
    let trust_domain = weft_api::contract::control_plane::DEFAULT_TRUST_DOMAIN
        .parse()
        .expect("the default trust domain parses");
    let mut index = Index::new(Config::new(trust_domain));
    let mut by_kind: std::collections::BTreeMap<Kind, Vec<Resource>> = Default::default();
    for o in objects {
        by_kind.entry(o.kind()).or_default().push(o);
    }
    for (kind, all) in by_kind {
        index.reset(kind, all);
    }
    index
        .findings()
        .into_iter()
        .filter(|f| f.reason == reason::SPLIT_OVERRIDDEN_BY_ROUTE)
        .collect()
}

/// The line for [`overridden_splits`]' findings, if there are any.
pub fn splits(findings: &[Finding]) -> Option<Line> {
    if findings.is_empty() {
        return None;
    }
    let named: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "TrafficSplit {}/{}: {}",
                f.namespace.as_deref().unwrap_or_default(),
                f.name,
                f.message
            )
        })
        .collect();
    Some(Line::warn(
        CHECK,
        format!(
            "{} TrafficSplit finding(s) {}: {}",
            findings.len(),
            reason::SPLIT_OVERRIDDEN_BY_ROUTE,
            listing(&named)
        ),
        "the route decides where that Service's requests go: move the split's weights into the route's backendRefs and delete the TrafficSplit, or delete the route (docs/gateway-api.md#gateway-api-routes-and-smi)",
    ))
}

#[cfg(test)]
mod tests;
