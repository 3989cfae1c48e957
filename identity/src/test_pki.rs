//! A throwaway PKI for unit tests: a root (the anchor) and an issuer.

use crate::ca::Issuer;
use rcgen::{BasicConstraints, Certificate, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
use std::time::Duration;
use time::OffsetDateTime;
use weft_tls::SpiffeId;

pub struct Pki {
    pub root_pem: String,
    pub issuer_pem: String,
    pub issuer_key_pem: String,
}

pub fn ca_params(cn: &str, not_after: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.not_before = OffsetDateTime::now_utc() - Duration::from_secs(3600);
    p.not_after = not_after;
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

pub fn pki(issuer_not_after: OffsetDateTime) -> Pki {
    let root_key = KeyPair::generate().unwrap();
    let root_params = ca_params(
        "weft test root",
        OffsetDateTime::now_utc() + Duration::from_secs(10 * 365 * 86400),
    );
    let root: Certificate = root_params.self_signed(&root_key).unwrap();
    let root_issuer = rcgen::Issuer::new(root_params, &root_key);
    let key = KeyPair::generate().unwrap();
    let issuer = ca_params("weft test issuer", issuer_not_after)
        .signed_by(&key, &root_issuer)
        .unwrap();
    Pki {
        root_pem: root.pem(),
        issuer_pem: issuer.pem(),
        issuer_key_pem: key.serialize_pem(),
    }
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
