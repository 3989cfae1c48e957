//! The issuer and the signing of workload certificates.
//!
//! Every check a CSR must pass before it is signed lives here, in pure
//! functions of the request and the clock, so each rejection path is a plain
//! unit test: one URI SAN equal to the requested SPIFFE id and no other name,
//! a P-256 key, a valid signature. The Certify service (token review, gRPC)
//! sits on top.

use rcgen::{CertificateSigningRequestParams, KeyPair, SanType};
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer, pem::PemObject};
use std::time::Duration;
use time::OffsetDateTime;
use weft_api::identity::CertifyResponse;
use weft_tls::SpiffeId;
use x509_parser::prelude::{FromDer, X509Certificate};

/// How far a leaf's notBefore is set in the past, so that peers whose clocks
/// run a little behind accept it at once.
pub const BACKDATE: Duration = Duration::from_secs(60);

/// Default lifetime of a workload certificate.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Why an issuer cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("the issuer certificate cannot be parsed: {0}")]
    Cert(String),
    #[error("the issuer key cannot be parsed: {0}")]
    Key(String),
    #[error("the issuer key does not belong to the issuer certificate")]
    KeyMismatch,
    #[error("the issuer certificate is not a CA (basicConstraints CA:TRUE is missing)")]
    NotCa,
    #[error("the issuer certificate expired at {0}")]
    Expired(OffsetDateTime),
    #[error("the trust anchors cannot be parsed: {0}")]
    Anchors(String),
    #[error("the issuer certificate is not signed by any of the {0} trust anchors")]
    Unchained(usize),
}

/// Why a CSR is refused. Each maps to gRPC INVALID_ARGUMENT (or
/// UNAVAILABLE for an expired issuer) with this message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the CSR cannot be parsed or its signature is invalid: {0}")]
    InvalidCsr(String),
    #[error("the CSR's key must be ECDSA P-256")]
    NotP256,
    #[error("the CSR must name exactly one URI SAN (the SPIFFE id) and nothing else; it names {0}")]
    Names(String),
    #[error("the CSR asks for {found}, but the caller is {expected}")]
    WrongId { expected: String, found: String },
    #[error("the issuer has expired; no certificate can be issued")]
    IssuerExpired,
    #[error(
        "the issuer expires at {not_after}, in less than {floor:?}: certificates would be too short-lived to be worth renewing; rotate the issuer (docs/identity.md)"
    )]
    IssuerExpiring {
        not_after: OffsetDateTime,
        floor: Duration,
    },
}

/// The shortest certificate worth issuing for a configured `lifetime`: a
/// 24th of it, and never under five minutes. Leaves are capped at the
/// issuer's expiry, so as it nears they shrink and every proxy would renew
/// ever sooner, the whole mesh in step, ending in a renewal every few
/// seconds; below this floor the issuer refuses instead, and proxies back
/// off (up to a minute between attempts) while their current certificates
/// run out.
pub fn shortest_leaf(lifetime: Duration) -> Duration {
    (lifetime / 24).max(Duration::from_secs(300))
}

fn issuer_key(key_pem: &str) -> Result<KeyPair, IssuerError> {
    weft_tls::ca_key_from_pem(key_pem).map_err(IssuerError::Key)
}

