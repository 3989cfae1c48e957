//! `weft_proxy::detect::late::Checked`: the client's bytes of a connection
//! carried as bytes although detection could not rule HTTP out. Any client
//! controls them and how they are split over reads.
//!
//! Beyond "no panic": the stream either passes every byte unchanged, or
//! fails with `LateHttp` having passed no line end (so no server acted on a
//! request); and it fails exactly when the bytes are an HTTP request (or
//! end, or fill the buffer, while they still could be).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::{
    collections::VecDeque,
    io,
    pin::Pin,
    task::{Context, Poll, Waker},
};
use tokio::io::{AsyncRead, ReadBuf};
use weft_proxy::detect::{
    Mode, classify,
    late::{Checked, LateHttp},
};

/// Hands out its chunks, one per read, then the end.
struct Chunks(VecDeque<Vec<u8>>);

impl AsyncRead for Chunks {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(mut c) = self.0.pop_front() {
            let n = c.len().min(buf.remaining());
            buf.put_slice(&c[..n]);
            if n < c.len() {
                self.0.push_front(c.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte splits the rest into chunks of (1 + b % 16) bytes.
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let size = 1 + usize::from(size % 16);
    let chunks: VecDeque<Vec<u8>> = rest.chunks(size).map(<[u8]>::to_vec).collect();
    let mut checked = Checked::new(bytes::Bytes::new(), Chunks(chunks));
    let mut cx = Context::from_waker(Waker::noop());
    let mut passed = Vec::new();
    let outcome = loop {
        let mut out = [0u8; 7];
        let mut buf = ReadBuf::new(&mut out);
        match Pin::new(&mut checked).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => break Ok(()),
            Poll::Ready(Ok(())) => passed.extend_from_slice(buf.filled()),
            Poll::Ready(Err(e)) => break Err(e),
            Poll::Pending => unreachable!("the chunks are always ready"),
        }
    };
    let verdict = classify(rest, Mode::Detect);
    match outcome {
        Ok(()) => {
            assert_eq!(passed, rest, "bytes changed on the way");
            assert!(
                !verdict.is_some_and(|p| p.is_http()),
                "an HTTP request passed"
            );
        }
        Err(e) => {
            assert!(LateHttp::is(&e), "{e}");
            assert!(
                !passed.iter().any(|&b| b == b'\r' || b == b'\n'),
                "a line end passed before the refusal: {passed:?}"
            );
            assert!(rest.starts_with(&passed));
        }
    }
});
