//! Socket facts the proxy needs from the kernel.

use std::{io, net::SocketAddr, time::Duration};
use tokio::net::TcpStream;

/// Where a redirected connection was going before iptables sent it to the
/// proxy (`SO_ORIGINAL_DST`, or its IPv6 form). For a connection that was not
/// redirected it is the socket's own local address.
pub fn original_dst(sock: &TcpStream) -> io::Result<SocketAddr> {
    let s = socket2::SockRef::from(sock);
    let local = sock.local_addr()?;
    let addr = if local.is_ipv4() {
        s.original_dst_v4()?
    } else {
        s.original_dst_v6()?
    };
    addr.as_socket()
        .ok_or_else(|| io::Error::other("SO_ORIGINAL_DST returned a non-IP address"))
}

/// Connects to `addr` within `timeout`, with Nagle off (proxied protocols
/// do their own batching).
pub async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {addr} timed out"),
            )
        })??;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}
