//! Gateway API routes in the mesh (GAMMA): the HTTPRoutes and GRPCRoutes
//! attached to a Service port become the `routes` and `route_backends` of
//! its discovery answer.
//!
//! - Which routes apply to a client: [`attach`] (producer and consumer
//!   routes).
//! - Each rule becomes one `RouteRule` per match ([`flatten`]), in
//!   precedence order ([`precedence`]); `route` is `<kind>/<ns>/<name>`,
//!   `rule` the rule's name or index.
//! - backendRefs name Services on a port ([`backends`]); one in another
//!   namespace needs a ReferenceGrant there. An unusable one keeps its
//!   weight with no backend, so its share of the requests fails.
//! - Filters ([`filters`]); one weft cannot apply is sent as `unsupported`,
//!   which fails the rule's requests rather than forwarding them unfiltered.
//! - Timeouts and retry backoff are Gateway API durations ([`duration`]).
//! - What is refused or ignored shows in each route's status
//!   ([`status`]), computed by the same code.
//!
//! Routes win over a TrafficSplit on the same Service port: the split is
//! then ignored there (and reported on the split).

mod attach;
mod backends;
mod duration;
mod filters;
mod flatten;
mod precedence;
mod route;
pub(crate) mod status;

#[cfg(test)]
mod tests;

pub(crate) use attach::any_attached;
pub(crate) use route::{Route, all as all_routes, route_links, service_parents};

use super::Config;
use super::endpoints::Ready;
use super::store::{ObjKey, Store};
use std::collections::BTreeMap;
use weft_api::discovery::{Backend, RouteRule};

/// What the routes attached to one Service port mean for one client
/// namespace.
#[derive(Default)]
pub(crate) struct Routes {
    /// Whether any route attaches: then they, not a split, decide.
    pub attached: bool,
    pub rules: Vec<RouteRule>,
    /// By name.
    pub backends: Vec<Backend>,
    /// The backends' ready endpoints, for the protocol hint.
    pub ready: Vec<Ready>,
}

/// The routes of port `port` of `svc` as a client in `client_ns` sees them.
pub(crate) fn routes(
    store: &Store,
    cfg: &Config,
    svc: &ObjKey,
    port: u16,
    client_ns: &str,
) -> Routes {
    let attached = attach::attached(store, svc, port, client_ns);
    let mut build = Build::new(store, cfg);
    let mut flat = Vec::new();
    for r in &attached {
        flat.extend(flatten::route(&mut build, *r));
    }
    precedence::sort(&mut flat, |f| (&f.precedence, &f.origin));
    Routes {
        attached: !attached.is_empty(),
        rules: flat.into_iter().map(|f| f.rule).collect(),
        backends: build.backends.into_values().collect(),
        ready: build.ready,
    }
}

/// Something about a route weft refuses or ignores, as its status says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// A `ResolvedRefs` reason.
    pub reason: &'static str,
    pub message: String,
}

/// What flattening routes collects on the way.
pub(crate) struct Build<'a> {
    pub store: &'a Store,
    pub cfg: &'a Config,
    /// `route_backends`, by name, each once.
    pub backends: BTreeMap<String, Backend>,
    pub ready: Vec<Ready>,
    pub problems: Vec<Problem>,
    /// Whether backends need their endpoints (not to judge a status).
    pub endpoints: bool,
}

impl<'a> Build<'a> {
    pub fn new(store: &'a Store, cfg: &'a Config) -> Self {
        Self {
            store,
            cfg,
            backends: BTreeMap::new(),
            ready: Vec::new(),
            problems: Vec::new(),
            endpoints: true,
        }
    }

    /// Only to collect problems: every route is judged on every change,
    /// and its backends' endpoints never change its status.
    pub fn judging(store: &'a Store, cfg: &'a Config) -> Self {
        Self {
            endpoints: false,
            ..Self::new(store, cfg)
        }
    }

    pub fn problem(&mut self, reason: &'static str, message: String) {
        self.problems.push(Problem { reason, message });
    }
}
