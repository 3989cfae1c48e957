//! Whether a connection's first bytes are an HTTP/1 request line, read the
//! way the most lenient servers read one.
//!
//! The answer decides whether the proxy serves the connection as HTTP
//! (authorizing each request, naming the verified client to the app) or
//! carries it as bytes. Any request line that some server would act on must
//! therefore count as HTTP: a narrower test lets a client hide a request,
//! and a forged `weft-client-id`, inside an "opaque" stream. So the method
//! is any token, not a fixed list; empty lines before the request, runs of
//! whitespace of the kinds RFC 9112 §3 lets servers accept, a bare LF and
//! a lower-case `http/` all still count, as does leading whitespace; HTTP/0.9's `GET /path` counts too.
//! What does not count: a line with no version whose first word is not
//! `GET` (an SMTP `EHLO host`, a memcached `get key`, an SSH banner), since
//! no HTTP/1 server answers those.

/// What a connection's first bytes say so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// An HTTP/1 request line (or one that a lenient server would take).
    Http,
    /// Not HTTP/1, whatever follows.
    NotHttp,
    /// Consistent with a request line so far; more bytes are needed.
    NeedMore,
}

/// Classifies the start of `buf` (see the module's documentation).
pub fn request_line(buf: &[u8]) -> Line {
    // A CR at the end may end the line, or (bare) separate two words: which
    // one, the next byte tells. So it is not read yet; a CR just before it
    // is then followed by a CR, so bare.
    match buf.strip_suffix(b"\r") {
        Some(head) => scan(Scan {
            buf: head,
            at: 0,
            cr_follows: true,
        }),
        None => scan(Scan {
            buf,
            at: 0,
            cr_follows: false,
        }),
    }
}

fn scan(mut c: Scan<'_>) -> Line {
    // Servers skip empty lines before a request (RFC 9112 §2.2); some skip
    // leading whitespace too.
    c.skip(|b| b == b'\r' || b == b'\n' || is_space_byte(b));
    let method = c.take(is_tchar);
    let Some(&after) = c.peek() else {
        return Line::NeedMore;
    };
    if method.is_empty() || !c.is_space(after) {
        return Line::NotHttp;
    }
    c.skip_space();
    let target = c.take(|b| !is_space_byte(b) && b != b'\r' && b != b'\n');
    let Some(&after) = c.peek() else {
        return Line::NeedMore;
    };
    if target.is_empty() {
        // A line end where the target should be.
        return Line::NotHttp;
    }
    if !c.is_space(after) {
        // The line ends after the target: HTTP/0.9, which has only GET.
        return if method == b"GET" {
            Line::Http
        } else {
            Line::NotHttp
        };
    }
    c.skip_space();
    let rest = &c.buf[c.at..];
    const VERSION: &[u8] = b"HTTP/";
    let n = rest.len().min(VERSION.len());
    if !rest[..n].eq_ignore_ascii_case(&VERSION[..n]) {
        Line::NotHttp
    } else if n < VERSION.len() {
        Line::NeedMore
    } else {
        Line::Http
    }
}

struct Scan<'a> {
    buf: &'a [u8],
    at: usize,
    /// `buf` is followed by a CR not yet read.
    cr_follows: bool,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<&'a u8> {
        self.buf.get(self.at)
    }

    fn take(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.at;
        while self.peek().is_some_and(|&b| f(b)) {
            self.at += 1;
        }
        &self.buf[start..self.at]
    }

    fn skip(&mut self, f: impl Fn(u8) -> bool) {
        self.take(f);
    }

    /// Whether `b`, at the cursor, separates words: SP, HTAB, VT, FF, or a
    /// CR that does not end the line.
    fn is_space(&self, b: u8) -> bool {
        let bare_cr = || match self.buf.get(self.at + 1) {
            Some(&next) => next != b'\n',
            None => self.cr_follows,
        };
        is_space_byte(b) || (b == b'\r' && bare_cr())
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|&b| self.is_space(b)) {
            self.at += 1;
        }
    }
}

fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0x0b | 0x0c)
}

/// RFC 9110 §5.6.2's `tchar`: what a method token is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_method_token_followed_by_a_target_and_a_version_is_http() {
        for line in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROPFIND /dav HTTP/1.1\r\n",
            b"MKCOL /x HTTP/1.1\r\n",
            b"X-ANYTHING_1.0 * HTTP/1.0\r\n",
            b"get /lower HTTP/1.1\r\n",
            b"POST /x http/1.1\r\n",
            b"\r\n\r\nGET / HTTP/1.1\r\n",
            b"\nGET / HTTP/1.1\n",
            b" \tGET / HTTP/1.1\r\n",
            b"GET\t/tab\tHTTP/1.1\r\n",
            b"GET  /two-spaces   HTTP/1.1\r\n",
            b"GET /vt\x0bHTTP/1.1\r\n",
            b"GET /bare-cr\rHTTP/1.1\r\n",
            b"GET /x HTTP/",
            b"GET /nine\r\n",
            b"GET /nine\n",
        ] {
            assert_eq!(
                request_line(line),
                Line::Http,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn other_protocols_first_lines_are_not_http() {
        for line in [
            &b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n"[..],
            b"SSH-2.0-Go\r\n",
            b"EHLO client.example\r\n",
            b"get key\r\n",
            b"set key 0 0 5\r\n",
            b"*3\r\n$3\r\nSET\r\n",
            b"\x16\x03\x01\x02\x00",
            b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
            b"GET \r\n",
            b"GET /x FTP/1.0\r\n",
        ] {
            assert_eq!(
                request_line(line),
                Line::NotHttp,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn every_prefix_of_a_request_line_needs_more() {
        let line = b"\r\nPROPFIND /a/b HTTP/1.1\r\n";
        let decided = line.len() - "1.1\r\n".len();
        for n in 0..decided {
            assert_eq!(
                request_line(&line[..n]),
                Line::NeedMore,
                "{:?}",
                String::from_utf8_lossy(&line[..n])
            );
        }
        for n in decided..=line.len() {
            assert_eq!(request_line(&line[..n]), Line::Http);
        }
    }

    #[test]
    fn a_decision_never_changes_as_bytes_arrive() {
        // Found by the `detect` and `late` fuzz targets: a CR at the end
        // was taken for a line end, then a bare CR made it a request.
        let samples: [&[u8]; 9] = [
            b"GET /nine\r\nHost: x\r\n",
            b"EHLO mail\r\nQUIT\r\n",
            b"SSH-2.0-x y\r\n",
            b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
            b"PO\rST / HTTP/1.1\r\n",
            b"E\r bytes HTTP/1.\r\n\n",
            b"GET\r/x\rHTTP/1.1\r\n",
            b"+\r\r\r\r\x03SI",
            b"#7!~~~H~7\r\r\r\rx* HTTP/2.0H",
        ];
        for s in samples {
            let mut first = None;
            for n in 0..=s.len() {
                match (request_line(&s[..n]), first) {
                    (Line::NeedMore, None) => {}
                    (Line::NeedMore, Some(d)) => panic!("{s:?}: undecided after {d:?}"),
                    (d, None) => first = Some(d),
                    (d, Some(f)) => assert_eq!(d, f, "{s:?} at {n}"),
                }
            }
        }
    }
}
