//! Who is on the other end of an inbound connection: a verified mesh
//! identity, or nobody the proxy can vouch for.

use std::net::SocketAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Client {
    /// The SPIFFE id of the client's certificate on a verified mesh link.
    Mesh(weft_tls::SpiffeId),
    Unauthenticated(SocketAddr),
}

impl Client {
    /// For metrics labels: the SPIFFE id, or `unauthenticated` (never the
    /// address, which would make the label unbounded).
    pub fn label(&self) -> String {
        match self {
            Client::Mesh(id) => id.to_string(),
            Client::Unauthenticated(_) => "unauthenticated".into(),
        }
    }
}
