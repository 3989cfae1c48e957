//! Recognising a TLS ClientHello and its ALPN list from a connection's
//! first bytes, without consuming them for whoever handles it next.
//!
//! Inbound, mesh mTLS is told apart from an app's own TLS and from
//! plaintext by the ALPN id `weft/1`; anything else is unauthenticated.

/// What the first bytes are.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniff {
    /// Not enough bytes yet to tell.
    NeedMore,
    /// Not a TLS handshake.
    NotTls,
    /// A ClientHello offering these ALPN protocols (maybe none).
    ClientHello { alpn: Vec<Vec<u8>> },
}

/// The most a ClientHello record can take (header + 2^14).
pub const MAX_HELLO: usize = 5 + 16 * 1024;

pub fn sniff(buf: &[u8]) -> Sniff {
    // Record header: handshake (22), version 3.x, length.
    match buf {
        [] => return Sniff::NeedMore,
        [first, ..] if *first != 22 => return Sniff::NotTls,
        [_, major, ..] if *major != 3 => return Sniff::NotTls,
        _ => {}
    }
    if buf.len() < 5 {
        return Sniff::NeedMore;
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    if len == 0 || len > 16 * 1024 {
        return Sniff::NotTls;
    }
    if buf.len() < 5 + len {
        return Sniff::NeedMore;
    }
    match hello_alpn(&buf[5..5 + len]) {
        Some(alpn) => Sniff::ClientHello { alpn },
        // A handshake record we cannot read as a ClientHello (or one split
        // over records): TLS, but without a mesh ALPN we can see.
        None => Sniff::ClientHello { alpn: Vec::new() },
    }
}

/// Whether `buf` is a ClientHello offering `proto`.
pub fn offers(buf: &[u8], proto: &[u8]) -> bool {
    matches!(sniff(buf), Sniff::ClientHello { alpn } if alpn.iter().any(|p| p == proto))
}

/// A cursor that never panics: every read is checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn hello_alpn(handshake: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut c = Cursor(handshake);
    if c.u8()? != 1 {
        return None; // not a ClientHello
    }
    let body_len = c.take(3)?;
    let body_len = (usize::from(body_len[0]) << 16)
        | (usize::from(body_len[1]) << 8)
        | usize::from(body_len[2]);
    let mut c = Cursor(c.take(body_len)?);
    c.take(2 + 32)?; // legacy version, random
    c.vec8()?; // session id
    c.vec16()?; // cipher suites
    c.vec8()?; // compression methods
    if c.0.is_empty() {
        return Some(Vec::new()); // no extensions
    }
    let mut exts = Cursor(c.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        if kind == 16 {
            let mut list = Cursor(Cursor(data).vec16()?);
            let mut out = Vec::new();
            while !list.0.is_empty() {
                out.push(list.vec8()?.to_vec());
            }
            return Some(out);
        }
    }
    Some(Vec::new())
}

#[cfg(test)]
mod tests;
