//! Serving Certify over TLS with the identity service's own certificate.
//!
//! weft-identity certifies itself: it signs `…/sa/weft-identity` from its
//! issuer, so proxies can check whom they send their CSR to. Clients have
//! no certificate yet, so client certificates are optional here.

use crate::{authn::TokenReviewer, ca::Issuer, certify::CertifyService};
use std::{sync::Arc, time::SystemTime};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use weft_api::identity::identity_server::IdentityServer;
use weft_runtime::shutdown;
use weft_tls::{Credentials, SpiffeId, WorkloadKey};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("issuing the identity service's own certificate: {0}")]
    SelfCert(String),
    #[error("serving gRPC: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A certificate for `own_id`, signed by `issuer` like any workload's.
pub fn self_credentials(
    issuer: &Issuer,
    own_id: &SpiffeId,
    lifetime: std::time::Duration,
) -> Result<Credentials, ServerError> {
    let err = |e: &dyn std::fmt::Display| ServerError::SelfCert(e.to_string());
    let key = WorkloadKey::generate().map_err(|e| err(&e))?;
    let csr = key.csr_der(own_id).map_err(|e| err(&e))?;
    let rsp = issuer
        .sign_own(&csr, own_id, OffsetDateTime::now_utc(), lifetime)
        .map_err(|e| err(&e))?;
    let until = rsp.valid_until.map(|t| t.seconds).unwrap_or_default();
    let mut chain = vec![rsp.leaf_certificate.into()];
    chain.extend(rsp.intermediate_certificates.into_iter().map(Into::into));
    let valid_until = SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(until).unwrap_or_default());
    Ok(Credentials::new(
        own_id.clone(),
        &key,
        chain,
        SystemTime::now(),
        valid_until,
    ))
}

/// Serves Certify on `listener` over TLS until `stop`.
pub async fn serve<R: TokenReviewer>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: CertifyService<R>,
    stop: shutdown::Signal,
) -> Result<(), ServerError> {
    let incoming = weft_tls::tls_incoming(listener, tls);
    tonic::transport::Server::builder()
        .add_service(IdentityServer::new(service))
        .serve_with_incoming_shutdown(incoming, stop.wait())
        .await?;
    Ok(())
}
