//! What weft reads out of a leaf certificate: its SPIFFE id, its validity
//! and its public key.
//!
//! A mesh leaf names its workload in exactly one URI SAN. Two URI SANs would
//! make "who is this" ambiguous, and a policy check that picked the first
//! could be steered by whoever ordered them; so anything but exactly one is
//! refused, not resolved.

use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::id::{IdError, SpiffeId, TrustDomain};

/// The profile of every mesh leaf, shared by weft-identity and the test CA
/// so that tests exercise exactly what production issues: an empty subject,
/// not a CA, digitalSignature, and both serverAuth and clientAuth (a proxy
/// uses one certificate to accept and to connect). Callers add the SAN.
pub fn leaf_params(
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
    serial: &[u8],
) -> rcgen::CertificateParams {
    use rcgen::{ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose};
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params
}

/// Why a certificate does not name a mesh identity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    #[error("certificate is not valid DER X.509: {0}")]
    Parse(String),
    #[error("certificate has no URI SAN, so it names no SPIFFE id")]
    NoUriSan,
    #[error("certificate has {count} URI SANs; a mesh certificate has exactly one")]
    SeveralUriSans { count: usize },
    #[error("certificate's URI SAN {uri:?} is not a mesh SPIFFE id: {source}")]
    BadId {
        uri: String,
        #[source]
        source: IdError,
    },
    #[error("certificate's id {id} is not in the mesh's trust domain {expected}")]
    ForeignTrustDomain { id: SpiffeId, expected: TrustDomain },
}

/// The parts of a leaf certificate the mesh cares about.
#[derive(Clone, Debug)]
pub struct LeafInfo {
    pub id: SpiffeId,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// The raw subject public key (for P-256, the uncompressed point).
    pub public_key: Vec<u8>,
}

/// Reads a leaf's SPIFFE id, validity and key. It checks names only: the
/// signature chain is the verifiers' job.
pub fn inspect_leaf(der: &CertificateDer<'_>) -> Result<LeafInfo, LeafError> {
    let (_, cert) =
        X509Certificate::from_der(der.as_ref()).map_err(|e| LeafError::Parse(e.to_string()))?;
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| LeafError::Parse(e.to_string()))?;
    let uris: Vec<&str> = sans
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .collect();
    let uri = match uris.as_slice() {
        [] => return Err(LeafError::NoUriSan),
        [uri] => *uri,
        _ => return Err(LeafError::SeveralUriSans { count: uris.len() }),
    };
    let id = uri.parse().map_err(|source| LeafError::BadId {
        uri: uri.to_owned(),
        source,
    })?;
    let validity = cert.validity();
    Ok(LeafInfo {
        id,
        not_before: to_system_time(validity.not_before.timestamp()),
        not_after: to_system_time(validity.not_after.timestamp()),
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

/// The SPIFFE id of a leaf, which must belong to `trust_domain`.
pub fn leaf_id(
    der: &CertificateDer<'_>,
    trust_domain: &TrustDomain,
) -> Result<SpiffeId, LeafError> {
    let id = inspect_leaf(der)?.id;
    if id.trust_domain() != trust_domain {
        return Err(LeafError::ForeignTrustDomain {
            id,
            expected: trust_domain.clone(),
        });
    }
    Ok(id)
}

fn to_system_time(unix: i64) -> SystemTime {
    // X.509 dates before 1970 only appear in odd test roots; clamp them.
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0))
}
