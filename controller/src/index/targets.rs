//! TrafficTargets as authorizations.
//!
//! Each rule of a TrafficTarget becomes one [`Authorization`] named
//! `traffictarget/<ns>/<name>/<rule kind>/<rule name>`, for the target's
//! sources:
//!
//! - an HTTPRouteGroup rule allows HTTP requests matching its routes;
//! - a TCPRoute or UDPRoute rule allows all traffic on its ports, HTTP
//!   included, unless the target also has an HTTPRouteGroup rule: then only
//!   traffic the proxy does not recognise as HTTP (`opaque_traffic`), so that
//!   HTTP must still match the routes;
//! - a rule that cannot be resolved fails closed: its authorization has no
//!   rules and allows nothing. Such rules are sent on every port so that the
//!   proxy can log why a request was refused.

use super::findings::{Finding, reason};
use super::routes::{self, RouteError};
use super::store::{ObjKey, Store};
use super::{Config, Kind};
use weft_api::policy::authorization::Rules;
use weft_api::policy::{AllTraffic, Authorization, Clients, HttpRoute, HttpRoutes, OpaqueTraffic};
use weft_k8s_api::access::{IdentityBindingSubject, TrafficTarget, TrafficTargetRule};
use weft_k8s_api::specs::PortMatch;
use weft_tls::SpiffeId;

const SERVICE_ACCOUNT: &str = "ServiceAccount";

/// The authorizations `tt` grants pods running as `sa` on `port`, or
/// `None` when it does not bind them there.
pub(crate) fn authorizations(
    store: &Store,
    cfg: &Config,
    key: &ObjKey,
    tt: &TrafficTarget,
    sa: &str,
    port: u16,
) -> Option<Vec<Authorization>> {
    let d = &tt.spec.destination;
    let binds = d.kind == SERVICE_ACCOUNT
        && d.name == sa
        && own_namespace(key, d)
        && d.port.is_none_or(|p| p == port);
    binds.then(|| resolve(store, cfg, key, tt, &mut Vec::new()).for_port(port))
}

/// Reports everything about `tt` that is ignored or fails closed.
pub(crate) fn check(
    store: &Store,
    cfg: &Config,
    key: &ObjKey,
    tt: &TrafficTarget,
    sink: &mut Vec<Finding>,
) {
    let d = &tt.spec.destination;
    if d.kind != SERVICE_ACCOUNT {
        sink.push(finding(
            key,
            reason::UNSUPPORTED_SUBJECT,
            format!(
                "destination kind {:?} is not ServiceAccount; the TrafficTarget is ignored",
                d.kind
            ),
        ));
        return;
    }
    if !own_namespace(key, d) {
        sink.push(finding(
            key,
            reason::CROSS_NAMESPACE_DESTINATION,
            format!(
                "destination namespace {:?} is not the TrafficTarget's own ({:?}): a TrafficTarget binds only its own namespace; ignored",
                d.namespace.as_deref().unwrap_or(""),
                key.ns
            ),
        ));
        return;
    }
    resolve(store, cfg, key, tt, sink);
}

fn own_namespace(key: &ObjKey, d: &IdentityBindingSubject) -> bool {
    d.namespace
        .as_deref()
        .is_none_or(|n| n.is_empty() || n == key.ns)
}

fn finding(key: &ObjKey, reason: &'static str, message: String) -> Finding {
    Finding::new(Kind::TrafficTarget, &key.ns, &key.name, reason, message)
}

/// A TrafficTarget with its references looked up, for any port.
struct Resolved {
    clients: Clients,
    rules: Vec<(String, Grant)>,
}

enum Grant {
    Http(Vec<HttpRoute>),
    /// Empty `ports` = every port.
    Ports {
        ports: Vec<u16>,
        opaque_only: bool,
    },
    Nothing,
}

impl Resolved {
    fn for_port(self, port: u16) -> Vec<Authorization> {
        let clients = self.clients;
        self.rules
            .into_iter()
            .filter_map(|(name, grant)| {
                let rules = match grant {
                    Grant::Http(routes) => Some(Rules::HttpRoutes(HttpRoutes { routes })),
                    Grant::Ports { ports, .. } if !ports.is_empty() && !ports.contains(&port) => {
                        return None;
                    }
                    Grant::Ports {
                        opaque_only: true, ..
                    } => Some(Rules::OpaqueTraffic(OpaqueTraffic {})),
                    Grant::Ports { .. } => Some(Rules::AllTraffic(AllTraffic {})),
                    Grant::Nothing => None,
                };
                Some(Authorization {
                    name,
                    clients: Some(clients.clone()),
                    rules,
                })
            })
            .collect()
    }
}

