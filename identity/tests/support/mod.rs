//! Pieces shared by the integration tests: a token reviewer that knows two
//! tokens, and a Certifier over a real tonic channel doing TLS.

use http::Uri;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpStream;
use tonic::transport::Channel;
use weft_api::identity::{CertifyRequest, CertifyResponse, identity_client::IdentityClient};
use weft_identity::authn::{AuthnError, ServiceAccount, TokenReviewer};
use weft_runtime::grpc;
use weft_tls::{Certifier, CertifyError, SpiffeId};

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

/// A Certifier over a tonic channel whose connector does TLS with `tls`.
pub struct Tonic(IdentityClient<Channel>);

impl Tonic {
    pub fn new(addr: std::net::SocketAddr, tls: Arc<rustls::ClientConfig>) -> Self {
        let connector = tower::service_fn(move |_: Uri| {
            let tls = tls.clone();
            async move {
                let tcp = TcpStream::connect(addr).await?;
                // Only SNI: the verifier checks the SPIFFE id, not a name.
                let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
                let stream = tokio_rustls::TlsConnector::from(tls)
                    .connect(name, tcp)
                    .await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        });
        let channel = grpc::lazy_channel(
            &addr.to_string(),
            &grpc::ChannelConfig::default(),
            connector,
        )
        .unwrap();
        Self(IdentityClient::new(channel))
    }
}

impl Certifier for Tonic {
    async fn certify(&self, request: CertifyRequest) -> Result<CertifyResponse, CertifyError> {
        self.0
            .clone()
            .certify(request)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| match s.code() {
                tonic::Code::Unavailable | tonic::Code::Unknown => {
                    CertifyError::Unavailable(s.to_string())
                }
                code => CertifyError::Refused {
                    code: format!("{code:?}"),
                    message: s.message().to_string(),
                },
            })
    }
}

pub fn identity_id() -> SpiffeId {
    "spiffe://cluster.local/ns/weft-system/sa/weft-identity"
        .parse()
        .unwrap()
}
