//! Gateway API routes between the client and the pod: for each Service
//! port that HTTPRoutes or GRPCRoutes attach to and whose traffic can land
//! on the pod, what the client's proxy does with the request. The routes
//! are the discovery answer the controller's index gives the client's
//! namespace, and the rule is chosen, and its filters applied, by the
//! proxy's own route table; the request as it then reaches the pod is
//! judged by the pod's policy, since TrafficTarget authorization applies
//! at every backend's pods whatever routed the request there.

use crate::check::gateway::Route;
use http::{HeaderMap, Response, StatusCode, request::Parts};
use std::{collections::BTreeSet, net::SocketAddr};
use weft_api::{
    contract::headers::PROXY_ERROR,
    discovery::{self as pb, Backend, Endpoint, Meshed},
};
use weft_controller::index::{Index, Outbound, Resource, Target};
use weft_proxy::{
    inbound::authz::Decision,
    outbound::route::{Decision as Routing, RouteTable},
};

/// A Service port routes attach to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Parent {
    pub namespace: String,
    pub name: String,
    pub port: u16,
}

/// The pod the question is about.
#[derive(Clone, Copy, Debug)]
pub struct Pod<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub port: u16,
}

/// What the routes of one Service port do with the request.
#[derive(Debug)]
pub struct Routed {
    pub parent: Parent,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// Routes are applied by the client's proxy; a client outside the mesh
    /// has none.
    NoProxy,
    /// Not HTTP: the routes do not apply, and the connection goes to the
    /// Service's own endpoints.
    NotHttp,
    /// The client's proxy answers 400 `bad-request`, for this reason.
    BadPath(String),
    /// No rule matches: 404 `no-route` (gRPC `UNIMPLEMENTED`).
    NoRule,
    Rule(Box<Matched>),
}

/// The rule that decides the request.
#[derive(Debug)]
pub struct Matched {
    pub rule: pb::RouteRule,
    /// One per backendRef, in order.
    pub shares: Vec<Share>,
    /// What the client's proxy answers itself, for every request the rule
    /// matches (a redirect, `500 bad-route`), instead of forwarding it.
    pub answered: Option<String>,
    /// When the rule can send the request to this pod: the request as it
    /// arrives, and the pod's decision on it; or what the proxy answers
    /// instead for that backendRef.
    pub delivered: Option<Result<Delivered, String>>,
}

#[derive(Debug)]
pub struct Share {
    /// `namespace/name:port`; empty for a backendRef weft cannot use.
    pub backend: String,
    pub weight: u32,
    /// Whether the backend's ready endpoints include this pod.
    pub here: bool,
}

#[derive(Debug)]
pub struct Delivered {
    pub method: String,
    /// The path (and query) after the filters.
    pub path: String,
    /// The headers the filters changed: `name: value` as they arrive
    /// (values joined by `, `), or `-name` for one removed.
    pub header_changes: Vec<String>,
    pub decision: Decision,
}

/// The Service ports the routes among `objects` attach to: each Service
/// parentRef's port, or every port of the Service (among `objects`) when
/// it names none.
pub fn parents(objects: &[Resource]) -> Vec<Parent> {
    let mut out = BTreeSet::new();
    for route in objects.iter().filter_map(Route::of) {
        let route_ns = route.meta.namespace.as_deref().unwrap_or_default();
        for p in route.service_parents() {
            let namespace = p.namespace.as_deref().unwrap_or(route_ns);
            let ports: Vec<u16> = match p.port {
                Some(port) => u16::try_from(port).into_iter().collect(),
                None => service_ports(objects, namespace, &p.name),
            };
            out.extend(ports.into_iter().map(|port| Parent {
                namespace: namespace.to_owned(),
                name: p.name.clone(),
                port,
            }));
        }
    }
    out.into_iter().collect()
}

