//! Who is on the other end of an inbound connection: a verified mesh
//! identity, or nobody the proxy can vouch for.

use crate::metrics::Label;
use std::{net::SocketAddr, sync::LazyLock};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Client {
    /// The SPIFFE id of the client's certificate on a verified mesh link.
    Mesh(weft_tls::SpiffeId),
    Unauthenticated(SocketAddr),
}

impl Client {
    /// For metrics labels: the SPIFFE id, or `unauthenticated` (never the
    /// address, which would make the label unbounded).
    pub fn label(&self) -> Label {
        static UNAUTHENTICATED: LazyLock<Label> = LazyLock::new(|| Label::from("unauthenticated"));
        match self {
            Client::Mesh(id) => id.shared_str(),
            Client::Unauthenticated(_) => UNAUTHENTICATED.clone(),
        }
    }
}
