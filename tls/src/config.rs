//! The rustls configs the mesh uses, built once and valid for the life of a
//! listener or connector.
//!
//! Every config reads the current certificate and anchors per handshake (see
//! [`crate::creds`], [`crate::anchors`]), so none needs rebuilding on
//! rotation. All of them are TLS 1.3 only: both ends are weft, so there is
//! no old peer to accommodate, and 1.3 encrypts the certificates that carry
//! workload identities. Session resumption is off on both sides, because a
//! resumed session skips certificate verification: with it, a connection
//! could outlive the anchor set or policy that allowed the original one.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ServerConfig};
use weft_api::contract::alpn;

use crate::anchors::AnchorStore;
use crate::creds::CredStore;
use crate::id::{SpiffeId, TrustDomain};
use crate::trust::TrustStatus;
use crate::verify::{ExpectedIdVerifier, TrustDomainVerifier};

/// Whether a control-plane server demands a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present a mesh certificate (weft-controller: it
    /// must know which proxy asks).
    Required,
    /// Clients may come without one (weft-identity: a proxy asks for its
    /// first certificate before it has any). A certificate that is sent must
    /// still verify.
    Optional,
}

/// The inputs shared by every config of one workload: who we are (the
/// credentials), whom we trust (the anchors) and our trust domain.
#[derive(Clone, Debug)]
pub struct MeshTls {
    trust_domain: TrustDomain,
    anchors: AnchorStore,
    creds: CredStore,
    control_plane: Arc<TrustStatus>,
}

impl MeshTls {
    pub fn new(trust_domain: TrustDomain, anchors: AnchorStore, creds: CredStore) -> Self {
        Self {
            trust_domain,
            anchors,
            creds,
            control_plane: Arc::default(),
        }
    }

    /// Where refusals (and verifications) of the control plane's certificate are reported.
    pub fn with_control_plane_trust(mut self, trust: Arc<TrustStatus>) -> Self {
        self.control_plane = trust;
        self
    }

    pub fn anchors(&self) -> &AnchorStore {
        &self.anchors
    }

    pub fn creds(&self) -> &CredStore {
        &self.creds
    }

    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The inbound mesh listener: clients must offer ALPN `weft/1` and
    /// present a certificate of our trust domain. Read the client's id
    /// afterwards with [`crate::peer_id`].
    pub fn mesh_server_config(&self) -> Arc<ServerConfig> {
        let verifier =
            TrustDomainVerifier::new(self.anchors.clone(), self.trust_domain.clone(), true);
        let mut config = server_builder()
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.creds.server_resolver(Some(alpn::MESH)));
        config.alpn_protocols = vec![alpn::MESH.to_vec()];
        Arc::new(without_server_resumption(config))
    }

    /// A control-plane gRPC server (ALPN `h2`).
    pub fn control_plane_server_config(&self, client_auth: ClientAuth) -> Arc<ServerConfig> {
        let verifier = TrustDomainVerifier::new(
            self.anchors.clone(),
            self.trust_domain.clone(),
            client_auth == ClientAuth::Required,
        );
        let mut config = server_builder()
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.creds.server_resolver(None));
        config.alpn_protocols = vec![alpn::H2.to_vec()];
        Arc::new(without_server_resumption(config))
    }

    /// An outbound mesh connection to a peer that must be `expected`,
    /// offering ALPN `weft/1` and our certificate. The `ServerName` passed
    /// to rustls with it is only sent as SNI; use the peer's IP.
    pub fn mesh_client_config(&self, expected: &SpiffeId) -> Arc<ClientConfig> {
        self.client_config(expected, alpn::MESH, None)
    }

    /// A gRPC connection to a control-plane server that must be `expected`
    /// (weft-controller), presenting our certificate.
    pub fn control_plane_client_config(&self, expected: &SpiffeId) -> Arc<ClientConfig> {
        self.client_config(expected, alpn::H2, Some(self.control_plane.clone()))
    }

    /// An HTTP/2 connection to a workload's own mTLS endpoint that must be
    /// `expected` (weft-controller scraping a proxy's metrics): the same
    /// config, but a refused certificate is that workload's, so it is not
    /// counted against the control plane.
    pub fn workload_h2_client_config(&self, expected: &SpiffeId) -> Arc<ClientConfig> {
        self.client_config(expected, alpn::H2, None)
    }

    fn client_config(
        &self,
        expected: &SpiffeId,
        alpn: &[u8],
        control_plane: Option<Arc<TrustStatus>>,
    ) -> Arc<ClientConfig> {
        let verifier =
            ExpectedIdVerifier::new(self.anchors.clone(), expected.clone(), control_plane);
        let mut config = client_builder()
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(self.creds.client_resolver());
        config.alpn_protocols = vec![alpn.to_vec()];
        config.resumption = Resumption::disabled();
        Arc::new(config)
    }
}

/// The config for calling weft-identity's Certify: the server must chain to
/// `anchors` and be `identity_id`; we present no certificate (we are asking
/// for one). ALPN `h2`, for gRPC.
pub fn identity_client_config(anchors: &AnchorStore, identity_id: &SpiffeId) -> Arc<ClientConfig> {
    identity_config(anchors, identity_id, None)
}

/// [`identity_client_config`], counting refusals of weft-identity in `trust`.
pub fn identity_client_config_counted(
    anchors: &AnchorStore,
    identity_id: &SpiffeId,
    trust: Arc<TrustStatus>,
) -> Arc<ClientConfig> {
    identity_config(anchors, identity_id, Some(trust))
}

fn identity_config(
    anchors: &AnchorStore,
    identity_id: &SpiffeId,
    trust: Option<Arc<TrustStatus>>,
) -> Arc<ClientConfig> {
    let verifier = ExpectedIdVerifier::new(anchors.clone(), identity_id.clone(), trust);
    let mut config = client_builder()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn::H2.to_vec()];
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

fn server_builder() -> rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier> {
    ServerConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the ring provider supports TLS 1.3")
}

fn client_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the ring provider supports TLS 1.3")
}

fn without_server_resumption(mut config: ServerConfig) -> ServerConfig {
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config
}
