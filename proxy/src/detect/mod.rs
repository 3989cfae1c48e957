//! Protocol detection from a connection's first bytes.
//!
//! HTTP/1 (any request line, [`line`]), the HTTP/2 connection preface (gRPC
//! included) and a TLS ClientHello are recognised; anything else is opaque.
//!
//! A client that has not said enough to tell within [`TIMEOUT`] (a silent
//! one: the server speaks first, as in SMTP or MySQL; or one whose first
//! bytes could still start a request line) is carried as bytes, but never
//! unchecked: its bytes go through [`late::Checked`], which refuses the
//! connection if they turn out to be an HTTP request, before the app could
//! have acted on one.

pub mod late;
pub mod line;

use self::line::{Line, request_line};
use crate::sniff::{MAX_HELLO, Sniff, sniff};
use bytes::{Bytes, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// How long a client may take to say enough to tell its protocol.
pub const TIMEOUT: Duration = Duration::from_secs(1);
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
    /// Undecided when detection gave up: opaque, but the client's bytes
    /// (`prefix` first) must go through [`late::Checked`].
    pub checked: bool,
}

impl Detected {
    /// Nothing read, nothing to check: a port declared opaque.
    pub fn opaque() -> Self {
        Self {
            protocol: Protocol::Opaque,
            prefix: Bytes::new(),
            checked: false,
        }
    }

    /// The client sent nothing at all: the server may speak first.
    pub fn silent(&self) -> bool {
        self.checked && self.prefix.is_empty()
    }
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

/// Reads until the protocol is known, or `timeout` passes, the client
/// closes or [`MAX_BUFFER`] fills without a decision: then the connection
/// is HTTP on a port declared HTTP, else [`Detected::checked`] bytes.
pub async fn read<S: AsyncRead + Unpin>(
    io: &mut S,
    timeout: Duration,
    mode: Mode,
) -> std::io::Result<Detected> {
    let mut buf = BytesMut::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(protocol) = classify(&buf, mode) {
            return Ok(Detected {
                protocol,
                prefix: buf.freeze(),
                checked: false,
            });
        }
        if buf.len() >= MAX_BUFFER {
            break;
        }
        match tokio::time::timeout_at(deadline, io.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(match mode {
        Mode::Http => Detected {
            protocol: Protocol::Http1,
            prefix: buf.freeze(),
            checked: false,
        },
        // Only a partial TLS record is undecided here: bytes, unread.
        Mode::Opaque => Detected {
            protocol: Protocol::Opaque,
            prefix: buf.freeze(),
            checked: false,
        },
        Mode::Detect => Detected {
            protocol: Protocol::Opaque,
            prefix: buf.freeze(),
            checked: true,
        },
    })
}

#[cfg(test)]
mod tests;
