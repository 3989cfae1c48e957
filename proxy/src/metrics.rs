//! The proxy's own Prometheus metrics, served on the admin port.
//!
//! Labels are bounded: directions, ports, SPIFFE ids and Service names (as
//! many as the cluster has workloads), authorization and route names from
//! policy, status classes. Never a raw path or a client address. The
//! requests' path templates are kept apart, in [`Observed`], which only
//! the controller's scrape listener serves.

use crate::observed::Observed;
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{
        counter::Counter,
        family::{Family, MetricConstructor},
        gauge::Gauge,
        histogram::Histogram,
    },
    registry::Registry,
};
use std::{
    collections::HashSet,
    hash::Hash,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};
use weft_api::contract::annotations;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl EncodeLabelValue for Direction {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        std::fmt::Write::write_str(
            e,
            match self {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            },
        )
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PortLabels {
    pub port: u16,
}

/// Who is on the other side and where the traffic goes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    pub direction: Direction,
    /// The client's SPIFFE id (inbound) or the endpoint's (outbound);
    /// `unauthenticated` or `none` (not meshed) otherwise.
    pub peer: Label,
    /// The destination Service (outbound, when known).
    pub service: Label,
    pub port: u16,
}

/// A label value shared between a connection's requests rather than
/// copied into each (a peer's SPIFFE id, a Service name, an authorization).
pub type Label = Arc<str>;

/// The empty label value.
pub fn no_label() -> Label {
    static EMPTY: LazyLock<Label> = LazyLock::new(|| Label::from(""));
    EMPTY.clone()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResponseLabels {
    pub direction: Direction,
    pub peer: Label,
    pub service: Label,
    pub port: u16,
    /// The authorization that allowed the request (inbound).
    pub authorization: Label,
    /// `2xx` … `5xx`.
    pub status_class: &'static str,
    /// The gRPC status code, empty for plain HTTP.
    pub grpc_status: &'static str,
    /// A weft denial's reason code (inbound: this proxy's; outbound: the
    /// destination proxy's, from its `weft-deny-reason`); empty otherwise.
    pub deny_reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub direction: Direction,
    /// Per peer, so SMI TrafficMetrics can give each edge its percentiles.
    pub peer: Label,
    pub status_class: &'static str,
}

/// An inbound authorization decision as it is counted.
#[derive(Clone, Copy, Debug)]
pub enum Verdict<'a> {
    /// Allowed by this authorization (`default-allow`, …).
    Allow {
        by: &'a Label,
    },
    Deny {
        reason: &'static str,
    },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthzLabels {
    pub port: u16,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The deny reason code; empty when allowed.
    pub reason: &'static str,
    /// What allowed it (an authorization name, `default-allow`, …).
    pub authorization: Label,
    pub peer: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    pub direction: Direction,
    pub peer: Label,
    pub service: Label,
    pub port: u16,
    /// `received` from the connection's initiator, `sent` towards it.
    pub flow: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub direction: Direction,
    /// One of [`refusal`]'s codes.
    pub reason: String,
}

/// Why the proxy closed a connection without forwarding it (a limit hit, a
/// probe or an attack turned away); the `reason` label of
/// `weft_proxy_refused_connections`.
pub mod refusal {
    /// A client silent past detection, then sending an HTTP request.
    pub const LATE_HTTP: &str = "late-http";
    /// An inbound connection whose original destination is not this pod.
    pub const NOT_THIS_POD: &str = "not-this-pod";
    /// The direction's concurrent connection limit was reached.
    pub const CONNECTION_LIMIT: &str = "connection-limit";
    /// An HTTP `Upgrade: h2c`, which would skip per-request checks.
    pub const H2C_UPGRADE: &str = "h2c-upgrade";
    /// An HTTP/1 request's headers did not arrive in time (slowloris).
    pub const HEADER_TIMEOUT: &str = "header-timeout";
    /// An HTTP/1 request's headers were too many or too large (431).
    pub const HEADER_LIMIT: &str = "header-limit";
    /// An HTTP/2 client flooded resets, CONTINUATION frames or errors.
    pub const H2_ABUSE: &str = "h2-abuse";
    /// A byte stream idle past the TCP idle timeout.
    pub const TCP_IDLE: &str = "tcp-idle";
    /// An HTTP connection idle past the HTTP idle timeout (drained).
    pub const HTTP_IDLE: &str = "http-idle";
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabels {
    /// `sent`, or `budget-exhausted` for one the retry budget refused.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabels {
    pub direction: Direction,
}

#[derive(Clone, Debug)]
pub struct Metrics {
    pub detect_timeouts: Family<PortLabels, Counter>,
    pub responses: Family<ResponseLabels, Counter>,
    pub latency: Family<LatencyLabels, Histogram>,
    pub tcp_opened: Family<PeerLabels, Counter>,
    pub tcp_closed: Family<PeerLabels, Counter>,
    pub tcp_open: Family<PeerLabels, Gauge>,
    pub tcp_bytes: Family<FlowLabels, Counter>,
    pub authz: Family<AuthzLabels, Counter>,
    pub tls_failures: Family<DirectionLabels, Counter>,
    pub refused: Family<RefusedLabels, Counter>,
    pub retries: Family<RetryLabels, Counter>,
    pub policy_ports: Gauge,
    /// The allowed inbound requests' shapes. Not registered: the scrape
    /// listener serves them to the controller alone, never the admin port.
    pub observed: Arc<Observed>,
    /// Ports whose detection timeout was already logged.
    logged: Arc<Mutex<HashSet<u16>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            detect_timeouts: Family::default(),
            responses: Family::default(),
            latency: Family::new_with_constructor(|| {
                // 1 ms … ~16 s.
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.001, 2.0, 15,
                ))
            }),
            tcp_opened: Family::default(),
            tcp_closed: Family::default(),
            tcp_open: Family::default(),
            tcp_bytes: Family::default(),
            authz: Family::default(),
            tls_failures: Family::default(),
            refused: Family::default(),
            retries: Family::default(),
            policy_ports: Gauge::default(),
            observed: Arc::default(),
            logged: Arc::default(),
        }
    }
}

