//! Turning TrafficMetrics into rows: the API speaks Kubernetes quantities
//! and Go durations; people and scripts want plain numbers.

use serde::Serialize;
use std::collections::BTreeMap;
use weft_k8s_api::metrics::{ObjectReference, TrafficMetrics, TrafficMetricsList};

/// One line of output: a resource (or one edge of it) over one window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Row {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub success_count: u64,
    pub failure_count: u64,
    /// successes / (successes + failures), from 0 to 1; none without traffic.
    pub success_rate: Option<f64>,
    /// Requests per second over the window.
    pub rps: f64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub window_seconds: f64,
    /// weft denials by reason code (weft's `denied:<reason>` metrics),
    /// counted among the failures.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub denied: BTreeMap<String, u64>,
    /// On a `from` edge: the requests the server's policy allowed, by
    /// `<port> <METHOD> <path template>` (weft's `request:` metrics).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, u64>,
    /// On an edge: connections forwarded as bytes, by port (weft's
    /// `tcp_connections:<port>` metrics).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tcp_connections: BTreeMap<u16, u64>,
    /// When the earliest of the resource's proxy certificates expires (Unix
    /// seconds; weft's `certificate_expiry_timestamp`, not on edges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_expiry: Option<f64>,
    /// Present on edges only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub edge: Option<EdgeRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EdgeRow {
    /// `from` (the peer calls this resource) or `to` (this resource calls it).
    pub direction: String,
    /// `client` or `server`: whose proxy measured.
    pub side: String,
    pub peer: ObjectReference,
}

impl EdgeRow {
    /// Measured by the callee's proxy: where the policy is applied, and the
    /// only side that records request shapes.
    pub fn by_server(&self) -> bool {
        self.side == "server"
    }

    /// The peer's calls to the resource, as the resource's proxy saw them.
    pub fn served(&self) -> bool {
        self.direction == "from" && self.by_server()
    }
}

/// Rows from an API answer: a TrafficMetricsList (lists, edges, a
/// TrafficSplit's backends) or one TrafficMetrics. Decided by the answer's
/// shape rather than the request, so a server that answers one object as a
/// list (or the reverse) still reads.
pub fn from_json(text: &str) -> Result<Vec<Row>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let items = if v.get("items").is_some() {
        serde_json::from_value::<TrafficMetricsList>(v)
            .map_err(|e| format!("a TrafficMetricsList: {e}"))?
            .items
    } else {
        vec![
            serde_json::from_value::<TrafficMetrics>(v)
                .map_err(|e| format!("TrafficMetrics: {e}"))?,
        ]
    };
    let mut rows = items.iter().map(row).collect::<Result<Vec<_>, _>>()?;
    // The server's order is not guaranteed; a stable one makes runs comparable.
    rows.sort_by(|a, b| {
        let key = |r: &Row| {
            let e = r.edge.as_ref();
            (
                e.map(|e| e.direction.clone()),
                e.map(|e| peer_key(&e.peer)),
                r.namespace.clone(),
                r.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(rows)
}

fn peer_key(p: &ObjectReference) -> (Option<String>, String, Option<String>) {
    (p.namespace.clone(), p.kind.clone(), p.name.clone())
}

/// The names of weft's additions (see weft-controller's traffic_stats).
const DENIED_PREFIX: &str = "denied:";
const REQUEST_PREFIX: &str = "request:";
const TCP_PREFIX: &str = "tcp_connections:";

/// One TrafficMetrics as a row; metrics weft does not know are skipped, so a
/// newer server's additions do not break an older CLI.
pub fn row(m: &TrafficMetrics) -> Result<Row, String> {
    let window = weft_api::duration::parse(&m.window)
        .map_err(|e| format!("window: {e}"))?
        .as_secs_f64();
    let (mut ok, mut failed) = (0u64, 0u64);
    let (mut p50, mut p90, mut p99) = (None, None, None);
    let mut denied = BTreeMap::new();
    let mut requests = BTreeMap::new();
    let mut tcp_connections = BTreeMap::new();
    let mut certificate_expiry = None;
    for metric in &m.metrics {
        let bad = |e: String| format!("metric {} = {:?}: {e}", metric.name, metric.value);
        match metric.name.as_str() {
            "success_count" => ok = count(&metric.value).map_err(bad)?,
            "failure_count" => failed = count(&metric.value).map_err(bad)?,
            "p50_response_latency" | "p90_response_latency" | "p99_response_latency" => {
                let ms = latency_ms(&metric.value, metric.unit.as_deref()).map_err(bad)?;
                match &metric.name[..3] {
                    "p50" => p50 = Some(ms),
                    "p90" => p90 = Some(ms),
                    _ => p99 = Some(ms),
                }
            }
            "certificate_expiry_timestamp" => {
                certificate_expiry = Some(quantity(&metric.value).map_err(bad)?);
            }
            name => {
                if let Some(reason) = name.strip_prefix(DENIED_PREFIX) {
                    denied.insert(reason.to_string(), count(&metric.value).map_err(bad)?);
                } else if let Some(shape) = name.strip_prefix(REQUEST_PREFIX) {
                    requests.insert(shape.to_string(), count(&metric.value).map_err(bad)?);
                } else if let Some(port) = name.strip_prefix(TCP_PREFIX) {
                    let port = port.parse().map_err(|_| bad("not a port".into()))?;
                    tcp_connections.insert(port, count(&metric.value).map_err(bad)?);
                }
            }
        }
    }
    let total = ok + failed;
    Ok(Row {
        kind: m.resource.kind.clone(),
        namespace: m.resource.namespace.clone(),
        name: m.resource.name.clone().unwrap_or_default(),
        success_count: ok,
        failure_count: failed,
        success_rate: (total > 0).then(|| ok as f64 / total as f64),
        rps: if window > 0.0 {
            total as f64 / window
        } else {
            0.0
        },
        p50_ms: p50,
        p90_ms: p90,
        p99_ms: p99,
        window_seconds: window,
        denied,
        requests,
        tcp_connections,
        certificate_expiry,
        edge: m.edge.as_ref().map(|e| EdgeRow {
            direction: e.direction.clone(),
            side: e.side.clone(),
            peer: e.resource.clone(),
        }),
    })
}

fn count(q: &str) -> Result<u64, String> {
    let v = quantity(q)?;
    if v < 0.0 {
        return Err("a count cannot be negative".into());
    }
    Ok(v.round() as u64)
}

fn latency_ms(q: &str, unit: Option<&str>) -> Result<f64, String> {
    let scale = match unit.unwrap_or("ms") {
        "ms" => 1.0,
        "s" => 1e3,
        "us" | "µs" => 1e-3,
        "ns" => 1e-6,
        u => return Err(format!("unknown unit {u:?}")),
    };
    Ok(quantity(q)? * scale)
}

/// A Kubernetes quantity as a number: `12`, `1.5`, `3600m` (3.6), `2k`,
/// `1Ki`, `5e-3`.
pub fn quantity(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a quantity"))?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..]
                .parse()
                .map_err(|_| format!("{s:?} is not a quantity"))?;
            10f64.powi(exp)
        }
        _ => return Err(format!("{s:?} is not a quantity")),
    };
    Ok(n * mult)
}
