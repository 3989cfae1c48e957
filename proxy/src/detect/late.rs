//! The client side of a connection carried as bytes although detection
//! could not rule out HTTP: the client was silent (the server speaks
//! first) or its first bytes were still undecided when detection gave up.
//!
//! An HTTP request there would reach the app unchecked, its headers (a
//! forged `weft-client-id`) unstripped, so the client's bytes are watched
//! until they are known not to be HTTP. Until then they pass only up to the
//! first line end: a server acts on a request only after a line end (the
//! end of an HTTP/0.9 request line, or the blank line after HTTP/1
//! headers), so holding from there on means that when the bytes do turn
//! out to be a request, the app has not acted on it; the connection is then
//! closed.

use super::{MAX_BUFFER, Mode, classify};
use bytes::{Buf, Bytes, BytesMut};
use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The error a [`Checked`] stream fails with when its first bytes are, or
/// could still be, HTTP.
#[derive(Debug, thiserror::Error)]
#[error("an HTTP request after the client was silent past protocol detection; refused")]
pub struct LateHttp;

impl LateHttp {
    /// Whether `e` is this refusal.
    pub fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<LateHttp>())
    }
}

/// `S` whose first read bytes are checked (see the module documentation).
/// Writes pass straight through, so the server's greeting is not held.
pub struct Checked<S> {
    inner: S,
    state: State,
}

enum State {
    /// Every byte read so far, of which `sent` were passed on.
    Checking {
        seen: BytesMut,
        sent: usize,
    },
    Replaying(Bytes),
    Passing,
}

impl<S> Checked<S> {
    /// `S`, whose bytes `prefix` were already read (and not passed on).
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self {
            inner,
            state: State::Checking {
                seen: BytesMut::from(&prefix[..]),
                sent: 0,
            },
        }
    }
}

fn refused() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, LateHttp)
}

/// How many of `seen`'s bytes may pass while undecided: those before the
/// first line end.
fn releasable(seen: &[u8]) -> usize {
    seen.iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(seen.len())
}

impl<S: AsyncRead + Unpin> AsyncRead for Checked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Passing => return Pin::new(&mut this.inner).poll_read(cx, out),
                State::Replaying(held) => {
                    let n = held.len().min(out.remaining());
                    out.put_slice(&held[..n]);
                    held.advance(n);
                    if held.is_empty() {
                        this.state = State::Passing;
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Checking { seen, sent } => {
                    match classify(seen, Mode::Detect) {
                        Some(p) if p.is_http() => return Poll::Ready(Err(refused())),
                        Some(_) => {
                            let rest = seen.split_off(*sent).freeze();
                            this.state = State::Replaying(rest);
                            continue;
                        }
                        None if seen.len() >= MAX_BUFFER => return Poll::Ready(Err(refused())),
                        None => {}
                    }
                    let free = releasable(seen);
                    if free > *sent && out.remaining() > 0 {
                        let n = (free - *sent).min(out.remaining());
                        out.put_slice(&seen[*sent..*sent + n]);
                        *sent += n;
                        return Poll::Ready(Ok(()));
                    }
                    let mut chunk = [0u8; 4096];
                    let mut read = ReadBuf::new(&mut chunk);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
                    if read.filled().is_empty() {
                        if seen.len() == *sent {
                            return Poll::Ready(Ok(()));
                        }
                        // Ended holding what could be part of a request.
                        return Poll::Ready(Err(refused()));
                    }
                    seen.extend_from_slice(read.filled());
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Checked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn read_through(sent: &[&[u8]]) -> io::Result<Vec<u8>> {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        for s in sent {
            b.write_all(s).await.unwrap();
        }
        drop(b);
        let mut got = Vec::new();
        Checked::new(Bytes::new(), a).read_to_end(&mut got).await?;
        Ok(got)
    }

    #[tokio::test]
    async fn other_protocols_pass_whole() {
        let smtp = read_through(&[b"EHLO client.example\r\n", b"MAIL FROM:<a@b>\r\n"])
            .await
            .unwrap();
        assert_eq!(smtp, b"EHLO client.example\r\nMAIL FROM:<a@b>\r\n");
        let binary = read_through(&[b"\x00\x00\x00\x08", b"\x04\xd2\x16\x2f"])
            .await
            .unwrap();
        assert_eq!(binary, b"\x00\x00\x00\x08\x04\xd2\x16\x2f");
        assert_eq!(read_through(&[]).await.unwrap(), b"");
        // Cut off before any line end: no server acts on it.
        assert_eq!(read_through(&[b"GET /adm"]).await.unwrap(), b"GET /adm");
    }

    #[tokio::test]
    async fn an_http_request_is_refused_and_none_of_it_passes() {
        for sent in [
            &[&b"GET /admin HTTP/1.1\r\nweft-client-id: forged\r\n\r\n"[..]][..],
            &[b"PROP", b"FIND /x HTTP/1.1\r\n\r\n"],
            &[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
            &[b"GET /nine\r\n"],
            &[b"\r\n\r\nPOST /x HTTP/1.0\r\n\r\n"],
        ] {
            let e = read_through(sent).await.expect_err("refused");
            assert!(LateHttp::is(&e), "{e}");
        }
    }

    #[tokio::test]
    async fn undecided_bytes_pass_up_to_the_first_line_end_only() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut checked = Checked::new(Bytes::from_static(b"tcp "), a);
        b.write_all(b"bytes").await.unwrap();
        let mut got = vec![0u8; 9];
        checked.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"tcp bytes", "a word and a word, no line end yet");
        // The request line completes: refused, and the line end never
        // passed.
        b.write_all(b" HTTP/1.1\r\nweft-client-id: forged\r\n\r\n")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let e = checked.read_to_end(&mut rest).await.expect_err("refused");
        assert!(LateHttp::is(&e), "{e}");
        assert!(!rest.contains(&b'\n'), "{rest:?}");
    }
}
