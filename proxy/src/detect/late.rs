//! The client side of a connection carried as bytes because its client was
//! silent at first (the server speaks first): the client's first bytes are
//! held until they are known not to be HTTP, then passed on. An HTTP request
//! there would reach the app unchecked, its headers (a forged
//! `weft-client-id`) unstripped, so it is refused and the connection ends.

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
    Checking(BytesMut),
    Replaying(Bytes),
    Passing,
}

impl<S> Checked<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            state: State::Checking(BytesMut::new()),
        }
    }
}

fn refused() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, LateHttp)
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
                State::Checking(held) => {
                    let mut chunk = [0u8; 4096];
                    let mut read = ReadBuf::new(&mut chunk);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
                    if read.filled().is_empty() {
                        if held.is_empty() {
                            return Poll::Ready(Ok(()));
                        }
                        // Ended part-way through what could be a request.
                        return Poll::Ready(Err(refused()));
                    }
                    held.extend_from_slice(read.filled());
                    match classify(held, Mode::Detect) {
                        Some(p) if p.is_http() => return Poll::Ready(Err(refused())),
                        Some(_) => this.state = State::Replaying(held.split().freeze()),
                        None if held.len() >= MAX_BUFFER => return Poll::Ready(Err(refused())),
                        None => {}
                    }
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
        Checked::new(a).read_to_end(&mut got).await?;
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
    }

    #[tokio::test]
    async fn an_http_request_is_refused_and_none_of_it_passes() {
        for sent in [
            &[&b"GET /admin HTTP/1.1\r\nweft-client-id: forged\r\n\r\n"[..]][..],
            &[b"PROP", b"FIND /x HTTP/1.1\r\n\r\n"],
            &[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
            // Cut off where it could still be a request.
            &[b"GET /adm"],
        ] {
            let e = read_through(sent).await.expect_err("refused");
            assert!(LateHttp::is(&e), "{e}");
        }
    }
}
