//! Invalid and dangling references among the objects held, for the glue to
//! turn into Warning Events on the object concerned (and log lines).
//!
//! Findings are recomputed from the whole store on demand, by the same code
//! that computes policy (which discards them), so what is reported is exactly
//! what was ignored or failed closed.

use super::annotations::{self, Annotated};
use super::store::Store;
use super::{Config, Kind, split, targets};

/// One problem with one object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Finding {
    /// The kind of the object the Event goes on.
    pub kind: Kind,
    /// `None` for cluster-scoped objects (namespaces).
    pub namespace: Option<String>,
    pub name: String,
    /// The Event's reason, one of [`reason`].
    pub reason: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl Finding {
    pub(crate) fn new(
        kind: Kind,
        ns: &str,
        name: &str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            namespace: (!ns.is_empty()).then(|| ns.to_owned()),
            name: name.to_owned(),
            reason,
            message: message.into(),
        }
    }
}

/// Event reasons.
pub mod reason {
    /// A `weft.io/` annotation value (or one entry of a list) is unusable.
    pub const INVALID_ANNOTATION: &str = "InvalidAnnotation";
    /// A TrafficTarget names a destination in another namespace: ignored.
    pub const CROSS_NAMESPACE_DESTINATION: &str = "CrossNamespaceDestination";
    /// A TrafficTarget destination or source that is not a ServiceAccount.
    pub const UNSUPPORTED_SUBJECT: &str = "UnsupportedSubject";
    /// A TrafficTarget without rules: it allows nothing.
    pub const NO_RULES: &str = "NoRules";
    /// A rule of a kind other than HTTPRouteGroup, TCPRoute, UDPRoute.
    pub const UNKNOWN_RULE_KIND: &str = "UnknownRuleKind";
    /// A rule or split match naming a route object that does not exist.
    pub const MISSING_ROUTE: &str = "MissingRoute";
    /// A rule naming a match its route object does not have.
    pub const MISSING_MATCH: &str = "MissingMatch";
    /// A route whose path or header regex does not compile.
    pub const INVALID_REGEX: &str = "InvalidRegex";
    /// A rule naming a UDPRoute: weft does not mediate UDP.
    pub const UDP_NOT_MEDIATED: &str = "UDPNotMediated";
    /// A probe on a named port no container port has.
    pub const UNRESOLVED_PROBE_PORT: &str = "UnresolvedProbePort";
    /// A TCP, gRPC or HTTPS probe the proxy does not run (a pod injected
    /// before it did): its port is open to any client.
    pub const PROBE_OPENS_PORT: &str = "ProbeOpensPort";
    /// A TrafficSplit whose root Service does not exist.
    pub const MISSING_ROOT_SERVICE: &str = "MissingRootService";
    /// A TrafficSplit backend Service that does not exist.
    pub const MISSING_BACKEND_SERVICE: &str = "MissingBackendService";
    /// A TrafficSplit backend without one of the root's ports.
    pub const BACKEND_LACKS_PORT: &str = "BackendLacksPort";
    /// A TrafficSplit ignored because an older one has the same root.
    pub const SPLIT_SUPERSEDED: &str = "SplitSuperseded";
    /// A TrafficSplit match that is not an HTTPRouteGroup.
    pub const UNSUPPORTED_MATCH_KIND: &str = "UnsupportedMatchKind";
    /// A TrafficSplit on a Service port that Gateway API routes
    /// (HTTPRoute, GRPCRoute) attach to: the routes take precedence.
    pub const SPLIT_OVERRIDDEN_BY_ROUTE: &str = "SplitOverriddenByRoute";
}

pub(crate) fn all(store: &Store, cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for (key, ns) in &store.namespaces {
        let ann = ns.metadata.annotations.as_ref();
        annotations::check(&Annotated::new(Kind::Namespace, key, ann), &mut out);
    }
    for (key, pod) in &store.pods {
        let ann = pod.metadata.annotations.as_ref();
        annotations::check(&Annotated::new(Kind::Pod, key, ann), &mut out);
        // Only a meshed pod's probes go through a proxy: the rest of the
        // cluster's probes are none of weft's business.
        if super::pods::is_meshed(pod) {
            super::probes::check(key, pod, &mut out);
        }
    }
    for (key, svc) in &store.services {
        let ann = svc.metadata.annotations.as_ref();
        annotations::check(&Annotated::new(Kind::Service, key, ann), &mut out);
    }
    for (key, group) in &store.route_groups {
        super::routes::check_group(key, group, &mut out);
    }
    for (key, tt) in &store.targets {
        targets::check(store, cfg, key, tt, &mut out);
    }
    for (key, ts) in &store.splits {
        split::check(store, cfg, key, ts, &mut out);
    }
    out.sort();
    out.dedup();
    out
}
