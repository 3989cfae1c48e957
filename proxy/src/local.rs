//! The seam between the two directions for a pod's calls to itself
//! ([`crate::outbound::dial`] explains why they are not dialled): the
//! outbound side hands one end of a pipe to the inbound side, which serves
//! it like a connection from the network. Neither direction imports the
//! other; `main` joins them.

use std::{net::SocketAddr, sync::Arc};
use tokio::io::DuplexStream;

/// This proxy's inbound side, as the outbound side reaches it.
pub trait LocalInbound: Send + Sync {
    /// Serves `io` as a connection from this pod to `dst`, one of its own
    /// addresses, on a task of its own.
    fn accept(self: Arc<Self>, io: DuplexStream, dst: SocketAddr);
}
