//! What a client proxy is told about a destination.
//!
//! - A Service's cluster IP and port, or an authority naming a Service →
//!   `Meshed` for that Service port ([`service`]), with the Gateway API
//!   routes attached to it as the client's namespace sees them
//!   ([`super::gateway`]; then any TrafficSplit on the port is ignored);
//!   an ExternalName Service →
//!   `NotMeshed`; a Service without that port → `Unavailable` (there is no
//!   such destination, and nothing to fall back to).
//! - A running pod's IP (not host-network) → `Meshed` with the pod as the one
//!   endpoint and no service name if it is meshed and its proxy intercepts
//!   the port, else `NotMeshed` (the admin port and `skip-inbound-ports`
//!   reach the pod directly, so mesh TLS there would arrive raw).
//! - Any other address → `Unavailable` inside the cluster networks (it may
//!   be a pod or Service the watches have not shown yet), else `NotMeshed`.
//! - Names: see [`super::canonical`].

use super::annotations::{self, Annotated};
use super::canonical::OutKey;
use super::endpoints::{self, Ready};
use super::protocols::HTTP2_APP_PROTOCOLS;
use super::store::{ObjKey, Store};
use super::{Config, Kind, gateway, pods, split};
use k8s_openapi::api::core::v1::{Service, ServicePort};
use std::net::SocketAddr;
use weft_api::discovery::{Backend, Endpoint, Meshed, ProtocolHint};

/// A destination, as the proxy saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The original destination address.
    Address(SocketAddr),
    /// An HTTP authority, `host[:port]` (port 80 when absent).
    Authority(String),
}

/// The answer for a destination.
#[derive(Clone, Debug, PartialEq)]
pub enum Outbound {
    Meshed(Meshed),
    /// Outside the mesh: forward as is.
    NotMeshed,
    /// Inside the cluster but not known (yet): wait, then fail. The reason is
    /// for logs.
    Unavailable(String),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("invalid authority {authority:?}: {why}")]
    InvalidAuthority { authority: String, why: String },
}

/// The answer for `key` to a client in `client_ns`.
pub(crate) fn resolve(store: &Store, cfg: &Config, key: &OutKey, client_ns: &str) -> Outbound {
    match key {
        OutKey::Address(a) => address(store, cfg, *a, client_ns),
        OutKey::Service { svc, port, strict } => match store.services.get(svc) {
            Some(s) => service(store, cfg, svc, s, *port, client_ns),
            None if *strict => {
                Outbound::Unavailable(format!("no service {}/{} yet", svc.ns, svc.name))
            }
            None => Outbound::NotMeshed,
        },
        OutKey::ClusterName(name) => {
            Outbound::Unavailable(format!("{name} names no service in the cluster"))
        }
        OutKey::External(_) => Outbound::NotMeshed,
    }
}

fn address(store: &Store, cfg: &Config, a: SocketAddr, client_ns: &str) -> Outbound {
    if let Some(k) = store.service_at(a.ip()) {
        return service(store, cfg, k, &store.services[k], a.port(), client_ns);
    }
    if let Some(k) = store.pod_at(a.ip()) {
        let pod = &store.pods[k];
        if !pods::is_meshed(pod) || !pods::intercepts(pod, a.port()) {
            return Outbound::NotMeshed;
        }
        let ann = pod.metadata.annotations.as_ref();
        let layers = annotations::layers(store, Kind::Pod, k, ann);
        let protocol = if annotations::opaque_ports(&layers, &mut Vec::new()).contains(a.port()) {
            ProtocolHint::Opaque
        } else {
            ProtocolHint::Detect
        };
        let endpoint = Endpoint {
            address: a.to_string(),
            identity: pods::identity(cfg, &k.ns, pod).unwrap_or_default(),
            pod: k.name.clone(),
            namespace: k.ns.clone(),
        };
        return Outbound::Meshed(Meshed {
            service: String::new(),
            protocol: protocol.into(),
            root: Some(Backend {
                name: String::new(),
                weight: 0,
                endpoints: vec![endpoint],
            }),
            split_backends: Vec::new(),
            split_matches: Vec::new(),
            routes: Vec::new(),
            route_backends: Vec::new(),
        });
    }
    if super::networks::in_cluster(store, cfg, a.ip()) {
        Outbound::Unavailable("no service or pod has this address yet".into())
    } else {
        Outbound::NotMeshed
    }
}

/// Port `port` of Service `key`, for a client in `client_ns` (which
/// consumer routes depend on). The root's weight is 0: it is not part of a
/// split and the field is ignored there.
pub(crate) fn service(
    store: &Store,
    cfg: &Config,
    key: &ObjKey,
    svc: &Service,
    port: u16,
    client_ns: &str,
) -> Outbound {
    let spec = svc.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return Outbound::NotMeshed;
    }
    let Some(sp) = service_port(svc, port) else {
        return Outbound::Unavailable(format!(
            "service {}/{} has no port {port}",
            key.ns, key.name
        ));
    };
    let root = endpoints::ready(store, cfg, key, sp.name.as_deref().unwrap_or(""));
    let routes = gateway::routes(store, cfg, key, port, client_ns);
    let split = if routes.attached {
        split::Split::default()
    } else {
        split::apply(store, cfg, key, port, &mut Vec::new())
    };
    let ready = root.iter().chain(&split.ready).chain(&routes.ready);
    let protocol = hint(store, key, svc, sp, ready);
    let name = canonical_name(cfg, key);
    Outbound::Meshed(Meshed {
        service: name.clone(),
        protocol: protocol.into(),
        root: Some(Backend {
            name,
            weight: 0,
            endpoints: root.into_iter().map(|r| r.endpoint).collect(),
        }),
        split_backends: split.backends,
        split_matches: split.matches,
        routes: routes.rules,
        route_backends: routes.backends,
    })
}

pub(crate) fn service_port(svc: &Service, port: u16) -> Option<&ServicePort> {
    svc.spec
        .as_ref()?
        .ports
        .iter()
        .flatten()
        .find(|p| p.port == i32::from(port))
}

pub(crate) fn canonical_name(cfg: &Config, key: &ObjKey) -> String {
    format!("{}.{}.svc.{}", key.name, key.ns, cfg.cluster_domain)
}

/// Opaque when the Service (else its namespace) lists the port, or any
/// ready endpoint's pod (else its namespace) lists its target port: bytes a
/// server never wants inspected must not be, whichever side said so.
fn hint<'a>(
    store: &Store,
    key: &ObjKey,
    svc: &Service,
    sp: &ServicePort,
    ready: impl Iterator<Item = &'a Ready>,
) -> ProtocolHint {
    let ann = svc.metadata.annotations.as_ref();
    let layers: [Annotated<'_>; 2] = annotations::layers(store, Kind::Service, key, ann);
    let port = u16::try_from(sp.port).unwrap_or_default();
    if annotations::opaque_ports(&layers, &mut Vec::new()).contains(port) {
        return ProtocolHint::Opaque;
    }
    for r in ready {
        let Some((k, pod)) = r
            .pod
            .as_ref()
            .and_then(|k| store.pods.get(k).map(|p| (k, p)))
        else {
            continue;
        };
        let layers = annotations::layers(store, Kind::Pod, k, pod.metadata.annotations.as_ref());
        if annotations::opaque_ports(&layers, &mut Vec::new()).contains(r.port) {
            return ProtocolHint::Opaque;
        }
    }
    match sp.app_protocol.as_deref() {
        Some(p) if HTTP2_APP_PROTOCOLS.contains(&p) => ProtocolHint::Http2,
        _ => ProtocolHint::Detect,
    }
}
