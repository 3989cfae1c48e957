//! Where an outbound connection goes, as the outbound path asks it. The
//! discovery client ([`super::discovery::Discovery`]) answers in the proxy;
//! the seam lets tests and benchmarks answer with a fixed table.

use super::destination::Destination;
use std::{future::Future, net::SocketAddr};

/// The answer for one original destination.
#[derive(Clone)]
pub enum Resolution {
    /// Meshed: each request or connection picks an endpoint, reached with
    /// mesh mTLS and its exact SPIFFE id.
    Mesh(Destination),
    /// Outside the mesh: forward the bytes as they are.
    Passthrough,
    /// Inside the cluster's networks but not answerable: never plaintext;
    /// refuse.
    Refuse(String),
}

pub trait Resolve: Send + Sync + 'static {
    fn resolve(&self, dst: SocketAddr) -> impl Future<Output = Resolution> + Send;
}
