//! `weft authz explain`: would the destination's proxy allow this source's
//! request or connection, and why. The policy comes from the controller's
//! own index (built from a one-shot list of the cluster) and the decision
//! from the proxy's own authorization code, so the answer is the one the
//! proxy would give.
//!
//! When Gateway API routes attach to a Service whose traffic can reach the
//! pod, the answer also says what the client's proxy does with the request
//! on its way there ([`gateway`]): which rule decides it, which backends
//! it goes to, and the pod's verdict on the request as it arrives.

mod describe;
pub mod gateway;

use http::request::Parts;
use std::{fmt::Write as _, net::SocketAddr};
use weft_api::policy::{InboundPolicyUpdate, authorization::Rules};
use weft_controller::index::{InboundError, Index};
use weft_proxy::{
    inbound::{
        authz::{self, Decision},
        client::Client,
    },
    routes,
};
use weft_tls::{SpiffeId, TrustDomain};

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    ServiceAccount {
        namespace: String,
        name: String,
    },
    /// A client without a mesh identity, from this address.
    Unauthenticated(std::net::IpAddr),
}

impl std::str::FromStr for Source {
    type Err = String;

    /// `ns/serviceaccount`, or `unauthenticated` (optionally `@ip`).
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("unauthenticated") {
            let ip = match rest.strip_prefix('@') {
                Some(ip) => ip.parse().map_err(|e| format!("{ip:?}: {e}"))?,
                None if rest.is_empty() => std::net::Ipv4Addr::UNSPECIFIED.into(),
                None => return Err(format!("expected unauthenticated[@ip], got {s:?}")),
            };
            return Ok(Source::Unauthenticated(ip));
        }
        match s.split_once('/') {
            Some((ns, sa)) if !ns.is_empty() && !sa.is_empty() && !sa.contains('/') => {
                Ok(Source::ServiceAccount {
                    namespace: ns.into(),
                    name: sa.into(),
                })
            }
            _ => Err(format!(
                "expected <namespace>/<serviceaccount> or unauthenticated[@ip], got {s:?}"
            )),
        }
    }
}

/// What it sends.
#[derive(Clone, Debug)]
pub enum Traffic {
    Http {
        method: String,
        /// The path, and optionally `?` and a query: the query counts only
        /// for Gateway API route matches (authorization ignores it, as the
        /// proxy does).
        path: String,
        headers: Vec<(String, String)>,
    },
    /// A connection the proxy does not serve as HTTP.
    Tcp,
}

pub struct Question {
    pub source: Source,
    pub namespace: String,
    pub pod: String,
    pub port: u16,
    pub traffic: Traffic,
}

pub struct Explanation {
    pub decision: Decision,
    pub client: Client,
    pub policy: InboundPolicyUpdate,
    /// What the routed Service ports that lead to the pod do with the
    /// request.
    pub routes: Vec<gateway::Routed>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Inbound(#[from] InboundError),
    #[error("source: {0}")]
    Source(String),
    #[error("header {0:?}: {1}")]
    Header(String, String),
    #[error("request {0}: {1}")]
    Request(String, String),
}

/// Answers `q`. `parents` are the Service ports Gateway API routes
/// attach to ([`gateway::parents`]); empty when there are none.
pub fn explain(
    index: &mut Index,
    td: &TrustDomain,
    q: &Question,
    parents: &[gateway::Parent],
) -> Result<Explanation, ExplainError> {
    let policy = index
        .inbound(&q.namespace, &q.pod, q.port)?
        .borrow()
        .as_ref()
        .clone();
    let client = match &q.source {
        Source::ServiceAccount { namespace, name } => Client::Mesh(
            SpiffeId::new(td, namespace, name).map_err(|e| ExplainError::Source(e.to_string()))?,
        ),
        Source::Unauthenticated(ip) => Client::Unauthenticated(SocketAddr::new(*ip, 0)),
    };
    let request = match &q.traffic {
        Traffic::Tcp => None,
        Traffic::Http {
            method,
            path,
            headers,
        } => Some(request(method, path, headers)?),
    };
    let regexes = routes::Regexes::default();
    let judge = |r: &Parts| {
        authz::request(
            &policy,
            &client,
            &routes::Request {
                method: r.method.as_str(),
                path: r.uri.path(),
                headers: &r.headers,
            },
            &regexes,
        )
    };
    let decision = match &request {
        None => authz::connection(&policy, &client, false),
        Some(r) => judge(r),
    };
    let client_ns = match &q.source {
        Source::ServiceAccount { namespace, .. } => Some(namespace.as_str()),
        Source::Unauthenticated(_) => None,
    };
    let pod = gateway::Pod {
        namespace: &q.namespace,
        name: &q.pod,
        port: q.port,
    };
    let routes = gateway::routed(index, parents, client_ns, pod, request.as_ref(), judge);
    Ok(Explanation {
        decision,
        client,
        policy,
        routes,
    })
}

/// The request head the proxies would see.
fn request(method: &str, path: &str, headers: &[(String, String)]) -> Result<Parts, ExplainError> {
    if !path.starts_with('/') {
        return Err(ExplainError::Request(
            format!("{method} {path}"),
            "the path must start with /".into(),
        ));
    }
    let (mut parts, ()) = http::Request::builder()
        .method(method)
        .uri(path)
        .body(())
        .map_err(|e| ExplainError::Request(format!("{method} {path}"), e.to_string()))?
        .into_parts();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| ExplainError::Header(k.clone(), e.to_string()))?;
        let value = http::HeaderValue::from_str(v)
            .map_err(|e| ExplainError::Header(k.clone(), e.to_string()))?;
        parts.headers.append(name, value);
    }
    Ok(parts)
}

