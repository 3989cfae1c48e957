//! The order of the flattened rules: the first whose match a request meets
//! decides it, so more specific matches come first.
//!
//! HTTPRoute matches follow Gateway API: an Exact path, then a
//! RegularExpression path (longer pattern first; their place is left to
//! implementations), then a PathPrefix (longer prefix first); then a method
//! match before none, more header matches, more query parameter matches.
//!
//! GRPCRoute orders by more service characters, then more method
//! characters, then more header matches. In one list with HTTPRoutes, a
//! GRPCRoute match naming a service or method sits between HTTPRoute's
//! RegularExpression and PathPrefix paths (it pins the path more than any
//! prefix but less than an exact path), and one naming neither ranks as
//! `PathPrefix /` does, so neither kind's catch-all hides the other's
//! specific matches.
//!
//! Ties go to the oldest route (a route not yet persisted counts as
//! newest), then by `namespace/name`, then to the earlier rule and match.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::cmp::{Ordering, Reverse};

/// How specific a match's path is, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    /// A PathPrefix, an absent path, or a GRPCRoute match on any method.
    Prefix,
    /// A GRPCRoute match naming a service or method.
    Grpc,
    Regex,
    Exact,
}

/// A match's specificity; greater goes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Precedence {
    pub class: Class,
    /// HTTPRoute: the path's characters. GRPCRoute: the service's.
    pub first: usize,
    /// HTTPRoute: 1 with a method match. GRPCRoute: the method's characters.
    pub second: usize,
    pub headers: usize,
    pub query_params: usize,
}

impl Precedence {
    pub fn http(class: Class, path: &str, method: bool, headers: usize, query: usize) -> Self {
        Self {
            class,
            first: path.chars().count(),
            second: usize::from(method),
            headers,
            query_params: query,
        }
    }

    pub fn grpc(service: &str, method: &str, headers: usize) -> Self {
        if service.is_empty() && method.is_empty() {
            return Self::http(Class::Prefix, "/", false, headers, 0);
        }
        Self {
            class: Class::Grpc,
            first: service.chars().count(),
            second: method.chars().count(),
            headers,
            query_params: 0,
        }
    }
}

/// Where a match comes from, for ties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub created: Option<Time>,
    /// `namespace/name`.
    pub route: String,
    /// The route's kind, so that two kinds' routes of one name still order
    /// the same way every time.
    pub kind: &'static str,
    pub rule: usize,
    pub index: usize,
}

impl Origin {
    fn cmp(&self, other: &Self) -> Ordering {
        let created = |o: &Self| (o.created.is_none(), o.created.clone());
        created(self)
            .cmp(&created(other))
            .then_with(|| self.route.cmp(&other.route))
            .then_with(|| self.kind.cmp(other.kind))
            .then_with(|| self.rule.cmp(&other.rule))
            .then_with(|| self.index.cmp(&other.index))
    }
}

/// Sorts `items` most specific first, ties by origin.
pub(crate) fn sort<T>(items: &mut [T], key: impl Fn(&T) -> (&Precedence, &Origin)) {
    items.sort_by(|a, b| {
        let (pa, oa) = key(a);
        let (pb, ob) = key(b);
        Reverse(pa).cmp(&Reverse(pb)).then_with(|| oa.cmp(ob))
    });
}
