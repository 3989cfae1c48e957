//! The index's tests, one behaviour each; the object builders are in
//! [`fixtures`], and readers of the index's answers here.

mod findings;
mod gateway;
mod inbound;
mod incremental;
mod outbound;
mod probes;
mod route_status;
mod split;
mod targets;

mod fixtures;

pub(super) use fixtures::*;

use super::{Config, Index, Outbound, Resource, Target};
pub(super) use k8s_openapi::api::core::v1::Probe;
pub(super) use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use weft_api::discovery::Meshed;
use weft_api::policy::authorization::Rules;
use weft_api::policy::{Authorization, InboundPolicyUpdate};

pub(super) fn cfg() -> Config {
    Config {
        cluster_networks: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
        ..Config::new("cluster.local".parse().unwrap())
    }
}

pub(super) fn index() -> Index {
    Index::new(cfg())
}

/// An index holding `objects`.
pub(super) fn index_with(objects: impl IntoIterator<Item = Resource>) -> Index {
    let mut ix = index();
    for o in objects {
        ix.apply(o);
    }
    ix
}

pub(super) fn id(ns: &str, sa: &str) -> String {
    format!("spiffe://cluster.local/ns/{ns}/sa/{sa}")
}

// ---- reading answers ----

/// The current inbound policy of a pod's port.
pub(super) fn policy(ix: &mut Index, ns: &str, pod: &str, port: u16) -> InboundPolicyUpdate {
    let rx = ix.inbound(ns, pod, port).expect("inbound policy");
    let p = rx.borrow();
    (**p).clone()
}

/// The current discovery answer.
pub(super) fn out(ix: &mut Index, target: &str) -> Outbound {
    let t = match target.parse() {
        Ok(a) => Target::Address(a),
        Err(_) => Target::Authority(target.into()),
    };
    let rx = ix.outbound(t, "client-ns").expect("outbound");
    let o = rx.borrow();
    (**o).clone()
}

pub(super) fn meshed(o: Outbound) -> Meshed {
    match o {
        Outbound::Meshed(m) => m,
        other => panic!("expected meshed, got {other:?}"),
    }
}

pub(super) fn names(p: &InboundPolicyUpdate) -> Vec<&str> {
    p.authorizations.iter().map(|a| a.name.as_str()).collect()
}

pub(super) fn authz<'a>(p: &'a InboundPolicyUpdate, name: &str) -> &'a Authorization {
    p.authorizations
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no authorization {name} in {:?}", names(p)))
}

pub(super) fn identities(a: &Authorization) -> Vec<&str> {
    let c = a.clients.as_ref().expect("clients");
    c.identities.iter().map(String::as_str).collect()
}

/// The route names of an `http_routes` authorization.
pub(super) fn route_names(a: &Authorization) -> Vec<&str> {
    match &a.rules {
        Some(Rules::HttpRoutes(r)) => r.routes.iter().map(|r| r.name.as_str()).collect(),
        other => panic!("expected http routes, got {other:?}"),
    }
}