impl Metrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "weft_proxy_protocol_detect_timeouts",
            "Outbound connections whose client sent too little to detect a protocol in time, by destination port",
            self.detect_timeouts.clone(),
        );
        r.register(
            "weft_proxy_responses",
            "HTTP responses, by direction, peer, destination, authorization, status class and gRPC status",
            self.responses.clone(),
        );
        r.register(
            "weft_proxy_response_latency_seconds",
            "Time from a request to its response headers",
            self.latency.clone(),
        );
        r.register(
            "weft_proxy_tcp_opened",
            "Connections forwarded as bytes (not HTTP), opened",
            self.tcp_opened.clone(),
        );
        r.register(
            "weft_proxy_tcp_closed",
            "Connections forwarded as bytes, closed",
            self.tcp_closed.clone(),
        );
        r.register(
            "weft_proxy_tcp_open",
            "Connections forwarded as bytes, open now",
            self.tcp_open.clone(),
        );
        r.register(
            "weft_proxy_tcp_bytes",
            "Bytes forwarded on byte-stream connections; flow=received is from the connection's initiator, sent is towards it",
            self.tcp_bytes.clone(),
        );
        r.register(
            "weft_proxy_authz",
            "Inbound authorization decisions (per HTTP request, per other connection)",
            self.authz.clone(),
        );
        r.register(
            "weft_proxy_tls_handshake_failures",
            "Mesh TLS handshakes that failed",
            self.tls_failures.clone(),
        );
        r.register(
            "weft_proxy_refused_connections",
            "Connections and requests the proxy turned away itself (limits, probes, attacks), by direction and reason",
            self.refused.clone(),
        );
        r.register(
            "weft_proxy_retries",
            "Retries of routed requests (Gateway API retry policies): sent, or refused by the retry budget",
            self.retries.clone(),
        );
        r.register(
            "weft_proxy_inbound_policy_ports",
            "Ports whose inbound policy the proxy follows now (declared ports always; others while in use)",
            self.policy_ports.clone(),
        );
    }

    pub fn refused(&self, direction: Direction, reason: &str) {
        self.refused
            .get_or_create(&RefusedLabels {
                direction,
                reason: reason.into(),
            })
            .inc();
    }

    /// Counts a retry sent, or refused by the budget.
    pub fn retry(&self, sent: bool) {
        let outcome = if sent { "sent" } else { "budget-exhausted" };
        self.retries.get_or_create(&RetryLabels { outcome }).inc();
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

    pub fn authz(&self, port: u16, peer: &Label, verdict: Verdict<'_>) {
        self.authz
            .get_or_create(&authz_labels(port, peer, verdict))
            .inc();
    }

    pub fn tls_failed(&self, direction: Direction) {
        self.tls_failures
            .get_or_create(&DirectionLabels { direction })
            .inc();
    }

    /// Marks a byte-stream connection open until the guard is dropped.
    pub fn tcp(&self, labels: PeerLabels) -> TcpGuard {
        self.tcp_opened.get_or_create(&labels).inc();
        self.tcp_open.get_or_create(&labels).inc();
        TcpGuard {
            metrics: self.clone(),
            labels,
        }
    }
}

