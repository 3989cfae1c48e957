//! Pieces shared by the integration tests: a token reviewer that knows one
//! token, and the real gRPC Certifier over TLS to a loopback server.

use std::sync::Arc;
use weft_identity::authn::{AuthnError, ServiceAccount, TokenReviewer};
use weft_runtime::grpc::ChannelConfig;
use weft_tls::{GrpcCertifier, SpiffeId};

pub struct OneToken;

impl TokenReviewer for OneToken {
    async fn review(&self, token: &str) -> Result<ServiceAccount, AuthnError> {
        match token {
            "web-token" => Ok(ServiceAccount {
                namespace: "shop".into(),
                name: "web".into(),
            }),
            _ => Err(AuthnError::Rejected("unknown token".into())),
        }
    }
}

/// A Certifier over a fresh tonic channel to `addr` doing TLS with `tls`.
pub fn certifier(addr: std::net::SocketAddr, tls: Arc<rustls::ClientConfig>) -> GrpcCertifier {
    GrpcCertifier::new(
        weft_tls::tls_channel(&addr.to_string(), tls, &ChannelConfig::default()).unwrap(),
    )
}

pub fn identity_id() -> SpiffeId {
    "spiffe://cluster.local/ns/weft-system/sa/weft-identity"
        .parse()
        .unwrap()
}
