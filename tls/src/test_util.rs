//! A test-only certificate authority (feature `test-util`).
//!
//! Other crates' tests need real mesh certificates: a root to trust, leaves
//! for chosen SPIFFE ids and lifetimes, CSRs signed the way weft-identity
//! would. Everything about these certificates is fixed (names, serials, the
//! CA's validity, 2020-01-01 to 2100-01-01) except the keys: ring generates
//! P-256 keys only from the system RNG, so keys, and therefore signatures,
//! differ between runs. Tests must not compare certificate bytes across runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer};
use weft_api::identity::CertifyResponse;

use crate::anchors::{AnchorStore, TrustAnchors};
use crate::creds::Credentials;
use crate::csr::WorkloadKey;
use crate::id::SpiffeId;

/// A leaf's validity period. X.509 keeps whole seconds, so both ends are
/// rounded down to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    pub fn new(not_before: SystemTime, not_after: SystemTime) -> Self {
        Self {
            not_before: whole_seconds(not_before),
            not_after: whole_seconds(not_after),
        }
    }

    /// Valid from `start` for `lifetime`.
    pub fn starting_at(start: SystemTime, lifetime: Duration) -> Self {
        let start = whole_seconds(start);
        Self::new(start, start + lifetime)
    }

    /// Valid from (about) now for `lifetime`, by the system clock: what real
    /// rustls handshakes check against.
    pub fn starting_now(lifetime: Duration) -> Self {
        Self::starting_at(SystemTime::now(), lifetime)
    }
}

/// A root CA, optionally with one intermediate that signs the leaves.
pub struct TestCa {
    root_der: CertificateDer<'static>,
    root_pem: String,
    root_issuer: Issuer<'static, KeyPair>,
    intermediate: Option<(CertificateDer<'static>, Issuer<'static, KeyPair>)>,
    next_serial: AtomicU64,
}

impl TestCa {
    /// A root that signs leaves itself, named `weft test root`.
    pub fn new() -> Self {
        Self::named("weft test root")
    }

    /// A root with another common name: a second, unrelated CA. (Two CAs
    /// with the same name are also unrelated, but webpki then reports a bad
    /// signature rather than an unknown issuer.)
    pub fn named(name: &str) -> Self {
        let (root, root_issuer) = ca_cert(name, 1, None);
        Self {
            root_der: root.der().clone(),
            root_pem: root.pem(),
            root_issuer,
            intermediate: None,
            next_serial: AtomicU64::new(1000),
        }
    }

    /// A root and an intermediate; leaves are signed by the intermediate
    /// and come with it in their chain.
    pub fn with_intermediate() -> Self {
        let mut ca = Self::new();
        let (cert, issuer) = ca_cert("weft test intermediate", 2, Some(&ca.root_issuer));
        ca.intermediate = Some((cert.der().clone(), issuer));
        ca
    }

    /// The root, as a trust anchor.
    pub fn root(&self) -> &CertificateDer<'static> {
        &self.root_der
    }

    /// The root as a PEM bundle, as the trust-anchor ConfigMap holds it.
    pub fn root_pem(&self) -> String {
        self.root_pem.clone()
    }

    pub fn anchors(&self) -> TrustAnchors {
        TrustAnchors::from_der([self.root_der.clone()]).expect("the test root is a valid anchor")
    }

    pub fn anchor_store(&self) -> AnchorStore {
        AnchorStore::new(self.anchors())
    }

    /// Intermediates to send along with a leaf (empty without one).
    pub fn intermediates(&self) -> Vec<CertificateDer<'static>> {
        self.intermediate
            .iter()
            .map(|(der, _)| der.clone())
            .collect()
    }

    /// A fresh key and a certificate chain (leaf first) for `id`.
    pub fn issue(
        &self,
        id: &SpiffeId,
        validity: Validity,
    ) -> (WorkloadKey, Vec<CertificateDer<'static>>) {
        self.issue_with_uris(&[id.as_str()], validity)
    }

    /// Like [`TestCa::issue`] with any URI SANs, to make malformed leaves.
    pub fn issue_with_uris(
        &self,
        uris: &[&str],
        validity: Validity,
    ) -> (WorkloadKey, Vec<CertificateDer<'static>>) {
        let key = WorkloadKey::generate().expect("P-256 key generation");
        let mut params = self.leaf_params(validity);
        params.subject_alt_names = uris
            .iter()
            .map(|uri| SanType::URI((*uri).to_owned().try_into().expect("URI SAN is IA5")))
            .collect();
        let leaf = params
            .signed_by(key.key_pair(), self.signer())
            .expect("signing a test leaf");
        (key, self.chain(leaf.der().clone()))
    }

    /// Credentials for `id`, ready to publish in a [`crate::CredStore`].
    pub fn credentials(&self, id: &SpiffeId, validity: Validity) -> Arc<Credentials> {
        let (key, chain) = self.issue(id, validity);
        Arc::new(Credentials::new(
            id.clone(),
            &key,
            chain,
            validity.not_before,
            validity.not_after,
        ))
    }

    /// Signs a CSR as weft-identity would, but for `id` whatever the CSR
    /// asks (so tests can also make "wrong id" answers).
    pub fn sign_csr(
        &self,
        csr: &[u8],
        id: &SpiffeId,
        validity: Validity,
    ) -> Result<CertifyResponse, rcgen::Error> {
        let request =
            CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr))?;
        let mut params = self.leaf_params(validity);
        params.subject_alt_names = vec![SanType::URI(id.as_str().to_owned().try_into()?)];
        let leaf = params.signed_by(&request.public_key, self.signer())?;
        Ok(CertifyResponse {
            leaf_certificate: leaf.der().to_vec(),
            intermediate_certificates: self.intermediates().iter().map(|c| c.to_vec()).collect(),
            valid_until: Some(timestamp(validity.not_after)),
        })
    }

    fn signer(&self) -> &Issuer<'static, KeyPair> {
        match &self.intermediate {
            Some((_, issuer)) => issuer,
            None => &self.root_issuer,
        }
    }

    fn chain(&self, leaf: CertificateDer<'static>) -> Vec<CertificateDer<'static>> {
        let mut chain = vec![leaf];
        chain.extend(self.intermediates());
        chain
    }

    fn leaf_params(&self, validity: Validity) -> CertificateParams {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        crate::leaf::leaf_params(
            validity.not_before.into(),
            validity.not_after.into(),
            &serial.to_be_bytes(),
        )
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("intermediate", &self.intermediate.is_some())
            .finish_non_exhaustive()
    }
}

fn ca_cert(
    name: &str,
    serial: u64,
    parent: Option<&Issuer<'static, KeyPair>>,
) -> (rcgen::Certificate, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key generation");
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = match parent {
        Some(parent) => params.signed_by(&key, parent),
        None => params.self_signed(&key),
    }
    .expect("signing a test CA certificate");
    (cert, Issuer::new(params, key))
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    prost_types::Timestamp {
        seconds: i64::try_from(secs).unwrap_or(i64::MAX),
        nanos: 0,
    }
}
