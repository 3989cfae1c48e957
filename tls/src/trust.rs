//! Refusals of the control plane's certificate: counted, and explained once
//! a minute in the log.
//!
//! A workload that cannot verify weft-identity or weft-controller is cut
//! off: no new certificate, no policy or endpoint updates, while it keeps
//! serving with what it last had. The usual cause is a control plane
//! installed again with a new PKI while the pod kept running, and the cure
//! is re-creating the pod, so the log says so, and the counter
//! (`weft_proxy_control_plane_refusals` in a proxy) lets alerts and
//! `weft check` see it without reading logs.

use crate::SpiffeId;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};
use std::{sync::Mutex, time::Duration};
use tokio::time::Instant;

/// At most one log line per this period; the counter counts every refusal.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The control-plane service whose certificate was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabel {
    pub service: String,
}

/// Shared by every control-plane client config of one workload.
#[derive(Debug, Default)]
pub struct ControlPlaneTrust {
    refusals: Family<ServiceLabel, Counter>,
    last_logged: Mutex<Option<Instant>>,
}

impl ControlPlaneTrust {
    pub(crate) fn refused(&self, service: &SpiffeId, error: &rustls::Error) {
        self.refusals
            .get_or_create(&ServiceLabel {
                service: service.to_string(),
            })
            .inc();
        let mut last = self.last_logged.lock().expect("refusal log lock");
        if last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        tracing::error!(
            %service,
            %error,
            "the control plane's certificate does not verify against this workload's trust anchors: \
             no certificate renewal, policy or endpoint update reaches it; if weft was installed \
             again with a new PKI, re-create this pod"
        );
    }

    /// Refusals so far, by service: register it in a metrics registry.
    pub fn refusals(&self) -> Family<ServiceLabel, Counter> {
        self.refusals.clone()
    }
}
