//! One destination's answer as the controller last described it: a snapshot
//! with incremental endpoint changes applied. Pure, so every update shape is
//! unit-tested.
//!
//! Endpoints are kept by identity across updates (same address and SPIFFE
//! id → the same `Arc<Endpoint>`), so the latency learnt about an endpoint
//! survives a new snapshot such as a TrafficSplit weight change; a pod in
//! several backends (the root and a route's backendRef to the same
//! Service) is one endpoint with one load. Gateway
//! API routes are compiled once per snapshot; endpoint changes keep the
//! table, and a new snapshot hands the rules that stay their balancing
//! state.

use super::{balance::ewma::Load, route::RouteTable};
use crate::metrics::Label;
use std::{collections::HashMap, net::SocketAddr, sync::Arc};
use weft_api::{
    discovery::{self as pb, DiscoveryUpdate, ProtocolHint, discovery_update::Kind},
    policy::HttpRoute,
};
use weft_tls::SpiffeId;

#[derive(Clone, Debug)]
pub enum Answer {
    Meshed(Arc<Meshed>),
    NotMeshed,
    Unavailable(String),
}

#[derive(Debug)]
pub struct Meshed {
    /// As a metrics label, shared by the requests that count it.
    pub service: Label,
    pub opaque: bool,
    pub root: Backend,
    pub splits: Vec<Backend>,
    pub split_matches: Vec<HttpRoute>,
    /// Gateway API routes; when not empty they decide every HTTP request
    /// and the split fields are empty.
    pub routes: Arc<RouteTable>,
    /// The Services the routes name, by `Backend::name`.
    pub route_backends: Vec<Backend>,
}

impl Meshed {
    /// The route backend named `name` (a `route_backends` name a route
    /// decision gives).
    pub fn route_backend(&self, name: &str) -> Option<&Backend> {
        self.route_backends.iter().find(|b| b.name == name)
    }
}

#[derive(Clone, Debug)]
pub struct Backend {
    pub name: String,
    pub weight: u32,
    pub endpoints: Vec<Arc<Endpoint>>,
}

#[derive(Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// `None`: the endpoint's pod is not meshed; reach it without mesh TLS.
    pub id: Option<SpiffeId>,
    pub load: Load,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("a change arrived before any snapshot")]
    NoSnapshot,
    #[error("a change names backend {0:?}, which the snapshot does not have")]
    UnknownBackend(String),
    #[error("an empty update")]
    Empty,
}

/// The answer after `update`, given the one before (`None` at first).
/// An error means the stream cannot be followed: subscribe again for a
/// fresh snapshot.
pub fn apply(prev: Option<&Answer>, update: DiscoveryUpdate) -> Result<Answer, StateError> {
    let mut known = known_endpoints(prev);
    match update.kind.ok_or(StateError::Empty)? {
        Kind::Meshed(m) => {
            let routes = match prev {
                Some(Answer::Meshed(p)) => Some(&*p.routes),
                _ => None,
            };
            Ok(Answer::Meshed(Arc::new(snapshot(m, &mut known, routes))))
        }
        Kind::NotMeshed(_) => Ok(Answer::NotMeshed),
        Kind::Unavailable(u) => Ok(Answer::Unavailable(u.reason)),
        Kind::Added(a) => {
            let mut m = meshed(prev)?;
            let b = backend_mut(&mut m, &a.backend)?;
            for e in a.endpoints.iter().filter_map(|e| endpoint(e, &mut known)) {
                b.endpoints.retain(|old| old.addr != e.addr);
                b.endpoints.push(e);
            }
            Ok(Answer::Meshed(Arc::new(m)))
        }
        Kind::Removed(r) => {
            let mut m = meshed(prev)?;
            let b = backend_mut(&mut m, &r.backend)?;
            b.endpoints
                .retain(|e| !r.addresses.iter().any(|a| a.parse() == Ok(e.addr)));
            Ok(Answer::Meshed(Arc::new(m)))
        }
    }
}

fn meshed(prev: Option<&Answer>) -> Result<Meshed, StateError> {
    match prev {
        Some(Answer::Meshed(m)) => Ok(Meshed {
            service: m.service.clone(),
            opaque: m.opaque,
            root: m.root.clone(),
            splits: m.splits.clone(),
            split_matches: m.split_matches.clone(),
            routes: m.routes.clone(),
            route_backends: m.route_backends.clone(),
        }),
        _ => Err(StateError::NoSnapshot),
    }
}

fn backend_mut<'a>(m: &'a mut Meshed, name: &str) -> Result<&'a mut Backend, StateError> {
    if m.root.name == name {
        return Ok(&mut m.root);
    }
    m.splits
        .iter_mut()
        .chain(&mut m.route_backends)
        .find(|b| b.name == name)
        .ok_or_else(|| StateError::UnknownBackend(name.to_string()))
}

type Known = HashMap<(SocketAddr, Option<SpiffeId>), Arc<Endpoint>>;

fn known_endpoints(prev: Option<&Answer>) -> Known {
    let mut known = Known::new();
    if let Some(Answer::Meshed(m)) = prev {
        for e in std::iter::once(&m.root)
            .chain(&m.splits)
            .chain(&m.route_backends)
            .flat_map(|b| &b.endpoints)
        {
            known.insert((e.addr, e.id.clone()), e.clone());
        }
    }
    known
}

fn snapshot(m: pb::Meshed, known: &mut Known, prev_routes: Option<&RouteTable>) -> Meshed {
    let opaque = m.protocol() == ProtocolHint::Opaque;
    let mut backend = |b: pb::Backend| Backend {
        endpoints: b
            .endpoints
            .iter()
            .filter_map(|e| endpoint(e, known))
            .collect(),
        name: b.name,
        weight: b.weight,
    };
    Meshed {
        service: m.service.into(),
        opaque,
        root: m.root.map(&mut backend).unwrap_or_else(|| Backend {
            name: String::new(),
            weight: 0,
            endpoints: Vec::new(),
        }),
        splits: m.split_backends.into_iter().map(&mut backend).collect(),
        split_matches: m.split_matches,
        routes: Arc::new(RouteTable::new(m.routes, prev_routes)),
        route_backends: m.route_backends.into_iter().map(backend).collect(),
    }
}

/// An unusable endpoint (bad address or id) is left out and logged: the
/// controller never sends one, and guessing could send plaintext. A new
/// one joins `known`, for the other backends of the same update.
fn endpoint(e: &pb::Endpoint, known: &mut Known) -> Option<Arc<Endpoint>> {
    let Ok(addr) = e.address.parse::<SocketAddr>() else {
        tracing::warn!(address = %e.address, "discovery sent an unusable endpoint address; skipped");
        return None;
    };
    let id = if e.identity.is_empty() {
        None
    } else {
        match e.identity.parse::<SpiffeId>() {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::warn!(%addr, identity = %e.identity, %error, "discovery sent an unusable identity; endpoint skipped");
                return None;
            }
        }
    };
    Some(
        known
            .entry((addr, id.clone()))
            .or_insert_with(|| {
                Arc::new(Endpoint {
                    addr,
                    id,
                    load: Load::default(),
                })
            })
            .clone(),
    )
}

#[cfg(test)]
mod tests;