/// `ALLOW by …` or `DENY (reason)`.
fn verdict(d: &Decision) -> String {
    match d {
        Decision::Allow { by } => format!("ALLOW by {by}"),
        Decision::Deny { reason } => format!("DENY ({reason})"),
    }
}

/// The answer for a person: the decision first, then what it rests on.
pub fn render(q: &Question, e: &Explanation) -> String {
    let mut out = String::new();
    let what = match &q.traffic {
        Traffic::Http { method, path, .. } => format!("{method} {path}"),
        Traffic::Tcp => "a TCP connection".into(),
    };
    let who = match &e.client {
        Client::Mesh(id) => id.to_string(),
        Client::Unauthenticated(a) if a.ip().is_unspecified() => "an unauthenticated client".into(),
        Client::Unauthenticated(a) => format!("an unauthenticated client at {}", a.ip()),
    };
    let _ = writeln!(
        out,
        "{}: {who} → {}/{} port {}: {what}",
        match &e.decision {
            Decision::Allow { .. } => "ALLOW".to_string(),
            Decision::Deny { reason } => format!("DENY ({reason})"),
        },
        q.namespace,
        q.pod,
        q.port
    );
    match &e.decision {
        Decision::Allow { by } => {
            let _ = writeln!(out, "  allowed by: {by}");
        }
        Decision::Deny { reason } => {
            let _ = writeln!(
                out,
                "  the caller would see: {}",
                caller_view(reason, &q.traffic)
            );
        }
    }
    let p = &e.policy;
    let _ = writeln!(
        out,
        "  destination: {}; default policy {}; port {}",
        if p.targeted {
            "named by a TrafficTarget (only its grants allow traffic)"
        } else {
            "named by no TrafficTarget (the default policy applies)"
        },
        p.default_policy()
            .as_str_name()
            .trim_start_matches("DEFAULT_POLICY_")
            .to_lowercase(),
        p.protocol()
            .as_str_name()
            .trim_start_matches("PROTOCOL_")
            .to_lowercase(),
    );
    if !p.unauthenticated_networks.is_empty() {
        let _ = writeln!(
            out,
            "  unauthenticated clients allowed from: {}",
            p.unauthenticated_networks.join(", ")
        );
    }
    if p.authorizations.is_empty() {
        let _ = writeln!(out, "  grants on this port: none");
    } else {
        let _ = writeln!(out, "  grants on this port:");
    }
    for a in &p.authorizations {
        let names = a.clients.as_ref().is_some_and(|c| match &e.client {
            Client::Mesh(id) => c.identities.iter().any(|i| i == id.as_str()),
            Client::Unauthenticated(_) => c.unauthenticated,
        });
        let rules = match &a.rules {
            Some(Rules::AllTraffic(_)) => "all traffic".to_string(),
            Some(Rules::OpaqueTraffic(_)) => "non-HTTP connections only".to_string(),
            Some(Rules::HttpRoutes(r)) => {
                let list: Vec<String> = r
                    .routes
                    .iter()
                    .map(|r| {
                        let methods = if r.methods.is_empty() {
                            "*".to_string()
                        } else {
                            r.methods.join(",")
                        };
                        let path = if r.path_regex.is_empty() {
                            ".*"
                        } else {
                            &r.path_regex
                        };
                        format!("{} ({methods} {path})", r.name)
                    })
                    .collect();
                format!("HTTP routes {}", list.join("; "))
            }
            None => "nothing (the rule failed closed; see the controller's Events)".to_string(),
        };
        let _ = writeln!(
            out,
            "    {} {}: {rules}{}",
            if names { "✔" } else { "·" },
            a.name,
            if names {
                ""
            } else {
                " — does not name this source"
            }
        );
    }
    let client_ns = match &q.source {
        Source::ServiceAccount { namespace, .. } => Some(namespace.as_str()),
        Source::Unauthenticated(_) => None,
    };
    for r in &e.routes {
        describe::section(&mut out, client_ns, r);
    }
    out
}

fn caller_view(reason: &str, traffic: &Traffic) -> String {
    match traffic {
        Traffic::Http { .. } => {
            format!("403 with weft-deny-reason: {reason} (gRPC: PERMISSION_DENIED)")
        }
        Traffic::Tcp => "the connection closed".into(),
    }
}

#[cfg(test)]
mod tests;
