//! The numbers behind SMI TrafficMetrics, computed from proxies' scrapes.
//!
//! Pure: no clock, no network. A scrape of one proxy's metrics text is
//! parsed into cumulative counters per edge ([`parse`]); a [`Series`] keeps
//! a pod's scrapes over a bounded window and turns them into what happened
//! in it ([`Delta`]), riding over counter resets (a restarted proxy); a
//! [`Delta`] gives success and failure counts, rates and latency
//! percentiles in milliseconds.
//!
//! Definitions (docs/metrics.md): a success is an HTTP response that is not
//! 5xx and, for gRPC, has status OK; a failure is every other response,
//! including weft's denials (a `deny_reason`, on either side of an edge).

mod parse;
mod window;

pub use parse::{ParseError, certificate_expiry, parse, start_time};
pub use window::Series;

use std::collections::BTreeMap;

/// A resource's TrafficMetrics metric `certificate_expiry_timestamp` is
/// when the earliest of its pods' proxy certificates expires (Unix
/// seconds), from the latest scrape.
pub const CERTIFICATE_EXPIRY: &str = "certificate_expiry_timestamp";
/// The TrafficMetrics metric named `denied:<reason>` counts the window's
/// weft denials with that reason code.
pub const DENIED_PREFIX: &str = "denied:";
/// On an edge, `request:<port> <METHOD> <route>` counts the window's
/// requests the server's policy allowed with that method and path template
/// (the server side's view: `from` edges).
pub const REQUEST_PREFIX: &str = "request:";
/// On an edge, `tcp_connections:<port>` counts the window's connections
/// forwarded as bytes (not HTTP) to that port.
pub const TCP_PREFIX: &str = "tcp_connections:";

/// An allowed request's shape as the server's proxy recorded it: the port
/// it arrived on, its method and its path with value-like segments as `*`
/// (`*` alone when the proxy's table was full).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub port: u16,
    pub method: String,
    pub route: String,
}

/// Which side of the pod's proxy the traffic crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Requests this pod served.
    Inbound,
    /// Requests this pod made.
    Outbound,
}

/// One edge of the traffic graph as one proxy sees it: a direction and the
/// SPIFFE id on the other side (`unauthenticated` or `none` when there is
/// no verified id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    pub direction: Direction,
    pub peer: String,
}

/// Cumulative counts since the proxy started.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    pub success: u64,
    pub failure: u64,
    /// Latency histogram: (upper bound in seconds, cumulative count), in
    /// increasing order, the last bound infinite.
    pub buckets: Vec<(f64, u64)>,
    /// Responses that were weft denials, by reason code (counted among the
    /// failures too).
    pub denied: BTreeMap<&'static str, u64>,
    /// Allowed inbound requests by shape (from the controller-only scrape).
    pub requests: BTreeMap<Route, u64>,
    /// Connections forwarded as bytes, by port.
    pub tcp: BTreeMap<u16, u64>,
}

/// One proxy's counters at one moment, per edge.
pub type Scrape = BTreeMap<Edge, Counts>;

/// What happened on one edge during a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    pub success: u64,
    pub failure: u64,
    /// Per-bucket (not cumulative) increases, same bounds as [`Counts`].
    pub buckets: Vec<(f64, u64)>,
    /// Denials by reason code.
    pub denied: BTreeMap<&'static str, u64>,
    pub requests: BTreeMap<Route, u64>,
    pub tcp: BTreeMap<u16, u64>,
    /// The window actually covered by scrapes, in seconds.
    pub seconds: f64,
    /// The earliest certificate expiry among the pods (Unix seconds); set
    /// on a resource's own figures, never on an edge.
    pub certificate_expiry: Option<f64>,
}

impl Delta {
    pub fn total(&self) -> u64 {
        self.success.saturating_add(self.failure)
    }

    /// Successes over all responses; `None` without traffic.
    pub fn success_rate(&self) -> Option<f64> {
        (self.total() > 0).then(|| self.success as f64 / self.total() as f64)
    }

