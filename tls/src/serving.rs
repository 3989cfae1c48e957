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

pub use crate::renewal::Renewal;

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
    #[error("the CA in {path} cannot renew the certificate: {reason}")]
    Ca { path: PathBuf, reason: String },
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
    renewal: Option<Renewal>,
}

impl ServingCert {
    /// Loads `tls.crt` and `tls.key`-style PEM files.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, ServingError> {
        let ck = load(cert, key)?;
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(ck),
            renewal: None,
        }))
    }

    /// [`Self::load`], then re-reads the files every `every` in a task of
    /// its own ([`watch_serving_cert`]) so a rotated pair is served
    /// without a restart. Needs a Tokio runtime.
    pub fn load_watched(
        cert: &Path,
        key: &Path,
        every: Duration,
    ) -> Result<Arc<Self>, ServingError> {
        let store = Self::load(cert, key)?;
        tokio::spawn(watch_serving_cert(
            cert.to_path_buf(),
            key.to_path_buf(),
            every,
            store.clone(),
        ));
        Ok(store)
    }

    /// [`Self::load`], and from then on the certificate is renewed with
    /// `renewal` whenever it nears its end (at once, if it already has):
    /// at start, when the files bring one that has, and on each
    /// [`Self::keep_renewed`] tick.
    pub fn load_renewing(
        cert: &Path,
        key: &Path,
        renewal: Renewal,
    ) -> Result<Arc<Self>, ServingError> {
        let ck = load(cert, key)?;
        let store = Arc::new(Self {
            current: ArcSwap::from_pointee(ck),
            renewal: Some(renewal),
        });
        store.renew_if_due();
        Ok(store)
    }

    /// Checks every `every` whether the certificate is due for renewal.
    pub async fn keep_renewed(self: Arc<Self>, every: Duration) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.renew_if_due();
        }
    }

    /// Renews the certificate in memory when it is due; a failure is logged
    /// and the current certificate kept.
    pub fn renew_if_due(&self) {
        let Some(r) = &self.renewal else {
            return;
        };
        let current = self.current.load_full();
        let now = std::time::SystemTime::now();
        if !r.due(&current, now) {
            return;
        }
        match r.renew(&current, now) {
            Ok(fresh) => {
                tracing::info!(
                    renew_before = ?r.renew_before,
                    validity = ?r.validity,
                    "renewed the serving certificate in memory, signed by its CA; `helm upgrade` writes a fresh one to the Secret"
                );
                self.current.store(Arc::new(fresh));
            }
            Err(error) => {
                tracing::error!(%error, "cannot renew the serving certificate; it is about to expire or has");
            }
        }
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
        self.renew_if_due();
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

    /// A CA, and a certificate it signed for the webhook's name that
    /// expired yesterday: the files of a Secret nobody upgraded in time.
    fn expired_pair_and_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf, Vec<u8>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa};
        let day = Duration::from_secs(86_400);
        let now = time::OffsetDateTime::now_utc();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.not_before = now - day;
        ca.not_after = now + day * 3650;
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec![NAME.to_string()]).unwrap();
        leaf.not_before = now - day * 10;
        leaf.not_after = now - day;
        let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let paths = ["tls.crt", "tls.key", "ca.crt", "ca.key"].map(|f| dir.join(f));
        std::fs::write(&paths[0], leaf.pem()).unwrap();
        std::fs::write(&paths[1], leaf_key.serialize_pem()).unwrap();
        std::fs::write(&paths[2], ca_cert.pem()).unwrap();
        std::fs::write(&paths[3], issuer.key().serialize_pem()).unwrap();
        let [c, k, cc, ck] = paths;
        (c, k, cc, ck, ca_cert.der().to_vec())
    }

    const NAME: &str = "weft-injector.weft-system.svc";

    /// A TLS handshake as the API server makes it: trusting the CA only.
    async fn handshake_trusting(store: &Arc<ServingCert>, ca: &[u8]) -> Result<(), String> {
        let server = tokio_rustls::TlsAcceptor::from(Arc::new(store.server_config(&[])));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.to_vec())).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = tokio_rustls::TlsConnector::from(Arc::new(client));
        let (a, b) = tokio::io::duplex(64 * 1024);
        let name = rustls_pki_types::ServerName::try_from(NAME).unwrap();
        let (c, s) = tokio::join!(client.connect(name, a), server.accept(b));
        let _ = s;
        c.map(drop).map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn an_expired_certificate_is_renewed_with_its_ca_at_start() {
        let dir = tmpdir("renew");
        let (c, k, ca_c, ca_k, ca) = expired_pair_and_ca(&dir);
        let day = Duration::from_secs(86_400);

        // As it was: the expired certificate is served, and refused.
        let plain = ServingCert::load(&c, &k).unwrap();
        let err = handshake_trusting(&plain, &ca).await.unwrap_err();
        assert!(err.to_lowercase().contains("expired"), "{err}");

        let renewal = Renewal::load(&ca_c, &ca_k, day * 30, day * 365).unwrap();
        let store = ServingCert::load_renewing(&c, &k, renewal).unwrap();
        handshake_trusting(&store, &ca).await.unwrap();
        // The files bring the expired one again (the watcher's first read):
        // it is renewed again at once.
        store.replace(load(&c, &k).unwrap());
        handshake_trusting(&store, &ca).await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
