//! `weft policy suggest`: least-privilege SMI policy from what flowed.
//!
//! The server side of every edge knows what its policy let through: the
//! proxies record each allowed request's port, method and path template
//! (value-like segments as `*`) and count connections forwarded as bytes;
//! weft-controller reports both on TrafficMetrics edges (`request:` and
//! `tcp_connections:`). From those, per destination ServiceAccount, this
//! writes one HTTPRouteGroup with a match per observed request shape, a
//! TCPRoute per opaque port, and per (caller, port) a TrafficTarget naming
//! exactly the matches that caller used. Pure: the cluster is read
//! elsewhere ([`crate::dashboard::load`]).

use crate::dashboard::graph::{self, Id, Inputs, State};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use weft_k8s_api::metrics::ObjectReference;

/// The label every suggested object carries, so a reviewer can list or
/// remove them together (`kubectl delete -l weft.io/suggested=true ...`).
pub const LABEL: &str = "weft.io/suggested";

/// A ServiceAccount: namespace and name.
type Account = (String, String);

/// What one caller did on one port of a destination.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PortUse {
    /// (method, path template), as the server's proxy recorded them.
    http: BTreeSet<(String, String)>,
    tcp: bool,
}

/// Observations gathered over one or more reads of the metrics API.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// destination → caller → port → what flowed.
    flows: BTreeMap<Account, BTreeMap<Account, BTreeMap<u16, PortUse>>>,
    /// Which workload each destination account is (for `only`).
    workloads: BTreeMap<Id, Account>,
    notes: BTreeSet<String>,
    /// Each read's window, to say what the suggestion covers.
    pub windows: Vec<String>,
}

/// The suggestion: objects to review and apply, and what a switch to
/// `default-policy: deny` would refuse now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Suggestion {
    pub namespaces: Vec<String>,
    pub windows: Vec<String>,
    /// In apply order: routes before the TrafficTargets naming them.
    pub objects: Vec<Value>,
    /// Edges carrying traffic that no TrafficTarget names now.
    pub refused_under_deny: Vec<String>,
    pub notes: Vec<String>,
}

impl Observed {
    /// Adds what the server side of each edge in `inputs` saw.
    pub fn add(&mut self, inputs: &Inputs) {
        self.windows.push(inputs.window.clone());
        let accounts: BTreeMap<Id, Account> = inputs
            .workloads
            .iter()
            .filter(|w| w.meshed)
            .filter_map(|w| {
                let sa = w.service_account.clone()?;
                Some((w.id(), (w.namespace.clone(), sa)))
            })
            .collect();
        self.workloads.extend(accounts.clone());
        for (of, row) in &inputs.edges {
            let Some(e) = &row.edge else { continue };
            // Only the server's view: it is where the policy was applied and
            // the only side that records request shapes.
            if !e.served() {
                continue;
            }
            let Some(to) = accounts.get(of) else { continue };
            let Some(from) = caller(&e.peer, &accounts) else {
                self.notes.insert(format!(
                    "{of}: a caller known only as {} {}/{} is left out",
                    e.peer.kind,
                    e.peer.namespace.as_deref().unwrap_or_default(),
                    e.peer.name.as_deref().unwrap_or_default()
                ));
                continue;
            };
            let ports = self
                .flows
                .entry(to.clone())
                .or_default()
                .entry(from)
                .or_default();
            for (shape, n) in &row.requests {
                let Some((port, method, route)) = parse_shape(shape) else {
                    self.notes
                        .insert(format!("{of}: unreadable request shape {shape:?}"));
                    continue;
                };
                if *n > 0 {
                    ports.entry(port).or_default().http.insert((method, route));
                }
            }
            for (port, n) in &row.tcp_connections {
                if *n > 0 {
                    ports.entry(*port).or_default().tcp = true;
                }
            }
        }
    }
}

/// The caller's ServiceAccount: named directly, or the account of the
/// workload the metrics API named.
fn caller(peer: &ObjectReference, accounts: &BTreeMap<Id, Account>) -> Option<Account> {
    if peer.kind == "ServiceAccount" {
        return Some((peer.namespace.clone()?, peer.name.clone()?));
    }
    accounts.get(&graph::peer_id(peer)).cloned()
}

