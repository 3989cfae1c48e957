//! Whether the inbound policy lets a client open a connection to a port
//! ([`connection`]) or send one HTTP request ([`request`]).
//!
//! Pure: the policy (from the controller), who the client is, and what it
//! sends. A connection the proxy does not serve as HTTP cannot be checked
//! against HTTP routes, so an HTTP-routes grant allows nothing there (fail
//! closed) and the denial says `route-not-matched`.

use super::client::Client;
use crate::{
    metrics::{Label, Verdict},
    routes,
};
use weft_api::{
    contract::deny_reason,
    policy::{Authorization, DefaultPolicy, InboundPolicyUpdate, authorization::Rules},
};

/// The outcome, with what decided it (for logs and metrics, never callers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow { by: Label },
    Deny { reason: &'static str },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// How the decision is counted.
    pub fn verdict(&self) -> Verdict<'_> {
        match self {
            Decision::Allow { by } => Verdict::Allow { by },
            Decision::Deny { reason } => Verdict::Deny { reason },
        }
    }
}

/// A connection from `client`, whose first bytes are HTTP when `http`.
pub fn connection(policy: &InboundPolicyUpdate, client: &Client, http: bool) -> Decision {
    decide(policy, client, |rules| match rules {
        Rules::OpaqueTraffic(_) => !http,
        _ => false,
    })
}

/// One HTTP request from `client`, matched against HTTP-routes grants.
pub fn request(
    policy: &InboundPolicyUpdate,
    client: &Client,
    req: &routes::Request<'_>,
    regexes: &routes::Regexes,
) -> Decision {
    decide(policy, client, |rules| match rules {
        Rules::HttpRoutes(r) => r.routes.iter().any(|r| regexes.matches(r, req)),
        _ => false,
    })
}

/// The authorizations a decision on this port weighed, for the debug log
/// of a denial (never sent to the caller).
pub fn considered(policy: &InboundPolicyUpdate) -> Vec<&str> {
    policy
        .authorizations
        .iter()
        .map(|a| a.name.as_str())
        .collect()
}

/// Whether `client` may still send some HTTP request on the port: false
/// once a policy update leaves it no grant at all, so its connection is
/// drained rather than left open to collect denials.
pub fn may_request(policy: &InboundPolicyUpdate, client: &Client) -> bool {
    decide(
        policy,
        client,
        |rules| matches!(rules, Rules::HttpRoutes(r) if !r.routes.is_empty()),
    )
    .is_allowed()
}

/// The shared walk: unauthenticated networks, then each grant naming the
/// client (all-traffic grants always allow; `allows` judges the others),
/// then the default policy.
fn decide(
    policy: &InboundPolicyUpdate,
    client: &Client,
    allows: impl Fn(&Rules) -> bool,
) -> Decision {
    if let Client::Unauthenticated(addr) = client
        && policy
            .unauthenticated_networks
            .iter()
            .filter_map(|n| n.parse::<ipnet::IpNet>().ok())
            .any(|n| n.contains(&addr.ip()))
    {
        return Decision::Allow {
            by: "allow-unauthenticated-from".into(),
        };
    }
    let mut routes_only = false;
    for a in policy.authorizations.iter().filter(|a| names(a, client)) {
        match &a.rules {
            Some(Rules::AllTraffic(_)) => {
                return Decision::Allow {
                    by: a.name.as_str().into(),
                };
            }
            Some(r) if allows(r) => {
                return Decision::Allow {
                    by: a.name.as_str().into(),
                };
            }
            Some(Rules::HttpRoutes(_)) => routes_only = true,
            _ => {}
        }
    }
    if !policy.targeted && policy.default_policy() == DefaultPolicy::Allow {
        return Decision::Allow {
            by: "default-allow".into(),
        };
    }
    // An unauthenticated client is told so even where a probe grant names
    // it: what it lacks is an identity (or an allowed network), not a route.
    let reason = if matches!(client, Client::Unauthenticated(_)) {
        deny_reason::UNAUTHENTICATED
    } else if routes_only {
        deny_reason::ROUTE_NOT_MATCHED
    } else {
        deny_reason::NO_TRAFFIC_TARGET
    };
    Decision::Deny { reason }
}

fn names(a: &Authorization, client: &Client) -> bool {
    let Some(c) = &a.clients else { return false };
    match client {
        Client::Mesh(id) => c.identities.iter().any(|i| i == id.as_str()),
        Client::Unauthenticated(_) => c.unauthenticated,
    }
}

#[cfg(test)]
mod tests;
