//! The accept loop every weft listener shares: connections until shutdown
//! starts, with a failed accept (say, out of file descriptors) logged and
//! followed by a short pause, so it cannot become a busy loop.

use crate::shutdown;
use std::{future::Future, net::SocketAddr, pin::Pin, time::Duration};
use tokio::net::{TcpListener, TcpStream};

/// EMFILE and ENFILE repeat until a connection closes: wait a little
/// rather than spin on them.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(20);

/// Connections accepted on a listener until shutdown starts. New
/// connections stop then; the ones already handed out carry on.
pub struct Incoming {
    listener: TcpListener,
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
    /// Names the listener in logs.
    name: &'static str,
}

impl Incoming {
    pub fn new(listener: TcpListener, stop: shutdown::Signal, name: &'static str) -> Self {
        Self {
            listener,
            stopped: Box::pin(stop.wait()),
            done: false,
            name,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection and its peer, or `None` once shutdown started.
    pub async fn next(&mut self) -> Option<(TcpStream, SocketAddr)> {
        while !self.done {
            tokio::select! {
                () = &mut self.stopped => self.done = true,
                r = self.listener.accept() => match r {
                    Ok(conn) => return Some(conn),
                    Err(error) => {
                        tracing::warn!(listener = self.name, %error, "accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                },
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hands_out_connections_until_shutdown_then_only_none() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (trigger, signal) = shutdown::channel();
        let mut incoming = Incoming::new(listener, signal, "test");
        let client = TcpStream::connect(addr).await.unwrap();
        let (_, peer) = incoming.next().await.expect("a connection");
        assert_eq!(peer, client.local_addr().unwrap());
        trigger.trigger();
        assert!(incoming.next().await.is_none());
        // Asked again after shutdown: still None, not a poll of a
        // finished future.
        assert!(incoming.next().await.is_none());
    }
}
