//! Reading the families TrafficMetrics needs from a proxy's Prometheus
//! text: `weft_proxy_responses_total`,
//! `weft_proxy_response_latency_seconds_bucket`, and for weft's additions
//! on edges `weft_proxy_observed_requests_total` (served to the controller
//! only) and `weft_proxy_tcp_opened_total`.

use super::{Counts, Direction, Edge, Route, Scrape};
use weft_api::contract::observed_requests::MAX_METHOD_LEN;

/// The proxy's `process_start_time_seconds` (Unix seconds), if it has one.
pub fn start_time(text: &str) -> Option<f64> {
    gauge(text, "process_start_time_seconds")
}

/// When the proxy's current certificate expires (Unix seconds), if it says.
pub fn certificate_expiry(text: &str) -> Option<f64> {
    gauge(text, "weft_proxy_certificate_expiry_timestamp_seconds")
}

/// A gauge without labels: its first finite value.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .filter(|t: &f64| t.is_finite())
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
}

const RESPONSES: &str = "weft_proxy_responses_total";
const BUCKETS: &str = "weft_proxy_response_latency_seconds_bucket";
const OBSERVED: &str = "weft_proxy_observed_requests_total";
const TCP_OPENED: &str = "weft_proxy_tcp_opened_total";
const FAMILIES: [&str; 4] = [RESPONSES, BUCKETS, OBSERVED, TCP_OPENED];

/// A proxy keeps at most 320 request shapes; one that sends more, or
/// longer ones, is not believed past these bounds.
const MAX_ROUTES: usize = 512;
const MAX_ROUTE_LEN: usize = 300;

/// Parses one scrape. Other families, comments and edges without a known
/// direction are skipped; a malformed line of the two families is an error
/// (the scrape is then dropped, never half-read).
pub fn parse(text: &str) -> Result<Scrape, ParseError> {
    let mut scrape = Scrape::new();
    let mut routes = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        // A family's name ends at its labels or its value.
        let Some(family) = FAMILIES.into_iter().find(|f| {
            line.strip_prefix(f)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        }) else {
            continue;
        };
        let err = |reason: &str| ParseError::Line {
            line: i + 1,
            reason: reason.into(),
        };
        let rest = &line[family.len()..];
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => r.rsplit_once('}').ok_or_else(|| err("unclosed labels"))?,
            None => ("", rest),
        };
        let value: f64 = value
            .split_whitespace()
            .next()
            .ok_or_else(|| err("no value"))?
            .parse()
            .map_err(|_| err("value is not a number"))?;
        let labels = split_labels(labels).ok_or_else(|| err("malformed labels"))?;
        let get = |k: &str| {
            labels
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let direction = match get("direction") {
            "inbound" => Direction::Inbound,
            "outbound" => Direction::Outbound,
            _ => continue,
        };
        let edge = Edge {
            direction,
            peer: get("peer").to_string(),
        };
        let counts = scrape.entry(edge).or_default();
        // Counts saturate: a proxy's text must not overflow them.
        let n = value as u64;
        if family == OBSERVED || family == TCP_OPENED {
            let Ok(port) = get("port").parse::<u16>() else {
                return Err(err("bad port"));
            };
            if family == TCP_OPENED {
                let c = counts.tcp.entry(port).or_default();
                *c = c.saturating_add(n);
                continue;
            }
            let (method, route) = (get("method"), get("route"));
            if routes >= MAX_ROUTES
                || method.is_empty()
                || method.len() > MAX_METHOD_LEN
                || route.len() > MAX_ROUTE_LEN
            {
                continue;
            }
            routes += 1;
            let key = Route {
                port,
                method: method.to_string(),
                route: route.to_string(),
            };
            let c = counts.requests.entry(key).or_default();
            *c = c.saturating_add(n);
        } else if family == RESPONSES {
            // Only the known codes: a label read from a proxy stays bounded.
            if let Some(reason) = weft_api::contract::deny_reason::known(get("deny_reason")) {
                let d = counts.denied.entry(reason).or_default();
                *d = d.saturating_add(n);
            }
            if is_success(
                direction,
                get("status_class"),
                get("grpc_status"),
                get("authorization"),
                get("deny_reason"),
            ) {
                counts.success = counts.success.saturating_add(n);
            } else {
                counts.failure = counts.failure.saturating_add(n);
            }
        } else {
            let le = match get("le") {
                "+Inf" => f64::INFINITY,
                v => v.parse().map_err(|_| err("bad le"))?,
            };
            add_bucket(counts, le, n);
        }
    }
    Ok(scrape)
}

/// Not 5xx, gRPC OK (or not gRPC), and not a weft denial: on either side
/// one carries its reason code, and inbound one is also a response no
/// authorization allowed (as proxies before `deny_reason` recorded it).
fn is_success(
    direction: Direction,
    class: &str,
    grpc: &str,
    authorization: &str,
    deny_reason: &str,
) -> bool {
    let denied =
        !deny_reason.is_empty() || (direction == Direction::Inbound && authorization.is_empty());
    class != "5xx" && (grpc.is_empty() || grpc == "0") && !denied
}

/// Buckets of several label sets (status classes) for one edge add up.
fn add_bucket(counts: &mut Counts, le: f64, n: u64) {
    match counts.buckets.iter_mut().find(|(b, _)| *b == le) {
        Some(b) => b.1 = b.1.saturating_add(n),
        None => {
            counts.buckets.push((le, n));
            counts.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    }
}

/// `a="x",b="y\"z"` into pairs, unescaping values.
fn split_labels(s: &str) -> Option<Vec<(&str, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        out.push((key.trim(), value));
        rest = after[end + 1..].trim_start_matches(',').trim();
    }
    Some(out)
}