/// `8080 GET /items/*` → (8080, GET, /items/*).
fn parse_shape(shape: &str) -> Option<(u16, String, String)> {
    let mut parts = shape.splitn(3, ' ');
    let port = parts.next()?.parse().ok()?;
    let method = parts.next()?.to_string();
    let route = parts.next()?.to_string();
    (!method.is_empty() && (route.starts_with('/') || route == "*"))
        .then_some((port, method, route))
}

/// The least-privilege objects for what `observed` saw; with `only` (a
/// workload id), just those protecting that workload's account. `inputs`
/// (the latest read) gives the current policy for the deny preview.
pub fn suggest(observed: &Observed, inputs: &Inputs, only: Option<&str>) -> Suggestion {
    let only_account = only.and_then(|id| observed.workloads.get(id));
    let mut notes: BTreeSet<String> = observed.notes.clone();
    let mut routes = Vec::new();
    let mut targets = Vec::new();
    for (dst, callers) in &observed.flows {
        if only.is_some() && only_account != Some(dst) {
            continue;
        }
        let (ns, sa) = dst;
        let mut names = Names::default();
        // One match per request shape any caller used, named once.
        let mut matches: BTreeMap<(String, String), String> = BTreeMap::new();
        for ports in callers.values() {
            for uses in ports.values() {
                for shape in &uses.http {
                    if !matches.contains_key(shape) {
                        let name = names.unique(&match_name(&shape.0, &shape.1));
                        matches.insert(shape.clone(), name);
                    }
                }
            }
        }
        let group = dns_name(&format!("{sa}-observed"));
        if !matches.is_empty() {
            let list: Vec<Value> = matches
                .iter()
                .map(|((method, route), name)| http_match(name, method, route))
                .collect();
            routes.push(json!({
                "apiVersion": "specs.smi-spec.io/v1alpha4",
                "kind": "HTTPRouteGroup",
                "metadata": meta(&group, ns),
                "spec": {"matches": list},
            }));
        }
        let tcp_ports: BTreeSet<u16> = callers
            .values()
            .flat_map(|ports| ports.iter().filter(|(_, u)| u.tcp).map(|(p, _)| *p))
            .collect();
        for port in &tcp_ports {
            routes.push(json!({
                "apiVersion": "specs.smi-spec.io/v1alpha4",
                "kind": "TCPRoute",
                "metadata": meta(&tcp_route(sa, *port), ns),
                "spec": {"matches": {"ports": [port]}},
            }));
        }
        for ((src_ns, src), ports) in callers {
            let who = if src_ns == ns {
                src.clone()
            } else {
                format!("{src_ns}-{src}")
            };
            for (port, uses) in ports {
                let mut rules = Vec::new();
                if !uses.http.is_empty() {
                    let used: Vec<&String> = uses.http.iter().map(|s| &matches[s]).collect();
                    rules.push(json!({"kind": "HTTPRouteGroup", "name": group, "matches": used}));
                    if uses.http.iter().any(|(_, r)| r == "*") {
                        notes.insert(format!(
                            "{src_ns}/{src} → {ns}/{sa} port {port}: some requests had no path recorded \
                             (the proxy's table was full, or `OPTIONS *`); the suggestion allows any path there, narrow it by hand"
                        ));
                    }
                }
                if uses.tcp {
                    rules.push(json!({"kind": "TCPRoute", "name": tcp_route(sa, *port)}));
                }
                targets.push(json!({
                    "apiVersion": "access.smi-spec.io/v1alpha3",
                    "kind": "TrafficTarget",
                    "metadata": meta(&dns_name(&format!("{who}-to-{sa}-{port}")), ns),
                    "spec": {
                        "destination": {"kind": "ServiceAccount", "name": sa, "namespace": ns, "port": port},
                        "sources": [{"kind": "ServiceAccount", "name": src, "namespace": src_ns}],
                        "rules": rules,
                    },
                }));
            }
        }
    }
    routes.extend(targets);
    let refused_under_deny = graph::build(inputs.clone())
        .edges
        .into_iter()
        .filter(|e| e.state == State::Unpoliced && e.rps.is_some())
        .filter(|e| only.is_none_or(|id| e.to == id || e.from == id))
        .map(|e| format!("{} → {}", e.from, e.to))
        .collect();
    Suggestion {
        namespaces: inputs.namespaces.clone(),
        windows: observed.windows.clone(),
        objects: routes,
        refused_under_deny,
        notes: notes.into_iter().collect(),
    }
}

