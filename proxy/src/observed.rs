//! The shapes of the inbound HTTP requests the policy allowed from verified
//! mesh peers: port, peer, method and path template, with a count. From
//! these weft-controller suggests least-privilege policy, so they say who
//! calls what: served on the controller-only scrape listener
//! ([`crate::scrape`]), never on the plaintext admin port.
//!
//! Peers, methods and paths are chosen by clients, so the table is bounded:
//! [`MAX_ROUTES`] shapes, then one overflow shape per port and peer for at
//! most [`MAX_OVERFLOW`] more, then only a count of what was dropped.

use std::{
    cell::RefCell,
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

/// A longer method (an extension token) is recorded as `*`: the controller
/// believes no longer one, and 320 long ones must not stay in memory.
pub use weft_api::contract::observed_requests::MAX_METHOD_LEN;

/// Stands for any method or route in an overflow shape.
const ANY: &str = "*";
/// Longer segments are ids or tokens, whatever they are made of.
const MAX_NAME_LEN: usize = 40;

/// `path` (normalised: starting with `/`, no query) with each segment that
/// looks like a value (a number, a UUID, a hex id, a long token) as `*`, so
/// one route is one shape however many items it serves.
pub fn template(path: &str) -> String {
    let mut out = Vec::with_capacity(path.len());
    template_into(&mut out, path, usize::MAX);
    // Whole segments of `path` (cut at the ASCII `/`) and `*`: UTF-8, so
    // nothing is replaced.
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends [`template`]`(path)` to `out` in one pass, unless it is longer
/// than `max` bytes: then returns false, having appended at most `max + 1`.
/// Most segments are names, kept as they are: so what is before a value is
/// copied when the value is met, and the rest at the end.
fn template_into(out: &mut Vec<u8>, path: &str, max: usize) -> bool {
    let path = path.as_bytes();
    let base = out.len();
    // `path[..copied]` is in `out`, templated.
    let mut copied = 0;
    let mut start = 0;
    loop {
        // The segment `start..end`, up to a `/` or the end, and the classes
        // all of its bytes are in and any of them is.
        let (mut end, mut all, mut any) = (start, u8::MAX, 0);
        while let Some(&b) = path.get(end).filter(|b| **b != b'/') {
            let class = CLASS[usize::from(b)];
            all &= class;
            any |= class;
            end += 1;
        }
        if is_value(&path[start..end], all, any) {
            out.extend_from_slice(&path[copied..start]);
            out.push(b'*');
            copied = end;
        }
        let last = end == path.len();
        // The template so far: to `end`, and its `/`.
        if out.len() - base + (end - copied) + usize::from(!last) > max {
            return false;
        }
        if last {
            break;
        }
        start = end + 1;
    }
    out.extend_from_slice(&path[copied..]);
    true
}

/// A byte's classes in [`CLASS`]: `0`–`9`.
const DIGIT: u8 = 1;
/// `0`–`9`, `a`–`f`, `A`–`F` or `-`.
const HEX_OR_DASH: u8 = 2;
/// Each byte's classes, so that a segment is learnt with two bit operations
/// a byte.
static CLASS: [u8; 256] = {
    let mut class = [0; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_digit() {
            class[b] |= DIGIT;
        }
        if c.is_ascii_hexdigit() || c == b'-' {
            class[b] |= HEX_OR_DASH;
        }
        b += 1;
    }
    class
};

/// Whether `segment` looks like a value: `all` are the classes all its
/// bytes are in, `any` those any of them is in.
fn is_value(segment: &[u8], all: u8, any: u8) -> bool {
    let len = segment.len();
    (len > 0 && all & DIGIT != 0)
        || (len == 36 && is_uuid(segment))
        || (len >= 8 && all & HEX_OR_DASH != 0 && any & DIGIT != 0)
        || len > MAX_NAME_LEN
}

/// Hex in 8-4-4-4-12 groups, in either case.
fn is_uuid(segment: &[u8]) -> bool {
    segment.iter().enumerate().all(|(i, b)| {
        if matches!(i, 8 | 13 | 18 | 23) {
            *b == b'-'
        } else {
            b.is_ascii_hexdigit()
        }
    })
}

/// Starts in `key` the table's key of a shape: the port, the peer after its
/// length, and the method and a space (a method is a token: it has none).
/// The route follows, to the end: so no two shapes have the same key.
fn start_key(key: &mut Vec<u8>, port: u16, peer: &str, method: &str) {
    key.clear();
    key.extend_from_slice(&port.to_le_bytes());
    const _: () = assert!(weft_tls::id::MAX_ID_LEN <= u16::MAX as usize);
    // An id is at most MAX_ID_LEN bytes, so this is exact.
    let peer_len = u16::try_from(peer.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&peer_len.to_le_bytes());
    key.extend_from_slice(peer.as_bytes());
    key.extend_from_slice(method.as_bytes());
    key.push(b' ');
}

/// One shape's labels and count.
#[derive(Clone, Debug)]
struct Count {
    peer: Arc<str>,
    port: u16,
    method: Box<str>,
    route: Box<str>,
    n: u64,
}

impl Count {
    /// Ordered as the labels are written.
    fn order(&self) -> (&str, u16, &str, &str) {
        (&self.peer, self.port, &self.method, &self.route)
    }
}

#[derive(Debug, Default)]
struct Table {
    /// By the key [`start_key`] and the route make, in one run of bytes so a
    /// request hashes it in one pass and looks it up without allocating.
    /// Hashed with std's SipHash keyed per process (`RandomState`): the
    /// method and route are the client's, so a cheaper unkeyed hash would
    /// let a client choose colliding shapes.
    counts: HashMap<Box<[u8]>, Count>,
    /// How many of `counts` are overflow shapes.
    overflow: usize,
    /// Requests not recorded: every shape was taken.
    dropped: u64,
}

impl Table {
    /// Counts the request whose shape is new: `key` is its key, with the
    /// route from `route_at`.
    #[cold]
    fn add(
        &mut self,
        key: &mut Vec<u8>,
        route_at: usize,
        port: u16,
        peer: &SpiffeId,
        method: &str,
    ) {
        if self.counts.len() - self.overflow < MAX_ROUTES {
            let count = Count {
                peer: peer.shared_str(),
                port,
                method: method.into(),
                // A template: UTF-8, so nothing is replaced.
                route: String::from_utf8_lossy(&key[route_at..]).into(),
                n: 1,
            };
            self.counts.insert(key.as_slice().into(), count);
            return;
        }
        // Full: the peer's request still counts, under its method-less,
        // route-less shape.
        start_key(key, port, peer.as_str(), ANY);
        key.extend_from_slice(ANY.as_bytes());
        if let Some(count) = self.counts.get_mut(key.as_slice()) {
            count.n += 1;
        } else if self.overflow < MAX_OVERFLOW {
            let count = Count {
                peer: peer.shared_str(),
                port,
                method: ANY.into(),
                route: ANY.into(),
                n: 1,
            };
            self.counts.insert(key.as_slice().into(), count);
            self.overflow += 1;
        } else {
            self.dropped += 1;
        }
    }
}

thread_local! {
    /// Where [`Observed::record`] writes a request's key: reused, so a
    /// request whose shape is counted already allocates nothing. It holds an
    /// id, a method and at most [`MAX_ROUTE_LEN`]` + 1` bytes of route.
    static KEY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// [`KEY`]'s most kept between requests: a long extension method may grow
/// it past this, once.
const KEY_KEPT: usize = 4096;

/// The allowed inbound requests, by shape. Shared by every connection; the
/// lock is held only to bump a count (or add a shape).
#[derive(Debug, Default)]
pub struct Observed {
    table: Mutex<Table>,
}

impl Observed {
    /// Counts one request the policy allowed from the verified `peer`. This
    /// runs on every allowed request: a shape counted already costs a pass
    /// over the path, one hash and no allocation.
    pub fn record(&self, port: u16, peer: &SpiffeId, method: &http::Method, path: &str) {
        let method = match method.as_str() {
            m if m.len() > MAX_METHOD_LEN => ANY,
            m => m,
        };
        KEY.with_borrow_mut(|key| {
            start_key(key, port, peer.as_str(), method);
            let route_at = key.len();
            if !template_into(key, path, MAX_ROUTE_LEN) {
                key.truncate(route_at);
                key.extend_from_slice(ANY.as_bytes());
            }
            {
                let mut t = self.table.lock().expect("observed lock");
                if let Some(count) = t.counts.get_mut(key.as_slice()) {
                    count.n += 1;
                } else {
                    t.add(key, route_at, port, peer, method);
                }
            }
            if key.capacity() > KEY_KEPT {
                *key = Vec::new();
            }
        });
    }

    /// Appends the OpenMetrics text of the counts (nothing before the first
    /// request), sorted so two scrapes of the same counts read the same.
    pub fn encode(&self, out: &mut String) {
        // Copied out so requests do not wait on the sorting and writing.
        let (mut counts, dropped) = {
            let t = self.table.lock().expect("observed lock");
            let counts: Vec<Count> = t.counts.values().cloned().collect();
            (counts, t.dropped)
        };
        counts.sort_unstable_by(|a, b| a.order().cmp(&b.order()));
        // Writing to a String cannot fail.
        if !counts.is_empty() {
            out.push_str(
                "# HELP weft_proxy_observed_requests Inbound HTTP requests the policy allowed, by verified peer, port, method and path template (controller-only).\n\
                 # TYPE weft_proxy_observed_requests counter\n",
            );
            for k in &counts {
                out.push_str("weft_proxy_observed_requests_total{direction=\"inbound\",peer=\"");
                escape(out, &k.peer);
                let _ = write!(out, "\",port=\"{}\",method=\"", k.port);
                escape(out, &k.method);
                out.push_str("\",route=\"");
                escape(out, &k.route);
                let _ = writeln!(out, "\"}} {}", k.n);
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
