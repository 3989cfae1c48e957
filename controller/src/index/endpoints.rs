//! A Service's endpoints on one port, from its EndpointSlices.
//!
//! An endpoint is left out when its slice says it is not ready
//! (`conditions.ready: false`; an absent condition means ready, as the
//! EndpointSlice API defines), and when it names a pod the index has not
//! seen yet: whether that pod is meshed is unknown, and guessing "not
//! meshed" would send a client plaintext to a meshed pod. The pod's arrival
//! recomputes the Service, which then lists it. Each endpoint's first address is used (the
//! API's addresses are fungible). An endpoint in two slices, as happens while
//! the endpoint controller moves it, is listed once.

use super::store::{ObjKey, Store, endpoint_pod};
use super::{Config, pods};
use std::net::{IpAddr, SocketAddr};
use weft_api::discovery::Endpoint;

/// A ready endpoint and the pod behind it, if its slice names one.
pub(crate) struct Ready {
    pub endpoint: Endpoint,
    pub pod: Option<ObjKey>,
    pub port: u16,
}

/// The ready endpoints of `svc` on the slice port named like the Service
/// port `port_name`, sorted by address.
pub(crate) fn ready(store: &Store, cfg: &Config, svc: &ObjKey, port_name: &str) -> Vec<Ready> {
    let mut out: Vec<Ready> = Vec::new();
    for slice in store.slices_of(svc) {
        if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
            continue;
        }
        let port = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref().unwrap_or("") == port_name)
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok());
        let Some(port) = port else { continue };
        let ns = slice.metadata.namespace.as_deref().unwrap_or("");
        for e in &slice.endpoints {
            if e.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            let Some(ip) = e.addresses.first().and_then(|a| a.parse::<IpAddr>().ok()) else {
                continue;
            };
            let pod_key = endpoint_pod(ns, e);
            let pod = pod_key.as_ref().map(|k| (k, store.pods.get(k)));
            if let Some((_, None)) = pod {
                continue;
            }
            let identity = pod
                .and_then(|(k, p)| p.map(|p| (k, p)))
                .filter(|(_, p)| pods::is_meshed(p) && pods::intercepts(p, port))
                .and_then(|(k, p)| pods::identity(cfg, &k.ns, p))
                .unwrap_or_default();
            out.push(Ready {
                endpoint: Endpoint {
                    address: SocketAddr::new(ip, port).to_string(),
                    identity,
                    pod: pod_key.as_ref().map(|k| k.name.clone()).unwrap_or_default(),
                    namespace: pod_key.as_ref().map(|k| k.ns.clone()).unwrap_or_default(),
                },
                pod: pod_key,
                port,
            });
        }
    }
    out.sort_by(|a, b| a.endpoint.address.cmp(&b.endpoint.address));
    out.dedup_by(|a, b| a.endpoint.address == b.endpoint.address);
    out
}
