//! `weft_proxy::detect::classify(buf, mode)`: the protocol of a
//! connection's first bytes, or `None` while more are needed; and the
//! request-line grammar it rests on (`detect::line::request_line`).
//!
//! Beyond "no panic":
//! - an answer is final: a prefix that has one gives the same as the whole
//!   input (the read loop stops at the first answer, so a later byte must
//!   not change it); the same for the request-line grammar;
//! - on an opaque port the answer is TLS or opaque, on a port declared
//!   HTTP it is never opaque, and TLS is TLS in every mode;
//! - whatever the request-line grammar calls HTTP is served as HTTP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proxy::detect::{
    Mode, Protocol, classify,
    line::{Line, request_line},
};

const MODES: [Mode; 3] = [Mode::Opaque, Mode::Detect, Mode::Http];

fuzz_target!(|data: &[u8]| {
    let line = request_line(data);
    for end in prefix_ends(data.len()) {
        let earlier = request_line(&data[..end]);
        if earlier != Line::NeedMore {
            assert_eq!(
                earlier, line,
                "the request line's first {end} bytes say {earlier:?}"
            );
        }
    }
    for mode in MODES {
        let full = classify(data, mode);
        for end in prefix_ends(data.len()) {
            if let Some(p) = classify(&data[..end], mode) {
                assert_eq!(Some(p), full, "{mode:?}: the first {end} bytes say {p:?}");
            }
        }
        match mode {
            Mode::Opaque => assert!(matches!(
                full,
                None | Some(Protocol::Tls | Protocol::Opaque)
            )),
            Mode::Http => assert!(
                full != Some(Protocol::Opaque),
                "opaque on a port declared HTTP"
            ),
            Mode::Detect => {
                if line == Line::Http && full.is_some() && full != Some(Protocol::Tls) {
                    assert!(
                        full.is_some_and(Protocol::is_http),
                        "a request line served as {full:?}"
                    );
                }
            }
        }
    }
    let tls: Vec<bool> = MODES
        .iter()
        .filter_map(|&m| classify(data, m))
        .map(|p| p == Protocol::Tls)
        .collect();
    assert!(
        tls.windows(2).all(|w| w[0] == w[1]),
        "TLS in one mode and not in another"
    );
});

fn prefix_ends(len: usize) -> impl Iterator<Item = usize> {
    let step = (len / 32).max(1);
    (0..len).filter(move |&i| i <= 64 || i % step == 0 || i.abs_diff(len) <= 8)
}
