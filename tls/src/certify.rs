//! The Certify call as the certificate manager sees it, and the checks on
//! what comes back.
//!
//! The manager talks to weft-identity through [`Certifier`], so the proxy
//! plugs in its tonic client and tests plug in a fake. Whatever a certifier
//! returns is checked before it is used: a certificate for another id, for
//! another key or from another CA would make every handshake fail (or,
//! worse, succeed as someone else), so such a response counts as a failed
//! attempt and the current certificate stays.

use std::future::Future;
use std::time::SystemTime;

use rustls_pki_types::{CertificateDer, UnixTime};
use weft_api::identity::{CertifyRequest, CertifyResponse};

use crate::anchors::TrustAnchors;
use crate::creds::Credentials;
use crate::csr::WorkloadKey;
use crate::id::SpiffeId;
use crate::leaf::{LeafError, inspect_leaf};

/// Issues certificates: weft-identity's Certify, or a fake.
pub trait Certifier: Send + Sync {
    fn certify(
        &self,
        request: CertifyRequest,
    ) -> impl Future<Output = Result<CertifyResponse, CertifyError>> + Send;
}

/// Why a Certify call failed. Every kind is retried with backoff: the token
/// may be rotated, the identity service may come back.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CertifyError {
    /// The identity service could not be reached (connect, TLS, timeout).
    #[error("cannot reach the identity service: {0}")]
    Unavailable(String),
    /// The identity service answered with an error (a gRPC status).
    #[error("the identity service refused the request ({code}): {message}")]
    Refused { code: String, message: String },
}

/// Why a Certify response was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("the response carries no leaf certificate")]
    NoLeaf,
    #[error("the returned leaf is unusable: {0}")]
    Leaf(#[from] LeafError),
    #[error("the returned leaf is for {found}, not for {expected}")]
    WrongId { expected: SpiffeId, found: SpiffeId },
    #[error("the returned leaf was issued for another key than ours")]
    KeyMismatch,
    #[error("the returned chain does not verify against the trust anchors: {0}")]
    Chain(#[source] rustls::Error),
    #[error("the wall clock is before 1970")]
    Clock,
}

/// Checks a Certify response against what we asked for and whom we trust,
/// and makes it [`Credentials`].
///
/// The leaf must carry exactly our id, our public key, and chain (through
/// the returned intermediates) to `anchors` at `now`, usable both as a
/// client and as a server certificate, since proxies are both. Validity is
/// taken from the leaf itself; the response's `valid_until` is advisory.
pub fn validate_response(
    response: &CertifyResponse,
    id: &SpiffeId,
    key: &WorkloadKey,
    anchors: &TrustAnchors,
    now: SystemTime,
) -> Result<Credentials, ResponseError> {
    if response.leaf_certificate.is_empty() {
        return Err(ResponseError::NoLeaf);
    }
    let leaf = CertificateDer::from(response.leaf_certificate.clone());
    let info = inspect_leaf(&leaf)?;
    if info.id != *id {
        return Err(ResponseError::WrongId {
            expected: id.clone(),
            found: info.id,
        });
    }
    if info.public_key != key.public_key_raw() {
        return Err(ResponseError::KeyMismatch);
    }
    let intermediates: Vec<CertificateDer<'static>> = response
        .intermediate_certificates
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| ResponseError::Clock)?;
    let unix = UnixTime::since_unix_epoch(since_epoch);
    anchors
        .verify_server_chain(&leaf, &intermediates, unix)
        .map_err(ResponseError::Chain)?;
    anchors
        .verify_client_chain(&leaf, &intermediates, unix)
        .map_err(ResponseError::Chain)?;
    let mut chain = vec![leaf];
    chain.extend(intermediates);
    Ok(Credentials::new(
        id.clone(),
        key,
        chain,
        info.not_before,
        info.not_after,
    ))
}