fn resolve(
    store: &Store,
    cfg: &Config,
    key: &ObjKey,
    tt: &TrafficTarget,
    sink: &mut Vec<Finding>,
) -> Resolved {
    let mut identities = Vec::new();
    for s in &tt.spec.sources {
        if s.kind != SERVICE_ACCOUNT {
            sink.push(finding(
                key,
                reason::UNSUPPORTED_SUBJECT,
                format!("source kind {:?} is not ServiceAccount; ignored", s.kind),
            ));
            continue;
        }
        let ns = s.namespace.as_deref().filter(|n| !n.is_empty());
        match SpiffeId::new(&cfg.trust_domain, ns.unwrap_or(&key.ns), &s.name) {
            Ok(id) => identities.push(id.as_str().to_owned()),
            Err(e) => sink.push(finding(
                key,
                reason::UNSUPPORTED_SUBJECT,
                format!("source {:?}: {e}; ignored", s.name),
            )),
        }
    }
    identities.sort();
    identities.dedup();

    if tt.spec.rules.is_empty() {
        sink.push(finding(
            key,
            reason::NO_RULES,
            "the TrafficTarget has no rules, so it allows nothing".into(),
        ));
    }
    let has_http = tt.spec.rules.iter().any(|r| r.kind == "HTTPRouteGroup");
    let rules = tt
        .spec
        .rules
        .iter()
        .map(|r| {
            let name = format!(
                "traffictarget/{}/{}/{}/{}",
                key.ns, key.name, r.kind, r.name
            );
            (name, grant(store, key, r, has_http, sink))
        })
        .collect();
    Resolved {
        clients: Clients {
            identities,
            unauthenticated: false,
        },
        rules,
    }
}

fn grant(
    store: &Store,
    key: &ObjKey,
    r: &TrafficTargetRule,
    has_http: bool,
    sink: &mut Vec<Finding>,
) -> Grant {
    let fail = |sink: &mut Vec<Finding>, reason: &'static str, why: String| {
        sink.push(finding(
            key,
            reason,
            format!("rule {}/{} fails closed: {why}", r.kind, r.name),
        ));
        Grant::Nothing
    };
    let route_key = ObjKey::new(&key.ns, &r.name);
    let ports = match r.kind.as_str() {
        "HTTPRouteGroup" => {
            return match routes::group_routes(store, &key.ns, &r.name, &r.matches) {
                Ok(routes) => Grant::Http(routes),
                Err(e) => fail(sink, e.reason(), e.to_string()),
            };
        }
        "TCPRoute" => store
            .tcp_routes
            .get(&route_key)
            .map(|t| t.spec.matches.as_ref()),
        "UDPRoute" => {
            sink.push(finding(
                key,
                reason::UDP_NOT_MEDIATED,
                format!(
                    "rule UDPRoute/{}: weft does not mediate UDP, so the proxy never sees that traffic",
                    r.name
                ),
            ));
            store
                .udp_routes
                .get(&route_key)
                .map(|u| u.spec.matches.as_ref())
        }
        other => {
            return fail(
                sink,
                reason::UNKNOWN_RULE_KIND,
                format!("kind {other:?} is none of HTTPRouteGroup, TCPRoute, UDPRoute"),
            );
        }
    };
    let Some(matches) = ports else {
        return fail(
            sink,
            reason::MISSING_ROUTE,
            format!("{} {} does not exist", r.kind, r.name),
        );
    };
    match port_match(&r.kind, &r.name, matches, &r.matches) {
        Ok(ports) => Grant::Ports {
            ports,
            opaque_only: has_http,
        },
        Err(e) => fail(sink, e.reason(), e.to_string()),
    }
}

/// The ports of a TCPRoute/UDPRoute (empty = every port), checking that the
/// rule's match names, if any, name its one match.
fn port_match(
    kind: &str,
    route: &str,
    matches: Option<&PortMatch>,
    names: &[String],
) -> Result<Vec<u16>, RouteError> {
    let own = matches.and_then(|m| m.name.as_deref());
    if let Some(missing) = names.iter().find(|n| Some(n.as_str()) != own) {
        return Err(RouteError::MissingMatch {
            route: format!("{kind} {route}"),
            name: missing.clone(),
        });
    }
    Ok(matches.map(|m| m.ports.clone()).unwrap_or_default())
}
