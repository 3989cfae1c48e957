//! What a workload trusts and whether the control plane still verifies:
//! exported at each scrape so that `weft check` can tell, per proxy, that it
//! trusts the control plane's current anchors, that its certificate chains
//! to them, and that it can still reach weft-identity and weft-controller.
//!
//! A workload that cannot verify weft-identity or weft-controller is cut
//! off: no new certificate, no policy or endpoint updates, while it keeps
//! serving with what it last had. The usual cause is a control plane
//! installed again with a new PKI while the pod kept running, and the cure
//! is re-creating the pod, so the log says so once a minute, and the
//! metrics let alerts and `weft check` see it without reading logs.

use crate::{AnchorStore, CredStore, SpiffeId};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::{ConstGauge, Gauge},
    },
};
use std::{
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, UNIX_EPOCH},
};
use tokio::time::Instant;

/// At most one log line per this period; the counter counts every refusal.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The control-plane service a handshake was with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabel {
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DigestLabel {
    digest: String,
}

/// Shared by every control-plane client config of one workload.
#[derive(Debug, Default)]
pub struct TrustStatus {
    refusals: Family<ServiceLabel, Counter>,
    /// 1 when the last handshake with the service verified, 0 when it was
    /// refused.
    verified: Family<ServiceLabel, Gauge>,
    last_logged: Mutex<Option<Instant>>,
    /// The workload's anchors and certificate, once it has started.
    stores: OnceLock<(AnchorStore, CredStore)>,
}

