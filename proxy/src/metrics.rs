//! The proxy's own Prometheus metrics, served on the admin port.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};
use weft_api::contract::annotations;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PortLabels {
    pub port: u16,
}

#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub detect_timeouts: Family<PortLabels, Counter>,
    /// Ports whose detection timeout was already logged.
    logged: Arc<Mutex<HashSet<u16>>>,
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "weft_proxy_protocol_detect_timeouts",
            "Outbound connections whose client sent too little to detect a protocol in time, by destination port",
            self.detect_timeouts.clone(),
        );
    }

    /// Counts a detection timeout; logs the first one per port with the
    /// annotation that avoids it.
    pub fn detect_timed_out(&self, port: u16) {
        self.detect_timeouts
            .get_or_create(&PortLabels { port })
            .inc();
        if self.logged.lock().expect("metrics lock").insert(port) {
            tracing::warn!(
                port,
                annotation = annotations::OPAQUE_PORTS,
                "protocol detection timed out: the client sent nothing for {:?}; if the server speaks first on this port, list it in the destination's {} annotation so connections skip detection",
                crate::detect::TIMEOUT,
                annotations::OPAQUE_PORTS,
            );
        }
    }
}
