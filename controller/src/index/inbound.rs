//! The inbound policy of a meshed pod's port.
//!
//! - `protocol`: opaque when the port is in the pod's (else its namespace's)
//!   `opaque-ports`; else HTTP when it is in the pod's (else its namespace's)
//!   `http-ports`, or a Service or the pod declares it HTTP
//!   ([`super::protocols`]); else detect. Opaque wins: bytes a server never
//!   wants inspected must not be, whatever else names the port HTTP.
//! - `default_policy`: the pod's annotation, else the namespace's, else the
//!   mesh-wide setting; an invalid value falls through to the next level.
//! - `targeted`: some TrafficTarget of the pod's namespace binds the pod's
//!   ServiceAccount on this port. A legacy `destination.port` binds only that
//!   port: on other ports the pod is as if the TrafficTarget did not exist.
//! - `authorizations`: every binding TrafficTarget's rules ([`super::targets`]),
//!   then the kubelet's probes on this port ([`super::probes`]), which are
//!   present whatever the default policy.
//! - `unauthenticated_networks`: the pod's (else namespace's)
//!   `allow-unauthenticated-from`, invalid entries skipped.
//!
//! Any port may be asked for, declared by a container or not: a container
//! may listen on ports it does not declare, and those need policy too.

use super::annotations::{self, Annotated};
use super::findings::Finding;
use super::store::{ObjKey, Store, in_ns};
use super::{Config, InboundError, Kind, pods, probes, protocols, targets};
use weft_api::policy::{InboundPolicyUpdate, Protocol};

pub(crate) fn policy(
    store: &Store,
    cfg: &Config,
    key: &ObjKey,
    port: u16,
    sink: &mut Vec<Finding>,
) -> Result<InboundPolicyUpdate, InboundError> {
    let pod = store.pods.get(key).ok_or_else(|| InboundError::NoSuchPod {
        namespace: key.ns.clone(),
        name: key.name.clone(),
    })?;
    if !pods::is_meshed(pod) {
        return Err(InboundError::NotMeshed {
            namespace: key.ns.clone(),
            name: key.name.clone(),
        });
    }
    let layers: [Annotated<'_>; 2] =
        annotations::layers(store, Kind::Pod, key, pod.metadata.annotations.as_ref());
    let protocol = if annotations::opaque_ports(&layers, sink).contains(port) {
        Protocol::Opaque
    } else if annotations::http_ports(&layers, sink).contains(port)
        || protocols::declared_http(store, key, pod, port)
    {
        Protocol::Http
    } else {
        Protocol::Detect
    };
    let default_policy = annotations::default_policy(&layers, cfg, sink);

    let sa = pods::service_account(pod);
    let mut targeted = false;
    let mut authorizations = Vec::new();
    for (tt_key, tt) in in_ns(&store.targets, &key.ns) {
        if let Some(granted) = targets::authorizations(store, cfg, tt_key, tt, sa, port) {
            targeted = true;
            authorizations.extend(granted);
        }
    }
    authorizations.extend(probes::authorizations(pod, port));

    let unauthenticated_networks = annotations::unauthenticated_networks(&layers, sink)
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(InboundPolicyUpdate {
        protocol: protocol.into(),
        default_policy: default_policy.into(),
        authorizations,
        unauthenticated_networks,
        targeted,
    })
}
