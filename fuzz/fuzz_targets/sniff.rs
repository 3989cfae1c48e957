//! `weft_proxy::sniff`: a connection's first bytes, read for a TLS
//! ClientHello and its ALPN list. Any peer (or app) controls them.
//!
//! Beyond "no panic": the answer never changes once it is known (more bytes
//! only ever turn `NeedMore` into an answer), so a prefix of a ClientHello
//! is never `NotTls`; `MAX_HELLO` bytes always give an answer; and `offers`
//! agrees with the ALPN list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proxy::sniff::{MAX_HELLO, Sniff, offers, sniff};

fuzz_target!(|data: &[u8]| {
    let full = sniff(data);
    if let Sniff::ClientHello { alpn } = &full {
        assert!(
            alpn.iter().all(|p| p.len() <= 255),
            "an ALPN id is at most 255 bytes"
        );
        for p in alpn {
            assert!(offers(data, p), "offers disagrees with the ALPN list");
        }
    } else {
        assert!(!offers(data, b"weft/1"));
    }
    // The most the proxy reads before giving up: an answer by then, the
    // same one if there already was one.
    let mut longer = data.to_vec();
    while longer.len() < MAX_HELLO {
        longer.extend_from_slice(if data.is_empty() { b"\0" } else { data });
    }
    let at_bound = sniff(&longer[..MAX_HELLO.max(data.len())]);
    assert_ne!(
        at_bound,
        Sniff::NeedMore,
        "a whole record and still NeedMore"
    );
    if full != Sniff::NeedMore {
        assert_eq!(at_bound, full, "more bytes changed the answer");
    }
    for end in prefix_ends(data.len()) {
        let part = sniff(&data[..end]);
        assert!(
            part == Sniff::NeedMore || part == full,
            "the first {end} bytes say {part:?}, all {} say {full:?}",
            data.len()
        );
    }
});

/// Every prefix of a short input; for a long one, the short prefixes, the
/// record boundary and a spread of the rest (all of them would be
/// quadratic).
fn prefix_ends(len: usize) -> impl Iterator<Item = usize> {
    let step = (len / 32).max(1);
    (0..len).filter(move |&i| i <= 64 || i % step == 0 || i.abs_diff(len) <= 8)
}
