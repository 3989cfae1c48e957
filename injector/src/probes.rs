//! Moves the app's probes to the proxy, so that no app port has to be open
//! to unauthenticated clients for the kubelet (see `weft_api::probes`).
//!
//! Each httpGet, tcpSocket and gRPC probe of an app container becomes a GET
//! of `/probe/<container>/<kind>` on the proxy's admin port, with the same
//! timing and thresholds; the original check travels to the proxy in its
//! environment. Left as they are: exec probes (no network), httpGet and
//! tcpSocket probes aimed at another `host` (not this pod), and probes whose
//! named port the container does not declare (the controller reports those).

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use weft_api::contract::ports;
use weft_api::probes::{self as wire, AppProbe, Check, Header};

/// A probe to replace: where it is in the pod, and what replaces it.
#[derive(Clone, Debug, PartialEq)]
pub struct Rewrite {
    /// JSON pointer tokens of the probe (`spec/containers/0/livenessProbe`).
    pub pointer: Vec<String>,
    pub probe: Probe,
}

/// The rewrites for `spec`, and the checks the proxy runs in their place.
pub fn rewrite(spec: &PodSpec) -> (Vec<Rewrite>, Vec<AppProbe>) {
    let mut rewrites = Vec::new();
    let mut moved = Vec::new();
    let lists = [
        ("containers", spec.containers.iter().collect::<Vec<_>>()),
        // Only restartable (sidecar) init containers may have probes.
        (
            "initContainers",
            spec.init_containers.iter().flatten().collect(),
        ),
    ];
    for (list, containers) in lists {
        for (i, c) in containers.into_iter().enumerate() {
            for (field, kind, probe) in probes(c) {
                let Some(check) = moved_check(c, kind, probe) else {
                    continue;
                };
                rewrites.push(Rewrite {
                    pointer: vec!["spec".into(), list.into(), i.to_string(), field.into()],
                    probe: to_proxy(probe, &check.name),
                });
                moved.push(check);
            }
        }
    }
    (rewrites, moved)
}

fn probes(c: &Container) -> impl Iterator<Item = (&'static str, &'static str, &Probe)> {
    [
        ("livenessProbe", "liveness", &c.liveness_probe),
        ("readinessProbe", "readiness", &c.readiness_probe),
        ("startupProbe", "startup", &c.startup_probe),
    ]
    .into_iter()
    .filter_map(|(f, k, p)| p.as_ref().map(|p| (f, k, p)))
}

/// What the proxy must check for `probe`, or `None` when it stays as is.
fn moved_check(c: &Container, kind: &str, probe: &Probe) -> Option<AppProbe> {
    let (port, check) = if let Some(h) = &probe.http_get {
        if h.host.as_deref().is_some_and(|h| !h.is_empty()) {
            return None;
        }
        let https = h
            .scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS"));
        let headers = h
            .http_headers
            .iter()
            .flatten()
            .map(|h| Header {
                name: h.name.clone(),
                value: h.value.clone(),
            })
            .collect();
        let check = Check::Http {
            path: request_path(h.path.as_deref()),
            https,
            headers,
        };
        (resolve(c, &h.port)?, check)
    } else if let Some(t) = &probe.tcp_socket {
        if t.host.as_deref().is_some_and(|h| !h.is_empty()) {
            return None;
        }
        (resolve(c, &t.port)?, Check::Tcp)
    } else if let Some(g) = &probe.grpc {
        let check = Check::Grpc {
            service: g.service.clone().filter(|s| !s.is_empty()),
        };
        (u16::try_from(g.port).ok()?, check)
    } else {
        return None;
    };
    Some(AppProbe {
        name: wire::name(&c.name, kind),
        port,
        // The kubelet's default.
        timeout_seconds: probe
            .timeout_seconds
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(1),
        check,
    })
}

/// The probe the kubelet runs instead: the same timing, aimed at the proxy.
fn to_proxy(original: &Probe, name: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(wire::path(name)),
            port: IntOrString::Int(ports::ADMIN.into()),
            ..Default::default()
        }),
        tcp_socket: None,
        grpc: None,
        exec: None,
        ..original.clone()
    }
}

/// The request target the kubelet sends: absolute, query kept.
fn request_path(p: Option<&str>) -> String {
    let p = p.unwrap_or("");
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

fn resolve(c: &Container, port: &IntOrString) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok().filter(|p| *p > 0),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}
