//! The workload's private key and its certificate signing request.
//!
//! The key is made in memory and never written anywhere: a pod's identity is
//! only as safe as its key, and a key that only ever lived in the proxy's heap
//! dies with the proxy. The CSR carries exactly one name, the URI SAN with
//! the SPIFFE id, and an empty subject, because that is all weft-identity
//! signs and all peers look at; a common name would only invite someone to
//! match on it.

use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, KeyPair, PKCS_ECDSA_P256_SHA256, SanType};
use rustls::sign::SigningKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroize;

use crate::id::SpiffeId;

/// Why a key or CSR could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("generating a P-256 key failed: {0}")]
    Generate(#[source] rcgen::Error),
    #[error("the crypto provider refused the generated key: {0}")]
    Load(#[source] rustls::Error),
    #[error("the SPIFFE id cannot be a URI SAN: {0}")]
    San(#[source] rcgen::Error),
    #[error("signing the CSR failed: {0}")]
    Sign(#[source] rcgen::Error),
}

/// A P-256 key pair that exists only in memory.
///
/// It holds the key twice, once for rcgen (to sign CSRs) and once for
/// rustls (to sign handshakes). The rcgen copy and the PKCS#8 bytes passed
/// between them are zeroed when dropped; ring does not expose its own copy
/// for zeroing, which is the best this stack allows.
pub struct WorkloadKey {
    key_pair: KeyPair,
    signing_key: Arc<dyn SigningKey>,
}

impl WorkloadKey {
    /// Generates a fresh random P-256 key.
    pub fn generate() -> Result<Self, CsrError> {
        let key_pair =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(CsrError::Generate)?;
        Self::from_key_pair(key_pair)
    }

    pub(crate) fn from_key_pair(key_pair: KeyPair) -> Result<Self, CsrError> {
        let mut pkcs8 = key_pair.serialize_der();
        // Borrow rather than copy the secret, so there is one copy to zero.
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.as_slice()));
        let loaded = rustls::crypto::ring::sign::any_ecdsa_type(&der);
        pkcs8.zeroize();
        let signing_key = loaded.map_err(CsrError::Load)?;
        Ok(Self {
            key_pair,
            signing_key,
        })
    }

    /// A DER-encoded PKCS#10 request for `id`: one URI SAN, empty subject.
    pub fn csr_der(&self, id: &SpiffeId) -> Result<Vec<u8>, CsrError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let uri = id.as_str().to_owned().try_into().map_err(CsrError::San)?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        let csr = params
            .serialize_request(&self.key_pair)
            .map_err(CsrError::Sign)?;
        Ok(csr.der().to_vec())
    }

    /// The raw public key (an uncompressed P-256 point), to check that a
    /// certificate we are handed was issued for this key.
    pub fn public_key_raw(&self) -> &[u8] {
        self.key_pair.public_key_raw()
    }

    /// The key as rustls signs handshakes with it.
    pub fn signing_key(&self) -> Arc<dyn SigningKey> {
        self.signing_key.clone()
    }

    /// The key for rcgen, so the test CA can sign certificates for it.
    #[cfg(feature = "test-util")]
    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }
}

impl Drop for WorkloadKey {
    fn drop(&mut self) {
        self.key_pair.zeroize();
    }
}

impl std::fmt::Debug for WorkloadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, not even by accident in a log line.
        f.debug_struct("WorkloadKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    #[test]
    fn csr_has_exactly_one_uri_san_and_no_subject() {
        let id: SpiffeId = "spiffe://cluster.local/ns/shop/sa/web".parse().unwrap();
        let key = WorkloadKey::generate().unwrap();
        let der = key.csr_der(&id).unwrap();
        let (_, csr) = X509CertificationRequest::from_der(&der).unwrap();
        csr.verify_signature().unwrap();
        let info = &csr.certification_request_info;
        assert_eq!(info.subject.iter().count(), 0, "subject must be empty");
        assert_eq!(
            info.subject_pki.subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
        let mut names = Vec::new();
        for ext in csr.requested_extensions().into_iter().flatten() {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                names.extend(san.general_names.iter().cloned());
            }
        }
        assert_eq!(names, vec![GeneralName::URI(id.as_str())]);
    }

    #[test]
    fn each_key_is_new_and_signs_for_rustls() {
        let a = WorkloadKey::generate().unwrap();
        let b = WorkloadKey::generate().unwrap();
        assert_ne!(a.public_key_raw(), b.public_key_raw());
        assert_eq!(
            a.signing_key().algorithm(),
            rustls::SignatureAlgorithm::ECDSA
        );
        assert!(!format!("{a:?}").contains("key_pair"));
    }
}