fn meta(name: &str, ns: &str) -> Value {
    json!({"name": name, "namespace": ns, "labels": {LABEL: "true"}})
}

fn tcp_route(sa: &str, port: u16) -> String {
    dns_name(&format!("{sa}-tcp-{port}"))
}

/// An HTTPRouteGroup match for one request shape: the path template as a
/// regex anchored at both ends (weft anchors the start), each `*` segment
/// one path segment; `*` alone (a proxy's full table) matches any request.
fn http_match(name: &str, method: &str, route: &str) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), name.into());
    if route != "*" {
        m.insert("pathRegex".into(), path_regex(route).into());
    }
    if method != "*" {
        m.insert("methods".into(), json!([method]));
    }
    Value::Object(m)
}

pub fn path_regex(route: &str) -> String {
    let segments: Vec<String> = route
        .split('/')
        .map(|s| {
            if s == "*" {
                "[^/]+".to_string()
            } else {
                escape(s)
            }
        })
        .collect();
    format!("{}$", segments.join("/"))
}

/// Escapes the characters a regex gives meaning to.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `get-items-any` for `GET /items/*`.
fn match_name(method: &str, route: &str) -> String {
    let method = if method == "*" { "any" } else { method };
    let route = if route == "*" { "any-path" } else { route };
    let route = route.replace('*', "any");
    dns_name(&format!("{method}-{route}"))
}

/// Lower case letters, digits and `-`, at most 63 characters, never empty.
fn dns_name(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "root".into() } else { out }
}

/// Names made unique within one route group.
#[derive(Default)]
struct Names(BTreeSet<String>);

impl Names {
    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 2;
        while !self.0.insert(name.clone()) {
            let suffix = format!("-{n}");
            let keep = 63 - suffix.len();
            name = format!("{}{suffix}", &base[..base.len().min(keep)]);
            n += 1;
        }
        name
    }
}

/// The suggestion as YAML for `kubectl apply -f`, with what it covers, the
/// deny preview and the notes as comments at the top.
pub fn render_yaml(s: &Suggestion) -> String {
    let mut out =
        String::from("# weft policy suggest: least-privilege SMI policy for the traffic\n");
    let windows: BTreeSet<&String> = s.windows.iter().collect();
    out.push_str(&format!(
        "# observed in {} ({} read(s) of the metrics API, window {}).\n",
        if s.namespaces.is_empty() {
            "every injected namespace".to_string()
        } else {
            s.namespaces.join(", ")
        },
        s.windows.len(),
        windows.into_iter().cloned().collect::<Vec<_>>().join(", ")
    ));
    out.push_str("# Review it, then: kubectl apply -f <this file>\n");
    if s.refused_under_deny.is_empty() {
        out.push_str(
            "#\n# Under default-policy deny, no edge that carried traffic would be refused now.\n",
        );
    } else {
        out.push_str("#\n# Under default-policy deny, these edges would be refused now (no TrafficTarget names them):\n");
        for e in &s.refused_under_deny {
            out.push_str(&format!("#   {e}\n"));
        }
    }
    for n in &s.notes {
        out.push_str(&format!("# note: {n}\n"));
    }
    if s.objects.is_empty() {
        out.push_str("#\n# Nothing was observed: no object to suggest.\n");
    }
    for o in &s.objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(o).unwrap_or_default());
    }
    out
}

pub mod read;

#[cfg(test)]
mod tests;
