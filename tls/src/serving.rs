//! Serving certificates from files (a mounted `kubernetes.io/tls` Secret):
//! the webhook's and the metrics APIService's. Unlike mesh certificates they
//! carry DNS names for the API server to check, so no SPIFFE logic applies;
//! what they share with the mesh is hot rotation without a restart.

use arc_swap::ArcSwap;
use rustls::{
    ServerConfig,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    #[error("reading certificates from {path}: {reason}")]
    Certs { path: PathBuf, reason: String },
    #[error("the client CA bundle: {reason}")]
    ClientCa { reason: String },
    #[error("{path} holds no certificate")]
    NoCert { path: PathBuf },
    #[error("reading the private key from {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the key in {key} does not match the certificate in {cert}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// The current serving certificate, swapped atomically on rotation.
#[derive(Debug)]
pub struct ServingCert {
    current: ArcSwap<CertifiedKey>,
}

impl ServingCert {
    /// Loads `tls.crt` and `tls.key`-style PEM files.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, ServingError> {
        let ck = load(cert, key)?;
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(ck),
        }))
    }

    /// A TLS 1.2/1.3 server config presenting the current certificate (the
    /// API server may speak either) with the given ALPN protocols.
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> ServerConfig {
        let mut cfg = ServerConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg
    }

    /// The same, but every client must present a certificate chaining to
    /// `client_ca` (a PEM bundle): for an extension API server, the
    /// kube-apiserver's front-proxy CA. Read the client's name with
    /// [`common_name`].
    pub fn server_config_verifying_clients(
        self: &Arc<Self>,
        client_ca: &[u8],
        alpn: &[&[u8]],
    ) -> Result<ServerConfig, ServingError> {
        let bad = |reason: String| ServingError::ClientCa { reason };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(client_ca) {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(bad("no certificate in the bundle".into()));
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            crate::provider(),
        )
        .build()
        .map_err(|e| bad(e.to_string()))?;
        let mut cfg = ServerConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.clone());
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(cfg)
    }

    fn replace(&self, ck: CertifiedKey) {
        self.current.store(Arc::new(ck));
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, ServingError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| ServingError::Certs {
            path: cert.into(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ServingError::NoCert { path: cert.into() });
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| ServingError::Key {
        path: key.into(),
        reason: e.to_string(),
    })?;
    let signing = crate::provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| ServingError::Key {
            path: key.into(),
            reason: e.to_string(),
        })?;
    let ck = CertifiedKey::new(certs, signing);
    ck.keys_match().map_err(|e| ServingError::Mismatch {
        cert: cert.into(),
        key: key.into(),
        reason: e.to_string(),
    })?;
    Ok(ck)
}

/// The subject's common name of a (verified) client certificate.
pub fn common_name(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// Polls the files and swaps the certificate when they change; a bad or
/// half-written pair is refused and the current certificate kept.
pub async fn watch_serving_cert(
    cert: PathBuf,
    key: PathBuf,
    interval: Duration,
    store: Arc<ServingCert>,
) {
    let mut last: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (Ok(c), Ok(k)) = (tokio::fs::read(&cert).await, tokio::fs::read(&key).await) else {
            tracing::warn!(cert = %cert.display(), "cannot read the serving certificate; keeping the current one");
            continue;
        };
        if last.as_ref().is_some_and(|(lc, lk)| *lc == c && *lk == k) {
            continue;
        }
        match load(&cert, &key) {
            Ok(ck) => {
                if last.is_some() {
                    tracing::info!(cert = %cert.display(), "serving certificate rotated");
                }
                store.replace(ck);
            }
            Err(error) => {
                tracing::error!(%error, "refusing the new serving certificate; keeping the current one");
            }
        }
        last = Some((c, k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = (dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k, cert.der().to_vec())
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("weft-serving-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[tokio::test]
    async fn rotation_is_picked_up_and_garbage_refused() {
        let dir = tmpdir("rotate");
        let (c, k, first) = write_pair(&dir, "one.example");
        let store = ServingCert::load(&c, &k).unwrap();
        assert_eq!(store.current.load().cert[0].as_ref(), first.as_slice());
        let task = tokio::spawn(watch_serving_cert(
            c.clone(),
            k.clone(),
            Duration::from_millis(20),
            store.clone(),
        ));

        let (_, _, second) = write_pair(&dir, "two.example");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while store.current.load().cert[0].as_ref() != second.as_slice() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "rotation not picked up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::fs::write(&k, b"garbage").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            store.current.load().cert[0].as_ref(),
            second.as_slice(),
            "kept on garbage"
        );
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_mismatched_pair_is_refused() {
        let dir = tmpdir("mismatch");
        let (c, _, _) = write_pair(&dir, "a.example");
        let other = dir.join("other.key");
        std::fs::write(&other, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        assert!(matches!(
            ServingCert::load(&c, &other),
            Err(ServingError::Mismatch { .. })
        ));
        assert!(matches!(
            ServingCert::load(&dir.join("nope"), &other),
            Err(ServingError::Certs { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
