//! `weft_proxy::detect::classify(buf, tls_only)`: the protocol of a
//! connection's first bytes, or `None` while more are needed.
//!
//! Beyond "no panic":
//! - an answer is final: a prefix that has one gives the same as the whole
//!   input, and so does the input with more bytes appended (the read loop
//!   stops at the first answer, so a later byte must not change it);
//! - `read` stops reading at `MAX_HELLO` bytes, so by then there is an
//!   answer;
//! - with `tls_only` the answer is TLS or opaque, and TLS exactly when it is
//!   TLS without `tls_only`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proxy::detect::{Protocol, classify};
use weft_proxy::sniff::MAX_HELLO;

fuzz_target!(|data: &[u8]| {
    for tls_only in [false, true] {
        let full = classify(data, tls_only);
        for end in prefix_ends(data.len()) {
            if let Some(p) = classify(&data[..end], tls_only) {
                assert_eq!(
                    Some(p),
                    full,
                    "tls_only={tls_only}: the first {end} bytes say {p:?}"
                );
            }
        }
        // The same bytes, then whatever follows (here: the input again),
        // up to the read loop's bound.
        let mut longer = data.to_vec();
        while longer.len() < MAX_HELLO {
            longer.extend_from_slice(if data.is_empty() { b"\0" } else { data });
        }
        longer.truncate(MAX_HELLO);
        let at_bound = classify(&longer, tls_only);
        assert!(at_bound.is_some(), "no answer after MAX_HELLO bytes");
        if full.is_some() {
            assert_eq!(
                at_bound, full,
                "tls_only={tls_only}: more bytes changed the answer"
            );
        }
    }
    let open = classify(data, false);
    let opaque_port = classify(data, true);
    assert!(matches!(
        opaque_port,
        None | Some(Protocol::Tls) | Some(Protocol::Opaque)
    ));
    if open.is_some() && opaque_port.is_some() {
        assert_eq!(
            open == Some(Protocol::Tls),
            opaque_port == Some(Protocol::Tls),
            "TLS on an opaque port and not on an open one, or the reverse"
        );
    }
});

fn prefix_ends(len: usize) -> impl Iterator<Item = usize> {
    let step = (len / 32).max(1);
    (0..len).filter(move |&i| i <= 64 || i % step == 0 || i.abs_diff(len) <= 8)
}
