//! A throwaway PKI the service can generate for itself, for evaluation only.
//!
//! A real installation brings its trust anchors and issuer (from the Helm
//! values or a cert-manager Secret). For a first look, `weft-identity
//! --generate-evaluation-pki` writes a fresh root and issuer where the flags
//! point, when none exist yet. The root's key is never written anywhere: an
//! evaluation mesh cannot rotate its issuer and must be reinstalled with a
//! real PKI, which is why the service says so at every start.

use crate::run::IssuerFiles;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
use std::{io::Write as _, path::Path, time::Duration};
use time::OffsetDateTime;
use weft_tls::TrustDomain;

/// Lifetime of a generated root.
pub const ROOT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86400);
/// Lifetime of a generated issuer.
pub const ISSUER_LIFETIME: Duration = Duration::from_secs(365 * 86400);

/// A root and the issuer it signed, as PEM.
pub struct GeneratedPki {
    pub root_pem: String,
    pub issuer_pem: String,
    pub issuer_key_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error("generating the evaluation PKI: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("some but not all of the issuer files exist ({present}); refusing to overwrite them")]
    Partial { present: String },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The profile of a CA certificate: unconstrained, signing certificates only.
pub fn ca_params(common_name: &str, not_after: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    // Backdated an hour so that nodes whose clocks lag accept it at once.
    p.not_before = OffsetDateTime::now_utc() - Duration::from_secs(3600);
    p.not_after = not_after;
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

/// A fresh root (its key dropped on return) and an issuer it signed.
pub fn generate(
    trust_domain: &TrustDomain,
    issuer_not_after: OffsetDateTime,
) -> Result<GeneratedPki, rcgen::Error> {
    let now = OffsetDateTime::now_utc();
    let root_key = KeyPair::generate()?;
    let root_params = ca_params(
        &format!("{EVALUATION_ROOT_CN} for {trust_domain}"),
        now + ROOT_LIFETIME,
    );
    let root = root_params.self_signed(&root_key)?;
    let root_issuer = rcgen::Issuer::new(root_params, &root_key);
    let key = KeyPair::generate()?;
    let issuer = ca_params(
        &format!("weft evaluation issuer for {trust_domain}"),
        issuer_not_after,
    )
    .signed_by(&key, &root_issuer)?;
    Ok(GeneratedPki {
        root_pem: root.pem(),
        issuer_pem: issuer.pem(),
        issuer_key_pem: key.serialize_pem(),
    })
}

/// Writes an evaluation PKI to `files` when none of them exists. Returns
/// whether it did; refuses when only some exist, since that is a broken
/// mount rather than a first start.
pub fn ensure(files: &IssuerFiles, trust_domain: &TrustDomain) -> Result<bool, EvaluationError> {
    let paths = [&files.anchors, &files.cert, &files.key];
    let present: Vec<String> = paths
        .iter()
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if present.len() == paths.len() {
        return Ok(false);
    }
    if !present.is_empty() {
        return Err(EvaluationError::Partial {
            present: present.join(", "),
        });
    }
    let pki = generate(trust_domain, OffsetDateTime::now_utc() + ISSUER_LIFETIME)?;
    write(&files.anchors, &pki.root_pem, 0o644)?;
    write(&files.cert, &pki.issuer_pem, 0o644)?;
    write(&files.key, &pki.issuer_key_pem, 0o600)?;
    Ok(true)
}

/// Whether the bundle at `path` holds a root this module generated, so the
/// warning repeats on every start, not only the first.
pub fn is_evaluation_bundle(path: &Path) -> bool {
    use rustls_pki_types::{CertificateDer, pem::PemObject as _};
    std::fs::read(path).is_ok_and(|pem| {
        CertificateDer::pem_slice_iter(&pem)
            .flatten()
            .any(|der| is_evaluation_root(&der))
    })
}

/// Whether `der` is a root this module generated (by its subject name).
pub fn is_evaluation_root(der: &[u8]) -> bool {
    use x509_parser::prelude::{FromDer, X509Certificate};
    X509Certificate::from_der(der).is_ok_and(|(_, c)| {
        c.subject()
            .iter_common_name()
            .any(|cn| cn.as_str().is_ok_and(|s| s.starts_with(EVALUATION_ROOT_CN)))
    })
}

const EVALUATION_ROOT_CN: &str = "weft evaluation root";

fn write(path: &Path, contents: &str, mode: u32) -> Result<(), EvaluationError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let err = |source| EvaluationError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> IssuerFiles {
        IssuerFiles {
            anchors: dir.join("ca-bundle.pem"),
            cert: dir.join("issuer/tls.crt"),
            key: dir.join("issuer/tls.key"),
        }
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "weft-eval-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn generates_a_loadable_issuer_once_and_keeps_the_key_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = temp_dir("once");
        let f = files(&dir);
        let td: TrustDomain = "cluster.local".parse().unwrap();
        assert!(ensure(&f, &td).unwrap());
        let first = std::fs::read(&f.cert).unwrap();
        f.load().expect("the generated issuer loads and chains");
        assert!(is_evaluation_bundle(&f.anchors));
        let mode = std::fs::metadata(&f.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        assert!(
            !ensure(&f, &td).unwrap(),
            "a second start must keep the PKI"
        );
        assert_eq!(std::fs::read(&f.cert).unwrap(), first);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_to_complete_a_partial_set() {
        let dir = temp_dir("partial");
        let f = files(&dir);
        std::fs::write(&f.anchors, "not a bundle").unwrap();
        let td: TrustDomain = "cluster.local".parse().unwrap();
        let err = ensure(&f, &td).unwrap_err();
        assert!(matches!(err, EvaluationError::Partial { .. }), "{err}");
        assert!(!f.cert.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
