//! The shapes of the inbound HTTP requests the policy allowed from verified
//! mesh peers: port, peer, method and path template, with a count. From
//! these weft-controller suggests least-privilege policy, so they say who
//! calls what: served on the controller-only scrape listener
//! ([`crate::scrape`]), never on the plaintext admin port.
//!
//! Peers, methods and paths are chosen by clients, so the table is bounded:
//! [`MAX_ROUTES`] shapes, then one overflow shape per port, peer and method
//! for at most [`MAX_OVERFLOW`] more, then only a count of what was dropped.

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{Arc, Mutex},
};
use weft_tls::SpiffeId;

/// Distinct shapes kept before new ones go to an overflow shape.
pub const MAX_ROUTES: usize = 256;
/// Overflow shapes kept on top of [`MAX_ROUTES`].
pub const MAX_OVERFLOW: usize = 64;
/// A longer template is recorded as the route `*`.
pub const MAX_ROUTE_LEN: usize = 256;

/// Stands for any method or route in an overflow shape.
const ANY: &str = "*";
/// Longer segments are ids or tokens, whatever they are made of.
const MAX_NAME_LEN: usize = 40;

/// `path` (normalised: starting with `/`, no query) with each segment that
/// looks like a value (a number, a UUID, a hex id, a long token) as `*`, so
/// one route is one shape however many items it serves. One pass, one
/// allocation: this runs on every allowed request.
pub fn template(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut start = 0;
    let mut shape = Shape::default();
    for (i, b) in path.bytes().enumerate() {
        if b == b'/' {
            // `/` is ASCII, so `start..i` are char boundaries.
            shape.push_to(&mut out, &path[start..i]);
            out.push('/');
            start = i + 1;
            shape = Shape::default();
        } else {
            shape.add(b);
        }
    }
    shape.push_to(&mut out, &path[start..]);
    out
}

/// What a segment is made of, learnt byte by byte.
#[derive(Clone, Copy)]
struct Shape {
    len: usize,
    digits: bool,
    hex_or_dash: bool,
    has_digit: bool,
    /// Hex in 8-4-4-4-12 groups so far.
    uuid: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            len: 0,
            digits: true,
            hex_or_dash: true,
            has_digit: false,
            uuid: true,
        }
    }
}

impl Shape {
    fn add(&mut self, b: u8) {
        let digit = b.is_ascii_digit();
        self.digits &= digit;
        self.has_digit |= digit;
        self.hex_or_dash &= b.is_ascii_hexdigit() || b == b'-';
        self.uuid &= if matches!(self.len, 8 | 13 | 18 | 23) {
            b == b'-'
        } else {
            b.is_ascii_hexdigit()
        };
        self.len += 1;
    }

    fn is_value(&self) -> bool {
        (self.len > 0 && self.digits)
            || (self.len == 36 && self.uuid)
            || (self.len >= 8 && self.hex_or_dash && self.has_digit)
            || self.len > MAX_NAME_LEN
    }

    fn push_to(&self, out: &mut String, segment: &str) {
        out.push_str(if self.is_value() { ANY } else { segment });
    }
}

/// One request shape. Ordered as its labels are written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    peer: Arc<str>,
    port: u16,
    method: String,
    route: String,
}

#[derive(Debug, Default)]
struct Table {
    counts: HashMap<Key, u64>,
    /// How many of `counts` are overflow shapes.
    overflow: usize,
    /// Requests not recorded: every shape was taken.
    dropped: u64,
}

/// The allowed inbound requests, by shape. Shared by every connection; the
/// lock is held only to bump a count.
#[derive(Debug, Default)]
pub struct Observed {
    table: Mutex<Table>,
}

impl Observed {
    /// Counts one request the policy allowed from the verified `peer`.
    pub fn record(&self, port: u16, peer: &SpiffeId, method: &http::Method, path: &str) {
        let mut route = template(path);
        if route.len() > MAX_ROUTE_LEN {
            route = ANY.into();
        }
        let key = Key {
            peer: peer.shared_str(),
            port,
            method: method.as_str().into(),
            route,
        };
        let mut t = self.table.lock().expect("observed lock");
        if let Some(n) = t.counts.get_mut(&key) {
            *n += 1;
            return;
        }
        if t.counts.len() - t.overflow < MAX_ROUTES {
            t.counts.insert(key, 1);
            return;
        }
        // Full: the peer's request still counts, under its method-less,
        // route-less shape.
        let key = Key {
            method: ANY.into(),
            route: ANY.into(),
            ..key
        };
        if let Some(n) = t.counts.get_mut(&key) {
            *n += 1;
        } else if t.overflow < MAX_OVERFLOW {
            t.counts.insert(key, 1);
            t.overflow += 1;
        } else {
            t.dropped += 1;
        }
    }

    /// Appends the OpenMetrics text of the counts (nothing before the first
    /// request), sorted so two scrapes of the same counts read the same.
    pub fn encode(&self, out: &mut String) {
        // Copied out so requests do not wait on the sorting and writing.
        let (mut counts, dropped) = {
            let t = self.table.lock().expect("observed lock");
            let counts: Vec<(Key, u64)> = t.counts.iter().map(|(k, n)| (k.clone(), *n)).collect();
            (counts, t.dropped)
        };
        counts.sort_unstable();
        // Writing to a String cannot fail.
        if !counts.is_empty() {
            out.push_str(
                "# HELP weft_proxy_observed_requests Inbound HTTP requests the policy allowed, by verified peer, port, method and path template (controller-only).\n\
                 # TYPE weft_proxy_observed_requests counter\n",
            );
            for (k, n) in &counts {
                out.push_str("weft_proxy_observed_requests_total{direction=\"inbound\",peer=\"");
                escape(out, &k.peer);
                let _ = write!(out, "\",port=\"{}\",method=\"", k.port);
                escape(out, &k.method);
                out.push_str("\",route=\"");
                escape(out, &k.route);
                let _ = writeln!(out, "\"}} {n}");
            }
        }
        if dropped > 0 {
            out.push_str(
                "# HELP weft_proxy_observed_requests_dropped Allowed inbound HTTP requests not counted in weft_proxy_observed_requests because its table was full.\n\
                 # TYPE weft_proxy_observed_requests_dropped counter\n",
            );
            let _ = writeln!(out, "weft_proxy_observed_requests_dropped_total {dropped}");
        }
    }
}

/// Appends `value` as an OpenMetrics label value (inside its quotes).
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests;
