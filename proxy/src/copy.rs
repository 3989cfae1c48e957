//! Copying bytes both ways between two streams, as tokio's
//! `copy_bidirectional` does, but with read buffers that start small and
//! grow while reads keep filling them. An idle or chatty connection holds
//! [`START`] bytes per direction; a bulk transfer soon reads [`MAX`] at a
//! time, so each system call and each TLS write carries several full
//! records instead of half of one.

use std::{
    future::poll_fn,
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A direction's first buffer: tokio's own default.
pub const START: usize = 8 * 1024;
/// The largest buffer: four full TLS records.
pub const MAX: usize = 64 * 1024;

/// Copies `a`→`b` and `b`→`a` until both directions reach end of stream
/// (each shutting down its writer when its reader ends); the bytes moved
/// each way, `a`→`b` first. An error in either direction ends both.
pub async fn bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let (mut a_to_b, mut b_to_a) = (Half::new(), Half::new());
    poll_fn(|cx| {
        let ab = a_to_b.poll_step(cx, a, b)?;
        let ba = b_to_a.poll_step(cx, b, a)?;
        match (ab, ba) {
            (Poll::Ready(x), Poll::Ready(y)) => Poll::Ready(Ok((x, y))),
            _ => Poll::Pending,
        }
    })
    .await
}

/// One direction: its buffer, what of it is still to be written, and
/// whether its reader has ended.
struct Half {
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    read_done: bool,
    shut_down: bool,
    need_flush: bool,
    moved: u64,
}

impl Half {
    fn new() -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            filled: 0,
            read_done: false,
            shut_down: false,
            need_flush: false,
            moved: 0,
        }
    }

    /// Moves what it can from `r` to `w`; ready with the byte count once
    /// `r` has ended, everything is written and `w` is shut down.
    fn poll_step<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        loop {
            if self.shut_down {
                return Poll::Ready(Ok(self.moved));
            }
            if self.pos == self.filled && !self.read_done {
                if self.buf.is_empty() {
                    self.buf = vec![0; START];
                }
                let mut rb = ReadBuf::new(&mut self.buf);
                match Pin::new(&mut *r).poll_read(cx, &mut rb) {
                    Poll::Pending => {
                        // Nothing more to read now: what was written must
                        // not wait in the writer's buffer for more.
                        if self.need_flush {
                            ready!(Pin::new(&mut *w).poll_flush(cx))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            self.read_done = true;
                        }
                        (self.pos, self.filled) = (0, n);
                    }
                }
            }
            while self.pos < self.filled {
                let n = ready!(Pin::new(&mut *w).poll_write(cx, &self.buf[self.pos..self.filled]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.pos += n;
                self.moved += n as u64;
                self.need_flush = true;
            }
            // A read that filled the buffer says more is waiting: read
            // more at a time from now on.
            if self.filled == self.buf.len() && self.buf.len() < MAX {
                let doubled = (self.buf.len() * 2).min(MAX);
                self.buf.resize(doubled, 0);
            }
            if self.read_done {
                ready!(Pin::new(&mut *w).poll_flush(cx))?;
                ready!(Pin::new(&mut *w).poll_shutdown(cx))?;
                self.shut_down = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
