//! Protocol detection from a connection's first bytes, bounded in time.
//!
//! HTTP/1 (a request line's method), the HTTP/2 connection preface (gRPC
//! included) and a TLS ClientHello are recognised; anything else is opaque.
//! A client that sends nothing within the timeout is treated as opaque (a
//! protocol where the server speaks first), which costs that connection
//! the timeout: ports marked opaque skip detection entirely.

use crate::sniff::{MAX_HELLO, Sniff, sniff};
use bytes::{Bytes, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// How long a client may take to send its first bytes.
pub const TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
    /// A TLS ClientHello (its ALPN is read by [`crate::sniff`]).
    Tls,
    Opaque,
}

impl Protocol {
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http1 | Protocol::Http2)
    }
}

/// What was read, and what it is. `prefix` must be replayed to whoever
/// handles the connection next ([`crate::prefixed::Prefixed`]).
#[derive(Debug)]
pub struct Detected {
    pub protocol: Protocol,
    pub prefix: Bytes,
    /// The client sent too little before the timeout.
    pub timed_out: bool,
}

pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const METHODS: &[&[u8]] = &[
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"CONNECT ",
    b"OPTIONS ",
    b"TRACE ",
    b"PATCH ",
];

/// The protocol of `buf`, or `None` when more bytes are needed to tell.
/// With `tls_only`, everything but TLS is opaque at once (an opaque port:
/// only mesh TLS is told apart).
pub fn classify(buf: &[u8], tls_only: bool) -> Option<Protocol> {
    match sniff(buf) {
        Sniff::NeedMore => return None,
        Sniff::ClientHello { .. } => return Some(Protocol::Tls),
        Sniff::NotTls if tls_only => return Some(Protocol::Opaque),
        Sniff::NotTls => {}
    }
    if buf.starts_with(H2_PREFACE) {
        return Some(Protocol::Http2);
    }
    if METHODS.iter().any(|m| buf.starts_with(m)) {
        // The preface starts like no method, but "PRI " needs checking.
        return Some(Protocol::Http1);
    }
    let could_be = |p: &[u8]| buf.len() < p.len() && p.starts_with(buf);
    if could_be(H2_PREFACE) || METHODS.iter().any(|m| could_be(m)) {
        return None;
    }
    Some(Protocol::Opaque)
}

/// Reads until the protocol is known, the client pauses past `timeout`, or
/// it closes.
pub async fn read<S: AsyncRead + Unpin>(
    io: &mut S,
    timeout: Duration,
    tls_only: bool,
) -> std::io::Result<Detected> {
    let mut buf = BytesMut::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(protocol) = classify(&buf, tls_only) {
            return Ok(Detected {
                protocol,
                prefix: buf.freeze(),
                timed_out: false,
            });
        }
        if buf.len() >= MAX_HELLO {
            break;
        }
        match tokio::time::timeout_at(deadline, io.read_buf(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Ok(Detected {
                    protocol: Protocol::Opaque,
                    prefix: buf.freeze(),
                    timed_out: true,
                });
            }
        }
    }
    Ok(Detected {
        protocol: Protocol::Opaque,
        prefix: buf.freeze(),
        timed_out: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_http1_http2_tls_and_the_rest() {
        assert_eq!(
            classify(b"GET / HTTP/1.1\r\n", false),
            Some(Protocol::Http1)
        );
        assert_eq!(classify(b"POST ", false), Some(Protocol::Http1));
        assert_eq!(classify(H2_PREFACE, false), Some(Protocol::Http2));
        assert_eq!(
            classify(b"SSH-2.0-OpenSSH\r\n", false),
            Some(Protocol::Opaque)
        );
        assert_eq!(classify(b"\x00\x01", false), Some(Protocol::Opaque));
        assert_eq!(classify(b"GET / HTTP/1.1", true), Some(Protocol::Opaque));
    }

    #[test]
    fn waits_for_a_prefix_that_could_still_be_either() {
        for partial in [&b""[..], b"G", b"GE", b"GET", b"PRI * HTTP/2", b"P", b"DEL"] {
            assert_eq!(classify(partial, false), None, "{partial:?}");
        }
        // "PRI " is the preface's start, not a method.
        assert_eq!(
            classify(b"PRI * HTTP/2.0\r\n\r\nXX", false),
            Some(Protocol::Opaque)
        );
    }

    #[tokio::test]
    async fn a_silent_client_times_out_as_opaque() {
        let (mut a, _b) = tokio::io::duplex(64);
        let d = read(&mut a, Duration::from_millis(20), false)
            .await
            .unwrap();
        assert_eq!(d.protocol, Protocol::Opaque);
        assert!(d.timed_out);
    }

    #[tokio::test]
    async fn a_request_line_split_over_writes_is_http() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt as _;
            b.write_all(b"GE").await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            b.write_all(b"T / HTTP/1.1\r\n").await.unwrap();
            b
        });
        let d = read(&mut a, TIMEOUT, false).await.unwrap();
        assert_eq!(d.protocol, Protocol::Http1);
        assert!(d.prefix.starts_with(b"GET"));
        drop(writer.await);
    }
}
