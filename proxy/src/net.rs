//! Socket facts the proxy needs from the kernel, and its listeners.

use socket2::{Domain, Protocol, Socket, Type};
use std::{
    io,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    time::Duration,
};
use tokio::net::{TcpListener, TcpStream};

/// Linux's EAFNOSUPPORT: the kernel has no IPv6 stack at all.
const EAFNOSUPPORT: i32 = 97;

/// Where a redirected connection was going before iptables sent it to the
/// proxy (`SO_ORIGINAL_DST`, or its IPv6 form). For a connection that was not
/// redirected it is the socket's own local address.
pub fn original_dst(sock: &TcpStream) -> io::Result<SocketAddr> {
    let s = socket2::SockRef::from(sock);
    let local = sock.local_addr()?;
    // The listeners are single-family (see `listen`), so the socket's family
    // is the connection's and picks the right lookup.
    let addr = if local.is_ipv4() {
        s.original_dst_v4()?
    } else {
        s.original_dst_v6()?
    };
    addr.as_socket()
        .ok_or_else(|| io::Error::other("SO_ORIGINAL_DST returned a non-IP address"))
}

/// The IPv6 address a listener on `addr` also needs, so IPv6 is served as
/// IPv4 is: the IPv4 wildcard (every address) becomes `[::]`, loopback
/// becomes `[::1]`, on the same port; these are where ip6tables' REDIRECT
/// sends inbound and outbound IPv6 TCP. Any other address was chosen on
/// purpose and is bound alone.
pub fn ipv6_twin(addr: SocketAddr) -> Option<SocketAddr> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            Some(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), addr.port()))
        }
        IpAddr::V4(ip) if ip.is_loopback() => {
            Some(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()))
        }
        _ => None,
    }
}

/// A listener on `addr`. An IPv6 one takes IPv6 only: a dual-stack socket
/// would receive IPv4 as mapped addresses (`::ffff:a.b.c.d`), whose
/// original destination lives in the IPv4 conntrack entry and which match
/// no pod IP or CIDR as written; IPv4 has a listener of its own.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // As tokio's own bind: a restarted proxy rebinds despite TIME_WAIT.
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

/// The listeners for one direction: `addr`, and its [`ipv6_twin`] when
/// there is one.
pub struct Listeners {
    pub bound: Vec<TcpListener>,
    /// Why the IPv6 twin could not be bound, when the pod has no IPv6: no
    /// `::1` (IPv6 disabled in the namespace) or no IPv6 stack at all. No
    /// IPv6 can then reach the pod either, so IPv4 alone is complete.
    pub no_ipv6: Option<io::Error>,
}

/// Binds [`Listeners`] for `addr`; any failure but a missing IPv6 is an
/// error naming the address.
pub fn listen_dual(addr: SocketAddr) -> io::Result<Listeners> {
    let named = |a: SocketAddr, e: io::Error| io::Error::new(e.kind(), format!("{a}: {e}"));
    let mut bound = vec![listen(addr).map_err(|e| named(addr, e))?];
    let mut no_ipv6 = None;
    if let Some(twin) = ipv6_twin(addr) {
        match listen(twin) {
            Ok(l) => bound.push(l),
            Err(e) if lacks_ipv6(&e) => no_ipv6 = Some(named(twin, e)),
            Err(e) => return Err(named(twin, e)),
        }
    }
    Ok(Listeners { bound, no_ipv6 })
}

/// Whether binding failed because this namespace or kernel has no IPv6.
fn lacks_ipv6(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AddrNotAvailable || e.raw_os_error() == Some(EAFNOSUPPORT)
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

#[cfg(test)]
mod tests;
