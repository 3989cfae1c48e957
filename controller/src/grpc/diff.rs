//! What a Discovery stream sends when the answer for its destination
//! changes: the first answer and any change of shape as a whole snapshot,
//! endpoint churn within the same shape as additions and removals per
//! backend. Pure, so each case is a plain test.

use crate::index::Outbound;
use std::collections::BTreeMap;
use weft_api::discovery::{
    Backend, DiscoveryUpdate, Endpoint, EndpointsAdded, EndpointsRemoved, Meshed, NotMeshed,
    Unavailable, discovery_update::Kind,
};

/// The messages that take a client from `prev` (what it was last sent) to
/// `next`. Empty when nothing it can see changed.
pub fn updates(prev: Option<&Outbound>, next: &Outbound) -> Vec<DiscoveryUpdate> {
    let whole = || vec![snapshot(next)];
    match (prev, next) {
        (None, _) => whole(),
        (Some(Outbound::Meshed(a)), Outbound::Meshed(b)) if same_shape(a, b) => {
            let mut out = Vec::new();
            for (old, new) in backends(a).into_iter().zip(backends(b)) {
                endpoint_changes(old, new, &mut out);
            }
            out
        }
        (Some(a), b) if a == b => Vec::new(),
        _ => whole(),
    }
}

/// The answer as one message.
pub fn snapshot(o: &Outbound) -> DiscoveryUpdate {
    let kind = match o {
        Outbound::Meshed(m) => Kind::Meshed(m.clone()),
        Outbound::NotMeshed => Kind::NotMeshed(NotMeshed {}),
        Outbound::Unavailable(reason) => Kind::Unavailable(Unavailable {
            reason: reason.clone(),
        }),
    };
    DiscoveryUpdate { kind: Some(kind) }
}

/// Everything but the endpoints is equal, so diffs can describe the change.
fn same_shape(a: &Meshed, b: &Meshed) -> bool {
    let names = |m: &Meshed| -> Vec<(String, u32)> {
        backends(m)
            .iter()
            .map(|b| (b.name.clone(), b.weight))
            .collect()
    };
    a.service == b.service
        && a.protocol == b.protocol
        && a.split_matches == b.split_matches
        && a.routes == b.routes
        && a.root.is_some() == b.root.is_some()
        && names(a) == names(b)
}

fn backends(m: &Meshed) -> Vec<&Backend> {
    m.root
        .iter()
        .chain(&m.split_backends)
        .chain(&m.route_backends)
        .collect()
}

fn endpoint_changes(old: &Backend, new: &Backend, out: &mut Vec<DiscoveryUpdate>) {
    let by_addr = |b: &Backend| -> BTreeMap<String, Endpoint> {
        b.endpoints
            .iter()
            .map(|e| (e.address.clone(), e.clone()))
            .collect()
    };
    let (before, after) = (by_addr(old), by_addr(new));
    // An endpoint whose identity or pod changed is removed and added again,
    // so the client never keeps a stale expected identity.
    let removed: Vec<String> = before
        .iter()
        .filter(|(addr, e)| after.get(*addr) != Some(*e))
        .map(|(addr, _)| addr.clone())
        .collect();
    let added: Vec<Endpoint> = after
        .iter()
        .filter(|(addr, e)| before.get(*addr) != Some(*e))
        .map(|(_, e)| e.clone())
        .collect();
    if !removed.is_empty() {
        out.push(DiscoveryUpdate {
            kind: Some(Kind::Removed(EndpointsRemoved {
                backend: new.name.clone(),
                addresses: removed,
            })),
        });
    }
    if !added.is_empty() {
        out.push(DiscoveryUpdate {
            kind: Some(Kind::Added(EndpointsAdded {
                backend: new.name.clone(),
                endpoints: added,
            })),
        });
    }
}

#[cfg(test)]
mod tests;