impl TrustStatus {
    pub(crate) fn refused(&self, service: &SpiffeId, error: &rustls::Error) {
        let label = ServiceLabel {
            service: service.to_string(),
        };
        self.refusals.get_or_create(&label).inc();
        self.verified.get_or_create(&label).set(0);
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

    pub(crate) fn verified(&self, service: &SpiffeId) {
        self.verified
            .get_or_create(&ServiceLabel {
                service: service.to_string(),
            })
            .set(1);
    }

    /// Reports on these anchors and certificate from now on (the first call
    /// wins: a workload has one of each).
    pub(crate) fn attach(&self, anchors: AnchorStore, creds: CredStore) {
        let _ = self.stores.set((anchors, creds));
    }

    /// Refusals so far, by service.
    pub fn refusals(&self) -> Family<ServiceLabel, Counter> {
        self.refusals.clone()
    }

    /// Everything above as metrics named `<prefix>_…`: register it in the
    /// workload's registry.
    pub fn collector(self: &Arc<Self>, prefix: &'static str) -> Box<dyn Collector> {
        Box::new(TrustCollector {
            prefix,
            status: self.clone(),
        })
    }
}

#[derive(Debug)]
struct TrustCollector {
    prefix: &'static str,
    status: Arc<TrustStatus>,
}

impl Collector for TrustCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let name = |what: &str| format!("{}_{what}", self.prefix);
        let s = &self.status;
        s.refusals.encode(encoder.encode_descriptor(
            &name("control_plane_refusals"),
            "Handshakes in which weft-identity's or weft-controller's certificate did not verify against this workload's trust anchors (a control plane installed again with a new PKI: re-create the pod)",
            None,
            s.refusals.metric_type(),
        )?)?;
        s.verified.encode(encoder.encode_descriptor(
            &name("control_plane_verified"),
            "1 when the last handshake with this control-plane service verified, 0 when it was refused",
            None,
            s.verified.metric_type(),
        )?)?;
        let Some((anchors, creds)) = s.stores.get() else {
            return Ok(());
        };
        let anchors = anchors.current();
        let info = Family::<DigestLabel, Gauge>::default();
        info.get_or_create(&DigestLabel {
            digest: anchors.digest().to_owned(),
        })
        .set(1);
        info.encode(encoder.encode_descriptor(
            &name("trust_anchors"),
            "The trust anchors this workload verifies peers with, by digest (weft check compares it with the control plane's bundle)",
            None,
            info.metric_type(),
        )?)?;
        let current = creds.current();
        let chains = current.as_ref().is_some_and(|c| c.chains_to(&anchors));
        let verified = ConstGauge::new(i64::from(chains));
        verified.encode(encoder.encode_descriptor(
            &name("certificate_verified"),
            "1 when this workload's certificate is valid now and chains to its trust anchors",
            None,
            verified.metric_type(),
        )?)?;
        if let Some(c) = current {
            let until = c
                .valid_until()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let expiry = ConstGauge::new(i64::try_from(until).unwrap_or(i64::MAX));
            expiry.encode(encoder.encode_descriptor(
                &name("certificate_expiry_timestamp_seconds"),
                "When this workload's current certificate expires, in Unix seconds",
                None,
                expiry.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        TrustAnchors, anchors_digest,
        test_util::{TestCa, Validity},
    };
    use prometheus_client::registry::Registry;

    fn scrape(status: &Arc<TrustStatus>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(status.collector("weft_proxy"));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    fn id(s: &str) -> SpiffeId {
        s.parse().unwrap()
    }

    #[test]
    fn the_digest_ignores_order_duplicates_and_pem_layout() {
        let (a, b) = (TestCa::named("a"), TestCa::named("b"));
        let ab = format!("{}{}", a.root_pem(), b.root_pem());
        let ba = format!("{}\n\n{}{}", b.root_pem(), a.root_pem(), b.root_pem());
        let d = anchors_digest(ab.as_bytes()).unwrap();
        assert!(d.starts_with("sha256:") && d.len() == 7 + 64, "{d}");
        assert_eq!(d, anchors_digest(ba.as_bytes()).unwrap());
        assert_eq!(d, TrustAnchors::from_pem(ab.as_bytes()).unwrap().digest());
        assert_ne!(d, anchors_digest(a.root_pem().as_bytes()).unwrap());
        assert!(anchors_digest(b"").is_err());
    }

    #[test]
    fn reports_anchors_certificate_and_the_last_handshake_per_service() {
        let ca = TestCa::named("ours");
        let status = Arc::new(TrustStatus::default());
        assert!(
            !scrape(&status).contains("weft_proxy_trust_anchors"),
            "not started"
        );

        let (anchors, creds) = (ca.anchor_store(), CredStore::new());
        status.attach(anchors.clone(), creds.clone());
        let text = scrape(&status);
        let digest = anchors.current().digest().to_owned();
        assert!(
            text.contains(&format!(
                "weft_proxy_trust_anchors{{digest=\"{digest}\"}} 1"
            )),
            "{text}"
        );
        assert!(
            text.contains("weft_proxy_certificate_verified 0"),
            "no certificate yet: {text}"
        );

        let web = id("spiffe://cluster.local/ns/demo/sa/web");
        creds.publish(ca.credentials(&web, Validity::starting_now(Duration::from_secs(3600))));
        let text = scrape(&status);
        assert!(text.contains("weft_proxy_certificate_verified 1"), "{text}");
        assert!(
            text.contains("weft_proxy_certificate_expiry_timestamp_seconds "),
            "{text}"
        );

        // New anchors that no longer cover the certificate.
        anchors.replace(TestCa::named("theirs").anchors());
        assert!(scrape(&status).contains("weft_proxy_certificate_verified 0"));

        let identity = id("spiffe://cluster.local/ns/weft-system/sa/weft-identity");
        status.verified(&identity);
        let line = "weft_proxy_control_plane_verified{service=\"spiffe://cluster.local/ns/weft-system/sa/weft-identity\"}";
        assert!(scrape(&status).contains(&format!("{line} 1")));
        status.refused(&identity, &rustls::Error::General("bad signature".into()));
        let text = scrape(&status);
        assert!(text.contains(&format!("{line} 0")), "{text}");
        assert!(text.contains("weft_proxy_control_plane_refusals_total{service=\"spiffe://cluster.local/ns/weft-system/sa/weft-identity\"} 1"), "{text}");
    }
}
