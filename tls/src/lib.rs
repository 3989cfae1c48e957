//! Mesh TLS for weft.
//!
//! The whole workspace uses one rustls crypto provider, *ring* (see
//! `deny.toml`); [`provider`] returns it so no component picks another.

use std::sync::Arc;

/// The crypto provider every weft TLS config is built with.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    #[test]
    fn provider_offers_p256_ecdsa() {
        let p = super::provider();
        assert!(
            p.signature_verification_algorithms
                .supported_schemes()
                .contains(&rustls::SignatureScheme::ECDSA_NISTP256_SHA256)
        );
    }
}
