//! Serving certificates that renew themselves.
//!
//! The webhook's and the metrics API's certificates are signed by a CA the
//! chart keeps next to them in the same Secret, and the API server trusts
//! that CA (the `caBundle`), not the certificate. So when the certificate
//! nears its end, a fresh one signed by the same CA, for the same names,
//! works at once, without anyone running `helm upgrade`: the component signs
//! it in memory and serves it. An expired webhook certificate would
//! otherwise let pods start without the mesh (its failure policy is
//! Ignore), with nothing but an API server log line to say so.

use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};
use std::{
    path::Path,
    time::{Duration, SystemTime},
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::serving::ServingError;

/// How a serving certificate is renewed: by whom, when, for how long.
pub struct Renewal {
    ca: rcgen::Issuer<'static, KeyPair>,
    ca_not_after: OffsetDateTime,
    /// Renew once less than this is left.
    pub renew_before: Duration,
    /// Lifetime of a renewed certificate (never past the CA's own end).
    pub validity: Duration,
}

impl std::fmt::Debug for Renewal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renewal")
            .field("ca_not_after", &self.ca_not_after)
            .field("renew_before", &self.renew_before)
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl Renewal {
    /// The CA from `ca.crt`/`ca.key`-style PEM files.
    pub fn load(
        ca_cert: &Path,
        ca_key: &Path,
        renew_before: Duration,
        validity: Duration,
    ) -> Result<Self, ServingError> {
        let bad = |reason: String| ServingError::Ca {
            path: ca_cert.into(),
            reason,
        };
        let cert = CertificateDer::from_pem_file(ca_cert).map_err(|e| bad(e.to_string()))?;
        let key_pem = std::fs::read_to_string(ca_key).map_err(|e| ServingError::Ca {
            path: ca_key.into(),
            reason: e.to_string(),
        })?;
        let key = crate::ca_key_from_pem(&key_pem).map_err(|reason| ServingError::Ca {
            path: ca_key.into(),
            reason,
        })?;
        let (_, x509) = X509Certificate::from_der(&cert).map_err(|e| bad(e.to_string()))?;
        let ca_not_after = x509.validity().not_after.to_datetime();
        let ca = rcgen::Issuer::from_ca_cert_der(&cert, key).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            ca,
            ca_not_after,
            renew_before,
            validity,
        })
    }

    /// Whether `ck`'s certificate has less than `renew_before` left at `now`.
    pub fn due(&self, ck: &CertifiedKey, now: SystemTime) -> bool {
        let Some(until) = ck.cert.first().and_then(not_after) else {
            return true;
        };
        until
            .duration_since(now)
            .map_or(true, |left| left < self.renew_before)
    }

    /// A certificate for the same names as `ck`'s, with a new key, signed by
    /// the CA and valid from `now`.
    pub fn renew(&self, ck: &CertifiedKey, now: SystemTime) -> Result<CertifiedKey, String> {
        let leaf = ck.cert.first().ok_or("no certificate to renew")?;
        let (_, x509) = X509Certificate::from_der(leaf).map_err(|e| e.to_string())?;
        let mut params = CertificateParams::default();
        if let Some(cn) = x509.subject().iter_common_name().next() {
            let cn = cn.as_str().map_err(|e| e.to_string())?;
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        let names = x509
            .subject_alternative_name()
            .map_err(|e| e.to_string())?
            .map(|ext| ext.value.general_names.clone())
            .unwrap_or_default();
        for n in names {
            if let GeneralName::DNSName(d) = n {
                params.subject_alt_names.push(SanType::DnsName(
                    d.try_into().map_err(|e: rcgen::Error| e.to_string())?,
                ));
            }
        }
        if params.subject_alt_names.is_empty() {
            return Err("the certificate names no DNS name to renew it for".into());
        }
        let now = OffsetDateTime::from(now);
        if self.ca_not_after <= now {
            return Err(format!("the CA expired at {}", self.ca_not_after));
        }
        params.not_before = now - Duration::from_secs(60);
        params.not_after = (now + self.validity).min(self.ca_not_after);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let cert = params
            .signed_by(&key, &self.ca)
            .map_err(|e| e.to_string())?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = crate::provider()
            .key_provider
            .load_private_key(der)
            .map_err(|e| e.to_string())?;
        Ok(CertifiedKey::new(vec![cert.der().clone()], signing))
    }
}

fn not_after(der: &CertificateDer<'_>) -> Option<SystemTime> {
    let (_, x509) = X509Certificate::from_der(der).ok()?;
    let secs = x509.validity().not_after.timestamp();
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}
