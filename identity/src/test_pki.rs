//! A throwaway PKI for unit tests: a root (the anchor) and an issuer.

use crate::ca::Issuer;
use std::time::Duration;
use time::OffsetDateTime;
use weft_tls::SpiffeId;

pub use crate::evaluation::GeneratedPki as Pki;

/// A root and an issuer valid until `issuer_not_after`.
pub fn pki(issuer_not_after: OffsetDateTime) -> Pki {
    crate::evaluation::generate(&"cluster.local".parse().unwrap(), issuer_not_after).unwrap()
}

pub fn later(days: u64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::from_secs(days * 86400)
}

pub fn load(p: &Pki) -> Issuer {
    Issuer::from_pem(
        p.root_pem.as_bytes(),
        p.issuer_pem.as_bytes(),
        &p.issuer_key_pem,
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

pub fn id(sa: &str) -> SpiffeId {
    format!("spiffe://cluster.local/ns/shop/sa/{sa}")
        .parse()
        .unwrap()
}

/// An issuer's certificate and key, as PEM.
pub struct IssuerPem {
    pub issuer_pem: String,
    pub issuer_key_pem: String,
}

impl IssuerPem {
    pub fn issuer_der(&self) -> Vec<u8> {
        use rustls_pki_types::{CertificateDer, pem::PemObject as _};
        CertificateDer::from_pem_slice(self.issuer_pem.as_bytes())
            .unwrap()
            .to_vec()
    }
}

/// A root and two issuers it signed: the current one and its successor,
/// valid until `first` and `second`.
pub fn rotation_pair(
    first: OffsetDateTime,
    second: OffsetDateTime,
) -> (String, IssuerPem, IssuerPem) {
    use crate::evaluation::ca_params;
    let root_key = rcgen::KeyPair::generate().unwrap();
    let root_params = ca_params("weft test root", later(3650));
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = rcgen::Issuer::new(root_params, &root_key);
    let issuer = |cn: &str, not_after: OffsetDateTime| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = ca_params(cn, not_after)
            .signed_by(&key, &root_issuer)
            .unwrap();
        IssuerPem {
            issuer_pem: cert.pem(),
            issuer_key_pem: key.serialize_pem(),
        }
    };
    (
        root.pem(),
        issuer("weft test issuer 1", first),
        issuer("weft test issuer 2", second),
    )
}
