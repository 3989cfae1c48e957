//! One destination's answer as the controller last described it: a snapshot
//! with incremental endpoint changes applied. Pure, so every update shape is
//! unit-tested.
//!
//! Endpoints are kept by identity across updates (same address and SPIFFE
//! id → the same `Arc<Endpoint>`), so the latency learnt about an endpoint
//! survives a new snapshot such as a TrafficSplit weight change.

use super::balance::ewma::Load;
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
    pub service: String,
    pub opaque: bool,
    pub root: Backend,
    pub splits: Vec<Backend>,
    pub split_matches: Vec<HttpRoute>,
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
    let known = known_endpoints(prev);
    match update.kind.ok_or(StateError::Empty)? {
        Kind::Meshed(m) => Ok(Answer::Meshed(Arc::new(snapshot(m, &known)))),
        Kind::NotMeshed(_) => Ok(Answer::NotMeshed),
        Kind::Unavailable(u) => Ok(Answer::Unavailable(u.reason)),
        Kind::Added(a) => {
            let mut m = meshed(prev)?;
            let b = backend_mut(&mut m, &a.backend)?;
            for e in a.endpoints.iter().filter_map(|e| endpoint(e, &known)) {
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
        .find(|b| b.name == name)
        .ok_or_else(|| StateError::UnknownBackend(name.to_string()))
}

type Known = HashMap<(SocketAddr, Option<SpiffeId>), Arc<Endpoint>>;

fn known_endpoints(prev: Option<&Answer>) -> Known {
    let mut known = Known::new();
    if let Some(Answer::Meshed(m)) = prev {
        for e in std::iter::once(&m.root)
            .chain(&m.splits)
            .flat_map(|b| &b.endpoints)
        {
            known.insert((e.addr, e.id.clone()), e.clone());
        }
    }
    known
}

fn snapshot(m: pb::Meshed, known: &Known) -> Meshed {
    let opaque = m.protocol() == ProtocolHint::Opaque;
    let backend = |b: pb::Backend| Backend {
        endpoints: b
            .endpoints
            .iter()
            .filter_map(|e| endpoint(e, known))
            .collect(),
        name: b.name,
        weight: b.weight,
    };
    Meshed {
        service: m.service,
        opaque,
        root: m.root.map(backend).unwrap_or_else(|| Backend {
            name: String::new(),
            weight: 0,
            endpoints: Vec::new(),
        }),
        splits: m.split_backends.into_iter().map(backend).collect(),
        split_matches: m.split_matches,
    }
}

/// An unusable endpoint (bad address or id) is left out and logged: the
/// controller never sends one, and guessing could send plaintext.
fn endpoint(e: &pb::Endpoint, known: &Known) -> Option<Arc<Endpoint>> {
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
    Some(known.get(&(addr, id.clone())).cloned().unwrap_or_else(|| {
        Arc::new(Endpoint {
            addr,
            id,
            load: Load::default(),
        })
    }))
}

#[cfg(test)]
mod tests;
