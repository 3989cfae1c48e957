//! The workload's current certificate and key, swappable under live
//! listeners.
//!
//! Certificates live for hours, listeners for the life of the pod. Rather
//! than rebuild rustls configs on every renewal (and hand every listener a
//! new one), the configs hold a resolver that reads the current
//! [`Credentials`] from an `ArcSwap` on each handshake: lock-free, and a
//! renewal is visible to the very next handshake.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::anchors::TrustAnchors;
use crate::csr::WorkloadKey;
use crate::id::SpiffeId;

/// A certificate chain for our SPIFFE id, with the key it was issued for.
#[derive(Debug)]
pub struct Credentials {
    id: SpiffeId,
    certified_key: Arc<CertifiedKey>,
    valid_from: SystemTime,
    valid_until: SystemTime,
}

impl Credentials {
    /// Pairs `chain` (leaf first, then intermediates) with `key`. The caller
    /// has checked that the leaf names `id` and was issued for `key`.
    pub fn new(
        id: SpiffeId,
        key: &WorkloadKey,
        chain: Vec<CertificateDer<'static>>,
        valid_from: SystemTime,
        valid_until: SystemTime,
    ) -> Self {
        Self {
            id,
            certified_key: Arc::new(CertifiedKey::new(chain, key.signing_key())),
            valid_from,
            valid_until,
        }
    }

    pub fn id(&self) -> &SpiffeId {
        &self.id
    }

    /// The chain and signing key, as rustls presents them.
    pub fn certified_key(&self) -> &Arc<CertifiedKey> {
        &self.certified_key
    }

    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.certified_key.cert[0]
    }

    pub fn valid_from(&self) -> SystemTime {
        self.valid_from
    }

    /// The leaf's notAfter.
    pub fn valid_until(&self) -> SystemTime {
        self.valid_until
    }

    /// Whether this certificate is valid now and chains to `anchors`: what
    /// peers holding those anchors will accept.
    pub fn chains_to(&self, anchors: &TrustAnchors) -> bool {
        let chain = &self.certified_key.cert;
        chain.split_first().is_some_and(|(leaf, rest)| {
            anchors
                .verify_client_chain(leaf, rest, UnixTime::now())
                .is_ok()
        })
    }
}

/// The current credentials, or none before the first certificate arrives.
/// Cloning shares the slot.
#[derive(Clone, Debug, Default)]
pub struct CredStore(Arc<ArcSwapOption<Credentials>>);

impl CredStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn current(&self) -> Option<Arc<Credentials>> {
        self.0.load_full()
    }

    /// Makes `creds` what every new handshake presents.
    pub fn publish(&self, creds: Arc<Credentials>) {
        self.0.store(Some(creds));
    }

    /// Stops presenting a certificate (it expired: peers would refuse it).
    pub fn clear(&self) {
        self.0.store(None);
    }

    pub(crate) fn server_resolver(
        &self,
        require_alpn: Option<&'static [u8]>,
    ) -> Arc<ServerResolver> {
        Arc::new(ServerResolver {
            store: self.clone(),
            require_alpn,
        })
    }

    pub(crate) fn client_resolver(&self) -> Arc<ClientResolver> {
        Arc::new(ClientResolver {
            store: self.clone(),
        })
    }
}

/// Presents the current certificate to clients.
#[derive(Debug)]
pub(crate) struct ServerResolver {
    store: CredStore,
    /// rustls refuses a client whose ALPN list lacks ours
    /// (`NoApplicationProtocol`), but serves a client that sends no ALPN
    /// extension at all. The mesh listener must not take such a handshake
    /// for mesh traffic, so it is refused here, the one place that sees the
    /// ClientHello before a certificate is sent.
    require_alpn: Option<&'static [u8]>,
}

impl ResolvesServerCert for ServerResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(required) = self.require_alpn
            && hello.alpn().is_none()
        {
            tracing::debug!(
                alpn = %String::from_utf8_lossy(required),
                "refusing a handshake without ALPN on a listener that requires it"
            );
            return None;
        }
        let creds = self.store.current();
        if creds.is_none() {
            tracing::debug!("refusing a handshake: no certificate yet");
        }
        creds.map(|c| c.certified_key.clone())
    }
}

/// Presents the current certificate when a server asks for one.
#[derive(Debug)]
pub(crate) struct ClientResolver {
    store: CredStore,
}

impl ResolvesClientCert for ClientResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        // Hints are ignored: the mesh has one issuer hierarchy, and the
        // server may legitimately send none.
        self.store.current().map(|c| c.certified_key.clone())
    }

    fn has_certs(&self) -> bool {
        self.store.current().is_some()
    }
}
