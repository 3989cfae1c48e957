//! Choosing a rule's backendRef for one request, by weight: smooth weighted
//! round-robin, its state kept per rule across requests (and across
//! snapshots for a rule that stays), so shares hold over any run of
//! requests. A backendRef with weight 0 is never chosen; one with no usable
//! endpoint right now is passed over, like a split backend.

use super::filter::Filters;
use crate::outbound::balance::wrr::SmoothWrr;
use std::sync::{Arc, Mutex, PoisonError};
use weft_api::discovery as pb;

/// One backendRef of a rule.
#[derive(Debug)]
pub(super) struct RuleBackend {
    /// A `route_backends` name; empty for a backendRef weft cannot use.
    pub(super) name: Arc<str>,
    /// Applied after the rule's.
    pub(super) filters: Filters,
}

#[derive(Debug)]
pub(super) struct Backends {
    list: Vec<RuleBackend>,
    weights: Vec<u32>,
    wrr: Arc<Mutex<SmoothWrr>>,
}

/// Why no backendRef takes the request.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum NoBackend {
    #[error("the rule has no backendRef with a weight")]
    NoneWeighted,
    /// Its share of the requests fails, as Gateway API asks (500).
    #[error("the chosen backendRef cannot be used")]
    Invalid,
    #[error("no backendRef of the rule has a usable endpoint")]
    NoEndpoint,
}

impl Backends {
    /// `backends` of a rule whose match covers `prefix`, picking with
    /// `wrr`'s state.
    pub(super) fn new(
        backends: &[pb::RouteBackend],
        prefix: Option<&str>,
        wrr: Arc<Mutex<SmoothWrr>>,
    ) -> Self {
        Self {
            list: backends
                .iter()
                .map(|b| RuleBackend {
                    name: b.backend.as_str().into(),
                    filters: Filters::new(&b.filters, prefix),
                })
                .collect(),
            weights: backends.iter().map(|b| b.weight).collect(),
            wrr,
        }
    }

    /// The backendRef for the next request; `usable` says whether a
    /// `route_backends` name has an endpoint that can take it now.
    pub(super) fn choose(&self, usable: impl Fn(&str) -> bool) -> Result<&RuleBackend, NoBackend> {
        if !self.weights.iter().any(|&w| w > 0) {
            return Err(NoBackend::NoneWeighted);
        }
        // An unusable backendRef stays eligible: its share is answered
        // 500, not handed to the others.
        let i = self
            .wrr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pick(&self.weights, |i| {
                let name = &self.list[i].name;
                name.is_empty() || usable(name)
            })
            .ok_or(NoBackend::NoEndpoint)?;
        let b = &self.list[i];
        if b.name.is_empty() {
            return Err(NoBackend::Invalid);
        }
        Ok(b)
    }

    /// The balancing state, for the rule that replaces this one.
    pub(super) fn state(&self) -> &Arc<Mutex<SmoothWrr>> {
        &self.wrr
    }
}

#[cfg(test)]
mod tests;
