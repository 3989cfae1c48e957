//! Trust anchors: the root certificates every mesh certificate must chain to,
//! swappable while listeners keep running.
//!
//! Anchors reach a pod as a mounted ConfigMap that the controller updates on
//! rotation, so a proxy must pick up a new bundle without a restart and
//! without ever being left with none. [`AnchorStore`] is an `ArcSwap`: the
//! verifiers load the current set on every handshake with no lock, and
//! [`watch_anchors`] replaces it only with a bundle that parsed. A broken or
//! empty file keeps the old set (and says so in the log): losing the anchors
//! would cut every mesh connection, while keeping old ones for a while only
//! delays a rotation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

/// Why a trust-anchor bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("reading trust anchors from {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("trust-anchor bundle is not valid PEM: {0}")]
    Pem(String),
    #[error("trust-anchor bundle holds no certificate")]
    Empty,
    #[error("trust anchor number {index} is not a usable certificate: {source}")]
    BadAnchor {
        index: usize,
        #[source]
        source: rustls::Error,
    },
    #[error("building a verifier from the trust anchors failed: {0}")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
}

/// One parsed set of trust anchors, with the verifier built from it once
/// rather than per handshake.
pub struct TrustAnchors {
    roots: Arc<RootCertStore>,
    client_verifier: Arc<dyn ClientCertVerifier>,
    algs: WebPkiSupportedAlgorithms,
    digest: String,
}

impl TrustAnchors {
    /// Parses a PEM bundle of one or more `CERTIFICATE` blocks.
    pub fn from_pem(pem: &[u8]) -> Result<Self, AnchorError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AnchorError::Pem(e.to_string()))?;
        Self::from_der(certs)
    }

    /// Builds the set from DER certificates.
    pub fn from_der(
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Result<Self, AnchorError> {
        let certs: Vec<_> = certs.into_iter().collect();
        let digest = digest_of(&certs);
        let mut roots = RootCertStore::empty();
        for (index, cert) in certs.into_iter().enumerate() {
            // Refuse the whole bundle for one bad anchor: silently dropping it
            // would break exactly the peers that anchor was meant for.
            roots
                .add(cert)
                .map_err(|source| AnchorError::BadAnchor { index, source })?;
        }
        if roots.is_empty() {
            return Err(AnchorError::Empty);
        }
        let roots = Arc::new(roots);
        let provider = crate::provider();
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(AnchorError::Verifier)?;
        Ok(Self {
            roots,
            client_verifier,
            algs: provider.signature_verification_algorithms,
            digest,
        })
    }

    /// `sha256:` and the hex SHA-256 of the set: the same for the same
    /// certificates in any order or PEM formatting, so a proxy's anchors
    /// can be compared with the control plane's bundle (`weft check`).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Number of anchors in the set.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// Never true for a set that was built: an empty bundle is refused.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Checks that `end_entity` chains to these anchors and may act as a
    /// TLS server, at `now`. No names are checked here.
    pub fn verify_server_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algs.all,
        )
    }

    /// Checks that `end_entity` chains to these anchors and may act as a
    /// TLS client, at `now`. No names are checked here.
    pub fn verify_client_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        self.client_verifier
            .verify_client_cert(end_entity, intermediates, now)
            .map(|_| ())
    }

    pub(crate) fn algs(&self) -> &WebPkiSupportedAlgorithms {
        &self.algs
    }
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("len", &self.len())
            .finish()
    }
}

/// The current trust anchors, shared by every config built from it. Cloning
/// shares the same slot.
#[derive(Clone, Debug)]
pub struct AnchorStore(Arc<ArcSwap<TrustAnchors>>);

impl AnchorStore {
    pub fn new(anchors: TrustAnchors) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(anchors)))
    }

    /// Reads the bundle at `path` once (at start, before serving).
    pub fn from_file(path: &Path) -> Result<Self, AnchorError> {
        let pem = std::fs::read(path).map_err(|source| AnchorError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::new(TrustAnchors::from_pem(&pem)?))
    }

    /// The current set; the next handshake sees whatever was stored last.
    pub fn current(&self) -> Arc<TrustAnchors> {
        self.0.load_full()
    }

    /// Replaces the set for every handshake that starts from now on.
    pub fn replace(&self, anchors: TrustAnchors) {
        self.0.store(Arc::new(anchors));
    }
}

/// Polls the bundle at `path` every `interval` and swaps `store` when its
/// content changes. Runs until dropped; spawn it.
///
/// Polling the content rather than watching inotify events or mtimes is
/// deliberate: Kubernetes updates a ConfigMap volume by swapping a `..data`
/// symlink, which inotify on the file itself misses and which may keep the
/// old mtime, while reading through the path always sees the live bundle.
pub async fn watch_anchors(path: PathBuf, interval: Duration, store: AnchorStore) {
    watch_anchors_pem(path, interval, store, |_| {}).await
}

/// [`watch_anchors`], also handing each bundle it stores, as PEM, to
/// `stored` (weft-identity serves it to proxies).
pub async fn watch_anchors_pem(
    path: PathBuf,
    interval: Duration,
    store: AnchorStore,
    mut stored: impl FnMut(&[u8]) + Send,
) {
    // The bundle we last acted on (stored or refused), so a bad file is
    // reported once, not every poll, and a good one is not re-parsed. It
    // starts empty: the file may have changed since `store` was filled, so
    // the first (immediate) tick loads it again.
    let mut last: Option<Vec<u8>> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let pem = match tokio::fs::read(&path).await {
            Ok(pem) => pem,
            Err(error) => {
                // During a symlink swap the path can briefly be missing.
                tracing::warn!(path = %path.display(), %error, "cannot read trust anchors; keeping the current set");
                continue;
            }
        };
        if last.as_deref() == Some(pem.as_slice()) {
            continue;
        }
        match TrustAnchors::from_pem(&pem) {
            Ok(anchors) => {
                if last.is_some() {
                    tracing::info!(path = %path.display(), anchors = anchors.len(), "trust anchors rotated");
                }
                store.replace(anchors);
                stored(&pem);
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "refusing new trust anchors; keeping the current set");
            }
        }
        last = Some(pem);
    }
}

/// The digest of a PEM bundle as [`TrustAnchors::digest`] computes it, for
/// a bundle read from the cluster rather than loaded for handshakes.
pub fn anchors_digest(pem: &[u8]) -> Result<String, AnchorError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AnchorError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(AnchorError::Empty);
    }
    Ok(digest_of(&certs))
}

/// Sorted and deduplicated DER, each length-prefixed, hashed.
fn digest_of(certs: &[CertificateDer<'_>]) -> String {
    let mut ders: Vec<&[u8]> = certs.iter().map(|c| c.as_ref()).collect();
    ders.sort_unstable();
    ders.dedup();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for der in ders {
        ctx.update(&(der.len() as u64).to_be_bytes());
        ctx.update(der);
    }
    let hex: String = ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}