/// A forwarded connection's metrics, closed on drop.
pub struct TcpGuard {
    metrics: Metrics,
    labels: PeerLabels,
}

impl TcpGuard {
    /// Bytes moved: `received` from the initiator, `sent` back to it.
    pub fn bytes(&self, received: u64, sent: u64) {
        for (flow, n) in [("received", received), ("sent", sent)] {
            self.metrics
                .tcp_bytes
                .get_or_create(&FlowLabels {
                    direction: self.labels.direction,
                    peer: self.labels.peer.clone(),
                    service: self.labels.service.clone(),
                    port: self.labels.port,
                    flow,
                })
                .inc_by(n);
        }
    }
}

impl Drop for TcpGuard {
    fn drop(&mut self) {
        self.metrics.tcp_closed.get_or_create(&self.labels).inc();
        self.metrics.tcp_open.get_or_create(&self.labels).dec();
    }
}

/// The metrics one HTTP connection's requests count in. Each lookup in a
/// shared family hashes every label; a keep-alive connection repeats the
/// same few label sets, so it keeps the handles it has used.
pub struct ConnMetrics {
    metrics: Metrics,
    responses: Memo<ResponseLabels, Counter>,
    latency: Memo<LatencyLabels, Histogram>,
    authz: Memo<AuthzLabels, Counter>,
}

impl ConnMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            metrics: metrics.clone(),
            responses: Memo::default(),
            latency: Memo::default(),
            authz: Memo::default(),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Records one HTTP response.
    pub fn response(&self, labels: ResponseLabels, latency: Duration) {
        let by_peer = LatencyLabels {
            direction: labels.direction,
            peer: labels.peer.clone(),
            status_class: labels.status_class,
        };
        self.latency
            .get(&self.metrics.latency, by_peer)
            .observe(latency.as_secs_f64());
        self.responses.get(&self.metrics.responses, labels).inc();
    }

    pub fn authz(&self, port: u16, peer: &Label, verdict: Verdict<'_>) {
        let labels = authz_labels(port, peer, verdict);
        self.authz.get(&self.metrics.authz, labels).inc();
    }
}

/// Handles a connection has looked up, by label set. Bounded: past
/// [`Memo::MAX`] label sets the family is asked each time.
struct Memo<S, M>(Mutex<Vec<(S, M)>>);

impl<S, M> Default for Memo<S, M> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<S: Clone + Hash + Eq, M: Clone> Memo<S, M> {
    const MAX: usize = 8;

    fn get<C: MetricConstructor<M>>(&self, family: &Family<S, M, C>, labels: S) -> M {
        let mut seen = self.0.lock().expect("metrics memo lock");
        if let Some((_, m)) = seen.iter().find(|(s, _)| *s == labels) {
            return m.clone();
        }
        // A family's metric is a handle on shared state: the clone counts
        // into the same series.
        let m = family.get_or_create(&labels).clone();
        if seen.len() < Self::MAX {
            seen.push((labels, m.clone()));
        }
        m
    }
}

/// The reason code of a weft denial carried by a response's headers; empty
/// for any other response. Only the known codes count, so a label's values
/// stay bounded whatever a peer sends.
pub fn deny_reason(headers: &http::HeaderMap) -> &'static str {
    headers
        .get(weft_api::contract::headers::DENY_REASON)
        .and_then(|v| v.to_str().ok())
        .and_then(weft_api::contract::deny_reason::known)
        .unwrap_or_default()
}

fn authz_labels(port: u16, peer: &Label, verdict: Verdict<'_>) -> AuthzLabels {
    let (decision, reason, authorization) = match verdict {
        Verdict::Allow { by } => ("allow", "", by.clone()),
        Verdict::Deny { reason } => ("deny", reason, no_label()),
    };
    AuthzLabels {
        port,
        decision,
        reason,
        authorization,
        peer: peer.clone(),
    }
}

/// `2xx`, `4xx`, …
pub fn status_class(status: http::StatusCode) -> &'static str {
    // A status code is 100 to 999.
    const CLASSES: [&str; 10] = [
        "0xx", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx",
    ];
    CLASSES[usize::from(status.as_u16() / 100).min(9)]
}

/// gRPC's status codes (0 `OK` … 16 `UNAUTHENTICATED`) as label values.
const GRPC_CODES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// A `grpc-status` value as a label: one of gRPC's codes, or `other` for
/// anything else an app sends, so the label's values stay bounded.
pub fn grpc_status(value: &[u8]) -> &'static str {
    GRPC_CODES
        .iter()
        .find(|c| c.as_bytes() == value)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests;