/// The intermediate that signs workload certificates.
pub struct Issuer {
    signer: rcgen::Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    not_after: OffsetDateTime,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Loads an issuer (`tls.crt`/`tls.key` of a kubernetes.io/tls Secret)
    /// and checks that it is a CA, unexpired at `now`, whose key matches, and
    /// that it is one of the anchors or is signed by one.
    pub fn from_pem(
        anchors_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &str,
        now: OffsetDateTime,
    ) -> Result<Self, IssuerError> {
        let cert = CertificateDer::from_pem_slice(cert_pem)
            .map_err(|e| IssuerError::Cert(e.to_string()))?;
        let (_, x509) =
            X509Certificate::from_der(&cert).map_err(|e| IssuerError::Cert(e.to_string()))?;
        let is_ca = x509
            .basic_constraints()
            .map_err(|e| IssuerError::Cert(e.to_string()))?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(IssuerError::NotCa);
        }
        let not_after = x509.validity().not_after.to_datetime();
        if not_after <= now {
            return Err(IssuerError::Expired(not_after));
        }
        let key = issuer_key(key_pem)?;
        if key.public_key_raw() != x509.public_key().subject_public_key.data.as_ref() {
            return Err(IssuerError::KeyMismatch);
        }
        let anchors: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(anchors_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| IssuerError::Anchors(e.to_string()))?;
        if anchors.is_empty() {
            return Err(IssuerError::Anchors("no certificate in the bundle".into()));
        }
        let chained = anchors.iter().any(|a| {
            a.as_ref() == cert.as_ref()
                || X509Certificate::from_der(a).is_ok_and(|(_, anchor)| {
                    x509.verify_signature(Some(anchor.public_key())).is_ok()
                })
        });
        if !chained {
            return Err(IssuerError::Unchained(anchors.len()));
        }
        let signer = rcgen::Issuer::from_ca_cert_der(&cert, key)
            .map_err(|e| IssuerError::Cert(e.to_string()))?;
        Ok(Self {
            signer,
            cert: cert.into_owned(),
            not_after,
        })
    }

    /// Whether a certificate of `lifetime` can be issued at `now`: the
    /// issuer has not expired and has at least [`shortest_leaf`] left.
    pub fn can_sign(&self, now: OffsetDateTime, lifetime: Duration) -> Result<(), SignError> {
        if self.not_after <= now {
            return Err(SignError::IssuerExpired);
        }
        let floor = shortest_leaf(lifetime);
        if self.not_after - now < floor {
            return Err(SignError::IssuerExpiring {
                not_after: self.not_after,
                floor,
            });
        }
        Ok(())
    }

    /// When the issuer itself expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Signs `csr` for `caller` (the identity the token proved), valid from
    /// `now - BACKDATE` for `lifetime`, but never past the issuer's expiry.
    pub fn sign(
        &self,
        csr: &[u8],
        caller: &SpiffeId,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<CertifyResponse, SignError> {
        self.can_sign(now, lifetime)?;
        self.issue(csr, caller, now, lifetime)
    }

    /// [`Self::sign`] without the floor of [`shortest_leaf`]: weft-identity's
    /// own serving certificate, which must exist for as long as the issuer
    /// does (one per replica, so no storm), so that a service restarted in
    /// the issuer's last hour still serves and can load the next issuer.
    pub fn sign_own(
        &self,
        csr: &[u8],
        caller: &SpiffeId,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<CertifyResponse, SignError> {
        if self.not_after <= now {
            return Err(SignError::IssuerExpired);
        }
        self.issue(csr, caller, now, lifetime)
    }

    fn issue(
        &self,
        csr: &[u8],
        caller: &SpiffeId,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<CertifyResponse, SignError> {
        let request =
            CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr))
                .map_err(|e| SignError::InvalidCsr(e.to_string()))?;
        if request.public_key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(SignError::NotP256);
        }
        match request.params.subject_alt_names.as_slice() {
            [SanType::URI(uri)] if uri.as_str() == caller.as_str() => {}
            [SanType::URI(uri)] => {
                return Err(SignError::WrongId {
                    expected: caller.to_string(),
                    found: uri.as_str().to_string(),
                });
            }
            other => return Err(SignError::Names(describe(other))),
        }

        let mut params = weft_tls::leaf::leaf_params(
            now - BACKDATE,
            (now + lifetime).min(self.not_after),
            &random_serial(),
        );
        params.subject_alt_names = vec![SanType::URI(
            caller
                .as_str()
                .to_owned()
                .try_into()
                .map_err(|e: rcgen::Error| SignError::InvalidCsr(e.to_string()))?,
        )];
        let leaf = params
            .signed_by(&request.public_key, &self.signer)
            .map_err(|e| SignError::InvalidCsr(e.to_string()))?;
        Ok(CertifyResponse {
            leaf_certificate: leaf.der().to_vec(),
            intermediate_certificates: vec![self.cert.to_vec()],
            valid_until: Some(prost_types::Timestamp {
                seconds: params.not_after.unix_timestamp(),
                nanos: 0,
            }),
        })
    }
}

/// A positive 16-byte serial (RFC 5280 allows up to 20 octets; the top bit
/// is cleared so it never reads as negative).
fn random_serial() -> [u8; 16] {
    let mut s: [u8; 16] = rand::random();
    s[0] &= 0x7f;
    s
}

fn describe(sans: &[SanType]) -> String {
    if sans.is_empty() {
        return "none".into();
    }
    sans.iter()
        .map(|s| match s {
            SanType::URI(u) => format!("URI {}", u.as_str()),
            SanType::DnsName(d) => format!("DNS {}", d.as_str()),
            SanType::IpAddress(ip) => format!("IP {ip}"),
            SanType::Rfc822Name(e) => format!("email {}", e.as_str()),
            _ => "another name".into(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
