//! What Services and pods declare about the protocol of a port.
//!
//! A pod port is declared HTTP when any of these says so:
//!
//! - a port of a Service of the pod's namespace that selects the pod, whose
//!   targetPort (a number, or the name of one of the pod's container ports)
//!   is this port, with an HTTP `appProtocol` ([`HTTP_APP_PROTOCOLS`]) or,
//!   when it has no `appProtocol`, an HTTP name ([`is_http_name`]);
//! - the pod's container port with this number, by its name;
//! - the `weft.io/http-ports` annotation (see [`super::inbound`]).
//!
//! `appProtocol` wins over the name because it is the field Kubernetes
//! defines for this; names are a convention (Istio's) that predates it.
//! TLS values (`https`, `kubernetes.io/wss`, `tls`) are the app's own TLS,
//! which the proxy must carry as bytes, so they are never HTTP here.

use super::pods;
use super::store::{ObjKey, Store, in_ns};
use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Application protocols that mean HTTP/2 from the first byte.
pub(crate) const HTTP2_APP_PROTOCOLS: &[&str] = &["kubernetes.io/h2c", "grpc", "h2c", "http2"];

/// Application protocols that mean HTTP/1 or HTTP/2 in clear text.
const HTTP1_APP_PROTOCOLS: &[&str] = &["http", "grpc-web", "kubernetes.io/ws"];

/// Port names that mean HTTP, exactly or as a prefix followed by `-`.
const HTTP_NAMES: &[&str] = &["http", "http2", "grpc", "grpc-web"];

/// Whether an `appProtocol` value means cleartext HTTP (any case).
pub(crate) fn is_http_app_protocol(p: &str) -> bool {
    HTTP2_APP_PROTOCOLS
        .iter()
        .chain(HTTP1_APP_PROTOCOLS)
        .any(|h| h.eq_ignore_ascii_case(p))
}

/// Whether a port name follows the HTTP naming convention: `http`, `http2`,
/// `grpc`, `grpc-web`, or `http-…`, `http2-…`, `grpc-…`.
pub(crate) fn is_http_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    HTTP_NAMES.iter().any(|n| {
        name == *n
            || name
                .strip_prefix(n)
                .is_some_and(|rest| rest.starts_with('-'))
    })
}

/// Whether a Service or the pod itself declares the pod's `port` HTTP (the
/// annotation aside).
pub(crate) fn declared_http(store: &Store, key: &ObjKey, pod: &Pod, port: u16) -> bool {
    let named = app_ports(pod)
        .filter(|(_, p)| *p == port)
        .any(|(name, _)| name.is_some_and(is_http_name));
    named
        || in_ns(&store.services, &key.ns)
            .filter(|(_, svc)| selects(svc, pod))
            .flat_map(|(_, svc)| svc.spec.iter().flat_map(|s| s.ports.iter().flatten()))
            .filter(|sp| tcp(sp.protocol.as_deref()) && target(sp, pod) == Some(port))
            .any(declares_http)
}

/// The pods of `svc`'s namespace it selects.
pub(crate) fn selected<'a>(
    store: &'a Store,
    svc_key: &'a ObjKey,
    svc: &'a Service,
) -> impl Iterator<Item = &'a ObjKey> {
    in_ns(&store.pods, &svc_key.ns)
        .filter(move |(_, pod)| selects(svc, pod))
        .map(|(k, _)| k)
}

/// Whether `svc` (assumed in the pod's namespace) selects `pod`. A Service
/// without a selector selects nothing: its endpoints are managed by hand,
/// and an ExternalName Service has no endpoints at all.
fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(spec) = &svc.spec else {
        return false;
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return false;
    }
    let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
        return false;
    };
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

fn declares_http(sp: &ServicePort) -> bool {
    match sp.app_protocol.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => is_http_app_protocol(p),
        None => sp.name.as_deref().is_some_and(is_http_name),
    }
}

/// The pod port a Service port sends to: targetPort, a number or a
/// container port's name, else the Service port itself (the API server's
/// default).
fn target(sp: &ServicePort, pod: &Pod) -> Option<u16> {
    match &sp.target_port {
        None => u16::try_from(sp.port).ok(),
        Some(IntOrString::Int(n)) => u16::try_from(*n).ok(),
        Some(IntOrString::String(name)) => app_ports(pod)
            .find(|(n, _)| *n == Some(name.as_str()))
            .map(|(_, p)| p),
    }
}

/// The app containers' TCP ports, with their names.
fn app_ports(pod: &Pod) -> impl Iterator<Item = (Option<&str>, u16)> {
    pods::app_containers(pod)
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| tcp(p.protocol.as_deref()))
        .filter_map(|p| Some((p.name.as_deref(), u16::try_from(p.container_port).ok()?)))
}

/// Unset means TCP.
fn tcp(protocol: Option<&str>) -> bool {
    protocol.is_none_or(|p| p.eq_ignore_ascii_case("TCP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_names_follow_the_convention() {
        let yes = ["http", "HTTP", "http-web", "http2", "http2-api", "grpc"];
        for name in yes.into_iter().chain(["grpc-web", "grpc-status"]) {
            assert!(is_http_name(name), "{name}");
        }
        for name in ["https", "httpd", "web", "h2c", "tcp-http", "grpcx", ""] {
            assert!(!is_http_name(name), "{name}");
        }
    }

    #[test]
    fn http_app_protocols_are_cleartext_http_only() {
        for yes in [
            "http",
            "HTTP",
            "http2",
            "h2c",
            "grpc",
            "grpc-web",
            "kubernetes.io/h2c",
            "kubernetes.io/ws",
        ] {
            assert!(is_http_app_protocol(yes), "{yes}");
        }
        for no in ["https", "kubernetes.io/wss", "tls", "tcp", "mysql", ""] {
            assert!(!is_http_app_protocol(no), "{no}");
        }
    }
}
