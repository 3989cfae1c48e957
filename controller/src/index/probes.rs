//! The kubelet's probes that still reach an app port.
//!
//! The injector moves every httpGet, tcpSocket and gRPC probe to the proxy
//! (`weft_api::probes`): the proxy runs it from inside the pod, so it needs
//! no grant here and the app port stays under policy. What is left are the
//! probes of pods injected before weft did that. Those are authorised for
//! unauthenticated clients, on the probe's port only, so that upgrading weft
//! does not fail running pods' probes: an HTTP probe allows `GET` of exactly
//! its path (query excluded); an HTTPS, TCP or gRPC probe allows all traffic
//! on its port, which opens it to anyone, and a `ProbeOpensPort` finding
//! asks for the pod to be re-created.

use super::Kind;
use super::findings::{Finding, reason};
use super::pods;
use super::store::ObjKey;
use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use weft_api::contract::ports;
use weft_api::policy::authorization::Rules;
use weft_api::policy::{AllTraffic, Authorization, Clients, HttpRoute, HttpRoutes};

/// The probe authorizations of `pod` on `port`, in container order.
pub(crate) fn authorizations(pod: &Pod, port: u16) -> Vec<Authorization> {
    let mut out = Vec::new();
    for c in pods::app_containers(pod) {
        for (kind, probe) in probes(c) {
            if let Ok(Some((p, rules))) = grant(c, kind, probe)
                && p == port
            {
                out.push(Authorization {
                    name: name(c, kind),
                    clients: Some(Clients {
                        identities: Vec::new(),
                        unauthenticated: true,
                    }),
                    rules: Some(rules),
                });
            }
        }
    }
    out
}

/// Reports probes whose named port no container port has, and probes that
/// open a whole port.
pub(crate) fn check(key: &ObjKey, pod: &Pod, sink: &mut Vec<Finding>) {
    for c in pods::app_containers(pod) {
        for (kind, probe) in probes(c) {
            match grant(c, kind, probe) {
                Ok(Some((port, Rules::AllTraffic(_)))) => sink.push(Finding::new(
                    Kind::Pod,
                    &key.ns,
                    &key.name,
                    reason::PROBE_OPENS_PORT,
                    format!(
                        "{kind} probe of container {} reaches port {port} directly, so any client may use that port: re-create the pod to have its proxy run the probe",
                        c.name
                    ),
                )),
                Ok(_) => {}
                Err(port) => sink.push(Finding::new(
                    Kind::Pod,
                    &key.ns,
                    &key.name,
                    reason::UNRESOLVED_PROBE_PORT,
                    format!(
                        "{kind} probe of container {} targets port {port:?}, which the container does not declare; the probe is not authorised",
                        c.name
                    ),
                )),
            }
        }
    }
}

fn name(c: &Container, kind: &str) -> String {
    format!("probe/{}/{kind}", c.name)
}

/// The container's probes that reach an app port: not those the proxy runs.
fn probes(c: &Container) -> impl Iterator<Item = (&'static str, &Probe)> {
    [
        ("liveness", &c.liveness_probe),
        ("readiness", &c.readiness_probe),
        ("startup", &c.startup_probe),
    ]
    .into_iter()
    .filter_map(|(k, p)| p.as_ref().map(|p| (k, p)))
    .filter(|(_, p)| !run_by_proxy(p))
}

fn run_by_proxy(p: &Probe) -> bool {
    p.http_get.as_ref().is_some_and(|h| {
        h.port == IntOrString::Int(ports::ADMIN.into())
            && h.path
                .as_deref()
                .is_some_and(|path| path.starts_with(weft_api::probes::PATH_PREFIX))
    })
}

/// The port a probe targets and what it needs there; `Err` with the port's
/// name when it does not resolve; `None` for exec probes.
fn grant(c: &Container, kind: &str, p: &Probe) -> Result<Option<(u16, Rules)>, String> {
    let all = || Rules::AllTraffic(AllTraffic {});
    // A probe of another host never reaches this pod: nothing to let in.
    let elsewhere = |host: &Option<String>| host.as_deref().is_some_and(|h| !h.is_empty());
    if p.http_get.as_ref().is_some_and(|h| elsewhere(&h.host))
        || p.tcp_socket.as_ref().is_some_and(|t| elsewhere(&t.host))
    {
        return Ok(None);
    }
    if let Some(h) = &p.http_get {
        let port = resolve(c, &h.port)?;
        let https = h
            .scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS"));
        if https {
            return Ok(Some((port, all())));
        }
        let route = HttpRoute {
            name: name(c, kind),
            path_regex: format!("^{}$", regex::escape(&path(h.path.as_deref()))),
            methods: vec!["GET".into()],
            headers: Vec::new(),
        };
        return Ok(Some((
            port,
            Rules::HttpRoutes(HttpRoutes {
                routes: vec![route],
            }),
        )));
    }
    if let Some(t) = &p.tcp_socket {
        return Ok(Some((resolve(c, &t.port)?, all())));
    }
    if let Some(g) = &p.grpc {
        let port = u16::try_from(g.port).map_err(|_| g.port.to_string())?;
        return Ok(Some((port, all())));
    }
    Ok(None)
}

/// The path the kubelet requests: `/` when empty, always absolute, no query.
fn path(p: Option<&str>) -> String {
    let p = p.unwrap_or("");
    let p = p.split_once('?').map_or(p, |(path, _)| path);
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

fn resolve(c: &Container, port: &IntOrString) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| n.to_string()),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| name.clone()),
    }
}