fn service_ports(objects: &[Resource], namespace: &str, name: &str) -> Vec<u16> {
    objects
        .iter()
        .filter_map(|o| match o {
            Resource::Service(s)
                if s.metadata.namespace.as_deref() == Some(namespace)
                    && s.metadata.name.as_deref() == Some(name) =>
            {
                s.spec.as_ref()?.ports.as_ref()
            }
            _ => None,
        })
        .flatten()
        .filter_map(|p| u16::try_from(p.port).ok())
        .collect()
}

/// What the routes of each of `parents` do with `request` (`None`: not
/// HTTP) from a client in `client_ns` (`None`: outside the mesh), for the
/// Service ports whose traffic can reach `pod`. `judge` is the pod's
/// decision on a request as it arrives.
pub fn routed(
    index: &mut Index,
    parents: &[Parent],
    client_ns: Option<&str>,
    pod: Pod<'_>,
    request: Option<&Parts>,
    judge: impl Fn(&Parts) -> Decision,
) -> Vec<Routed> {
    let mut out = Vec::new();
    for parent in parents {
        let authority = format!("{}.{}.svc:{}", parent.name, parent.namespace, parent.port);
        let ns = client_ns.unwrap_or(&parent.namespace);
        let Ok(rx) = index.outbound(Target::Authority(authority), ns) else {
            continue;
        };
        let Outbound::Meshed(m) = rx.borrow().as_ref().clone() else {
            continue;
        };
        let reaches = |b: &Backend| b.endpoints.iter().any(|e| at(e, pod));
        let reached = m.root.as_ref().is_some_and(reaches) || m.route_backends.iter().any(reaches);
        if m.routes.is_empty() || !reached {
            continue;
        }
        let outcome = match (client_ns, request) {
            (None, _) => Outcome::NoProxy,
            (_, None) => Outcome::NotHttp,
            (Some(_), Some(req)) => {
                let req = addressed(req, parent);
                decide(&m, &req, parent.port, pod, &judge)
            }
        };
        out.push(Routed {
            parent: parent.clone(),
            outcome,
        });
    }
    out
}

/// `req` as sent to the Service: with a `Host` naming it (`name.namespace`,
/// and the port unless 80) unless the request names a host itself.
fn addressed(req: &Parts, parent: &Parent) -> Parts {
    let mut req = req.clone();
    if req.uri.authority().is_none() && !req.headers.contains_key(http::header::HOST) {
        let port = if parent.port == 80 {
            String::new()
        } else {
            format!(":{}", parent.port)
        };
        let host = format!("{}.{}{port}", parent.name, parent.namespace);
        if let Ok(v) = http::HeaderValue::from_str(&host) {
            req.headers.insert(http::header::HOST, v);
        }
    }
    req
}

/// Whether `e` is `pod` on its port.
fn at(e: &Endpoint, pod: Pod<'_>) -> bool {
    e.namespace == pod.namespace
        && e.pod == pod.name
        && e.address.parse::<SocketAddr>().map(|a| a.port()) == Ok(pod.port)
}

