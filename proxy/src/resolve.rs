//! Where an outbound connection goes, as the outbound path asks it.
//!
//! The discovery client (the controller's Discovery stream, balancing,
//! TrafficSplit) plugs in behind [`Resolve`]; until then [`FixedResolver`],
//! a fixed table, stands in for it in tests.

use std::{collections::HashMap, future::Future, net::SocketAddr};
use weft_tls::SpiffeId;

/// The answer for one original destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// A meshed endpoint: connect to `addr` with mesh mTLS and require `id`.
    /// When `opaque`, the bytes are never inspected for a protocol.
    Mesh {
        addr: SocketAddr,
        id: SpiffeId,
        opaque: bool,
    },
    /// Outside the mesh: forward the bytes as they are.
    Passthrough,
    /// Inside the cluster's networks but unknown: never plaintext; refuse.
    Refuse(String),
}

pub trait Resolve: Send + Sync + 'static {
    fn resolve(&self, dst: SocketAddr) -> impl Future<Output = Resolution> + Send;
}

/// A fixed table; anything not in it passes through. A test fixture until
/// the discovery client lands.
#[derive(Clone, Debug, Default)]
pub struct FixedResolver(pub HashMap<SocketAddr, Resolution>);

impl Resolve for FixedResolver {
    async fn resolve(&self, dst: SocketAddr) -> Resolution {
        self.0.get(&dst).cloned().unwrap_or(Resolution::Passthrough)
    }
}
