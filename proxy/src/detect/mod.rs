//! Protocol detection from a connection's first bytes.
//!
//! HTTP/1 (any request line, [`line`]), the HTTP/2 connection preface (gRPC
//! included) and a TLS ClientHello are recognised; anything else is opaque.
//!
//! Time only decides for a client that has said nothing: after
//! [`TIMEOUT`] of silence the server is taken to speak first (SMTP, MySQL)
//! and the connection is carried as bytes, but its first client bytes are
//! still checked ([`late`]): an HTTP request there is refused, never
//! forwarded. A client that has started talking is never turned opaque by
//! a pause: it gets [`PATIENCE`], and if what it sent could still be HTTP
//! it is served as HTTP (which answers 400 to anything that is not).

pub mod late;
pub mod line;

use self::line::{Line, request_line};
use crate::sniff::{MAX_HELLO, Sniff, sniff};
use bytes::{Bytes, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// How long a client may stay silent before the server is taken to speak
/// first.
pub const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a client that has started talking may take to say enough.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// The most bytes read to decide (a whole TLS ClientHello record).
pub const MAX_BUFFER: usize = MAX_HELLO;

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

/// What a port's configuration lets detection conclude.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// An opaque port: only TLS is told apart; the rest is bytes.
    Opaque,
    /// Told apart by the first bytes.
    Detect,
    /// A port declared HTTP: whatever is not TLS is served as HTTP.
    Http,
}

/// What was read, and what it is. `prefix` must be replayed to whoever
/// handles the connection next ([`crate::prefixed::Prefixed`]).
#[derive(Debug)]
pub struct Detected {
    pub protocol: Protocol,
    pub prefix: Bytes,
    /// The client sent nothing within [`TIMEOUT`]: the server may speak
    /// first. The client's first bytes, when they come, must go through
    /// [`late::Checked`].
    pub silent: bool,
}

pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol of `buf`, or `None` when more bytes are needed to tell.
pub fn classify(buf: &[u8], mode: Mode) -> Option<Protocol> {
    match sniff(buf) {
        Sniff::NeedMore => return None,
        Sniff::ClientHello { .. } => return Some(Protocol::Tls),
        Sniff::NotTls if mode == Mode::Opaque => return Some(Protocol::Opaque),
        Sniff::NotTls => {}
    }
    let n = buf.len().min(H2_PREFACE.len());
    if buf[..n] == H2_PREFACE[..n] {
        // The preface is itself a request line ("PRI * HTTP/2.0"): it must
        // be told apart before the request-line check.
        return (n == H2_PREFACE.len()).then_some(Protocol::Http2);
    }
    match request_line(buf) {
        Line::Http => Some(Protocol::Http1),
        Line::NeedMore => None,
        Line::NotHttp if mode == Mode::Http => Some(Protocol::Http1),
        Line::NotHttp => Some(Protocol::Opaque),
    }
}

/// What to conclude from bytes that never decided (the client paused past
/// [`PATIENCE`], closed, or filled [`MAX_BUFFER`]): what could still be
/// HTTP is served as HTTP, whose parser refuses what is not.
fn undecided(buf: &[u8], mode: Mode) -> Protocol {
    if mode == Mode::Opaque || buf.is_empty() {
        Protocol::Opaque
    } else {
        Protocol::Http1
    }
}

/// Reads until the protocol is known. A client silent for `timeout` is
/// [`Detected::silent`] (opaque, or HTTP on a port declared HTTP).
pub async fn read<S: AsyncRead + Unpin>(
    io: &mut S,
    timeout: Duration,
    mode: Mode,
) -> std::io::Result<Detected> {
    let mut buf = BytesMut::with_capacity(1024);
    let start = tokio::time::Instant::now();
    let protocol = loop {
        if let Some(protocol) = classify(&buf, mode) {
            break protocol;
        }
        if buf.len() >= MAX_BUFFER {
            break undecided(&buf, mode);
        }
        let deadline = start + if buf.is_empty() { timeout } else { PATIENCE };
        match tokio::time::timeout_at(deadline, io.read_buf(&mut buf)).await {
            Ok(Ok(0)) => break undecided(&buf, mode),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) if buf.is_empty() => {
                let protocol = if mode == Mode::Http {
                    Protocol::Http1
                } else {
                    Protocol::Opaque
                };
                return Ok(Detected {
                    protocol,
                    prefix: Bytes::new(),
                    silent: mode != Mode::Http,
                });
            }
            Err(_) => break undecided(&buf, mode),
        }
    };
    Ok(Detected {
        protocol,
        prefix: buf.freeze(),
        silent: false,
    })
}

#[cfg(test)]
mod tests;