fn decide(
    m: &Meshed,
    req: &Parts,
    port: u16,
    pod: Pod<'_>,
    judge: &impl Fn(&Parts) -> Decision,
) -> Outcome {
    // Which rule: every rule with its own match, no filter and a stand-in
    // backend naming its place in the list.
    let probe: Vec<pb::RouteRule> = m
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| pb::RouteRule {
            route: r.route.clone(),
            rule: i.to_string(),
            r#match: r.r#match.clone(),
            backends: vec![stand_in(&i.to_string())],
            ..Default::default()
        })
        .collect();
    let i = match run(probe, req, port) {
        Ok((backend, _)) => match backend.parse::<usize>() {
            Ok(i) if i < m.routes.len() => i,
            _ => return Outcome::NoRule,
        },
        Err((status, _)) if status == StatusCode::NOT_FOUND => return Outcome::NoRule,
        Err((_, why)) => {
            let path = weft_proxy::path::normalise(req.uri.path()).err();
            return Outcome::BadPath(path.map_or(why, |e| e.to_string()));
        }
    };
    let rule = m.routes[i].clone();
    let reaches = |name: &str| {
        !name.is_empty()
            && m.route_backends
                .iter()
                .any(|b| b.name == name && b.endpoints.iter().any(|e| at(e, pod)))
    };
    let shares: Vec<Share> = rule
        .backends
        .iter()
        .map(|b| Share {
            backend: short(&b.backend),
            weight: b.weight,
            here: reaches(&b.backend),
        })
        .collect();
    // The rule's own filters, with a stand-in backend: a redirect or a
    // filter weft cannot apply answers every request the rule matches.
    let with = |backends: Vec<pb::RouteBackend>| {
        run(
            vec![pb::RouteRule {
                backends,
                ..rule.clone()
            }],
            req,
            port,
        )
    };
    let mut answered = with(vec![stand_in("stand-in")]).err().map(|(_, a)| a);
    if answered.is_none() && rule.backends.iter().all(|b| b.weight == 0) {
        answered = Some(format!(
            "{} with {PROXY_ERROR}: bad-route (the rule has no backendRef with a weight)",
            StatusCode::INTERNAL_SERVER_ERROR
        ));
    }
    let delivered = answered.is_none().then(|| {
        let b = rule
            .backends
            .iter()
            .find(|b| b.weight > 0 && reaches(&b.backend))?;
        let only = pb::RouteBackend {
            weight: 1,
            ..b.clone()
        };
        Some(
            run(
                vec![pb::RouteRule {
                    backends: vec![only],
                    ..rule.clone()
                }],
                req,
                port,
            )
            .map(|(_, parts)| Delivered {
                method: parts.method.to_string(),
                path: parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string),
                header_changes: header_changes(&req.headers, &parts.headers),
                decision: judge(&parts),
            })
            .map_err(|(_, a)| a),
        )
    });
    Outcome::Rule(Box::new(Matched {
        rule,
        shares,
        answered,
        delivered: delivered.flatten(),
    }))
}

fn stand_in(name: &str) -> pb::RouteBackend {
    pb::RouteBackend {
        backend: name.to_owned(),
        weight: 1,
        filters: Vec::new(),
    }
}

/// The backend `rules` send `req` to and the request as the filters
/// left it, or the status and summary of the proxy's own answer.
fn run(
    rules: Vec<pb::RouteRule>,
    req: &Parts,
    port: u16,
) -> Result<(String, Parts), (StatusCode, String)> {
    let table = RouteTable::new(rules, None);
    let mut parts = req.clone();
    match table.decide(&mut parts, port, |_| true) {
        Routing::Forward(f) => Ok((f.backend.to_string(), parts)),
        Routing::Respond(r) => Err((r.status(), answer(&r))),
    }
}

/// A response the client's proxy makes itself, in a few words.
fn answer<B>(r: &Response<B>) -> String {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if r.status().is_redirection() {
        format!(
            "{} (Location: {})",
            r.status(),
            header(http::header::LOCATION.as_str())
        )
    } else {
        format!("{} with {PROXY_ERROR}: {}", r.status(), header(PROXY_ERROR))
    }
}

/// What differs between two header maps, by name, in `after`'s order
/// then the names removed.
fn header_changes(before: &HeaderMap, after: &HeaderMap) -> Vec<String> {
    let values = |h: &HeaderMap, name: &http::HeaderName| -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    let mut out = Vec::new();
    for name in after.keys() {
        let now = values(after, name);
        if values(before, name) != now {
            out.push(format!("{name}: {}", now.join(", ")));
        }
    }
    for name in before.keys() {
        if !after.contains_key(name) {
            out.push(format!("-{name}"));
        }
    }
    out
}

/// `name.ns.svc.<domain>:port` as `ns/name:port`; empty stays empty.
pub(super) fn short(backend: &str) -> String {
    let Some((host, port)) = backend.rsplit_once(':') else {
        return backend.to_owned();
    };
    match host.split_once(".svc.").map(|(s, _)| s.split_once('.')) {
        Some(Some((name, ns))) => format!("{ns}/{name}:{port}"),
        _ => backend.to_owned(),
    }
}

#[cfg(test)]
mod tests;