    /// Responses per second over the window; `None` for an empty window.
    pub fn rps(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.total() as f64 / self.seconds)
    }

    /// The `q` quantile (0 < q ≤ 1) of latency in milliseconds, by linear
    /// interpolation inside the bucket that holds it; `None` without
    /// traffic. A quantile in the overflow bucket reports its lower bound.
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        let total = self
            .buckets
            .iter()
            .fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        let mut lower = 0.0;
        for &(upper, n) in &self.buckets {
            if n > 0 && below.saturating_add(n) as f64 >= rank {
                if upper.is_infinite() {
                    return Some(lower * 1000.0);
                }
                let within = (rank - below as f64) / n as f64;
                return Some((lower + (upper - lower) * within) * 1000.0);
            }
            below = below.saturating_add(n);
            lower = upper;
        }
        Some(lower * 1000.0)
    }

    /// The SMI metrics of this delta: counts, then p50/p90/p99 latency in
    /// milliseconds (omitted without traffic, never reported as zero), then
    /// weft's additions; requests by shape and TCP connections only on an
    /// `edge`, where they say who did what.
    pub fn smi_metrics(&self, edge: bool) -> Vec<weft_k8s_api::metrics::Metric> {
        use weft_k8s_api::metrics::Metric;
        let mut out = vec![
            Metric {
                name: "success_count".into(),
                unit: None,
                value: self.success.to_string(),
            },
            Metric {
                name: "failure_count".into(),
                unit: None,
                value: self.failure.to_string(),
            },
        ];
        for (name, q) in [
            ("p50_response_latency", 0.5),
            ("p90_response_latency", 0.9),
            ("p99_response_latency", 0.99),
        ] {
            if let Some(ms) = self.percentile_ms(q) {
                out.push(Metric {
                    name: name.into(),
                    unit: Some("ms".into()),
                    value: quantity(ms),
                });
            }
        }
        // weft's own additions, which SMI clients skip as unknown names.
        let count = |name: String, n: &u64| Metric {
            name,
            unit: None,
            value: n.to_string(),
        };
        for (reason, n) in self.denied.iter().filter(|(_, n)| **n > 0) {
            out.push(count(format!("{DENIED_PREFIX}{reason}"), n));
        }
        if let (false, Some(t)) = (edge, self.certificate_expiry) {
            out.push(Metric {
                name: CERTIFICATE_EXPIRY.into(),
                unit: Some("s".into()),
                value: format!("{}", t.max(0.0).floor() as u64),
            });
        }
        if edge {
            for (r, n) in self.requests.iter().filter(|(_, n)| **n > 0) {
                let name = format!("{REQUEST_PREFIX}{} {} {}", r.port, r.method, r.route);
                out.push(count(name, n));
            }
            for (port, n) in self.tcp.iter().filter(|(_, n)| **n > 0) {
                out.push(count(format!("{TCP_PREFIX}{port}"), n));
            }
        }
        out
    }

    /// Adds `other` (another pod's view of the same resource). Counts
    /// saturate rather than overflow.
    pub fn add(&mut self, other: &Delta) {
        self.success = self.success.saturating_add(other.success);
        self.failure = self.failure.saturating_add(other.failure);
        self.seconds = self.seconds.max(other.seconds);
        add_all(&mut self.denied, &other.denied);
        add_all(&mut self.requests, &other.requests);
        add_all(&mut self.tcp, &other.tcp);
        if self.buckets.is_empty() {
            self.buckets = other.buckets.clone();
        } else if self.buckets.len() == other.buckets.len() {
            for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
                mine.1 = mine.1.saturating_add(theirs.1);
            }
        }
    }
}

/// Adds each of `other`'s counts to `mine`'s, saturating.
fn add_all<K: Ord + Clone>(mine: &mut BTreeMap<K, u64>, other: &BTreeMap<K, u64>) {
    for (k, n) in other {
        let m = mine.entry(k.clone()).or_default();
        *m = m.saturating_add(*n);
    }
}

/// A Kubernetes quantity: whole numbers as they are, others in
/// thousandths (`3.6` → `3600m`).
fn quantity(v: f64) -> String {
    let milli = (v * 1000.0).round() as u64;
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

#[cfg(test)]
mod tests;
