//! The proxy's own Prometheus metrics, served on the admin port.
//!
//! Labels are bounded: directions, ports, SPIFFE ids and Service names (as
//! many as the cluster has workloads), authorization and route names from
//! policy, status classes. Never a raw path or a client address.

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
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
    pub peer: String,
    /// The destination Service (outbound, when known).
    pub service: String,
    pub port: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResponseLabels {
    pub direction: Direction,
    pub peer: String,
    pub service: String,
    pub port: u16,
    /// The authorization that allowed the request (inbound).
    pub authorization: String,
    /// `2xx` … `5xx`.
    pub status_class: String,
    /// The gRPC status code, empty for plain HTTP.
    pub grpc_status: String,
    /// A weft denial's reason code (inbound: this proxy's; outbound: the
    /// destination proxy's, from its `weft-deny-reason`); empty otherwise.
    pub deny_reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub direction: Direction,
    /// Per peer, so SMI TrafficMetrics can give each edge its percentiles.
    pub peer: String,
    pub status_class: String,
}

/// An inbound authorization decision as it is counted.
#[derive(Clone, Copy, Debug)]
pub enum Verdict<'a> {
    /// Allowed by this authorization (`default-allow`, …).
    Allow {
        by: &'a str,
    },
    Deny {
        reason: &'a str,
    },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthzLabels {
    pub port: u16,
    /// `allow` or `deny`.
    pub decision: String,
    /// The deny reason code; empty when allowed.
    pub reason: String,
    /// What allowed it (an authorization name, `default-allow`, …).
    pub authorization: String,
    pub peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    pub direction: Direction,
    pub peer: String,
    pub service: String,
    pub port: u16,
    /// `received` from the connection's initiator, `sent` towards it.
    pub flow: String,
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

    pub fn authz(&self, port: u16, peer: &str, verdict: Verdict<'_>) {
        let (d, reason, by) = match verdict {
            Verdict::Allow { by } => ("allow", "", by),
            Verdict::Deny { reason } => ("deny", reason, ""),
        };
        self.authz
            .get_or_create(&AuthzLabels {
                port,
                decision: d.into(),
                reason: reason.into(),
                authorization: by.into(),
                peer: peer.into(),
            })
            .inc();
    }

    pub fn tls_failed(&self, direction: Direction) {
        self.tls_failures
            .get_or_create(&DirectionLabels { direction })
            .inc();
    }

    /// Records one HTTP response.
    pub fn response(&self, labels: ResponseLabels, latency: Duration) {
        self.latency
            .get_or_create(&LatencyLabels {
                direction: labels.direction,
                peer: labels.peer.clone(),
                status_class: labels.status_class.clone(),
            })
            .observe(latency.as_secs_f64());
        self.responses.get_or_create(&labels).inc();
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
                    flow: flow.into(),
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

/// `2xx`, `4xx`, …
pub fn status_class(status: http::StatusCode) -> String {
    format!("{}xx", status.as_u16() / 100)
}
