//! rustls verifiers that check SPIFFE ids instead of host names.
//!
//! Mesh peers are pods reached by IP; a DNS name in a certificate would say
//! nothing about which workload answers. So the client side requires exactly
//! the SPIFFE id it was told to expect (by the controller, for a meshed
//! endpoint; by configuration, for the control plane), and the server side
//! accepts any id of the mesh's trust domain and hands it to policy.
//! Both first check the chain against the anchors loaded *for this
//! handshake* from the [`AnchorStore`], so a rotated anchor set applies to the
//! next connection without rebuilding any config.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, CommonState, DigitallySignedStruct, DistinguishedName, OtherError,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::anchors::AnchorStore;
use crate::id::{SpiffeId, TrustDomain};
use crate::leaf::{LeafError, inspect_leaf, leaf_id};
use crate::trust::TrustStatus;

/// Why a peer's otherwise valid certificate was refused. It reaches the
/// caller inside `rustls::Error::InvalidCertificate(CertificateError::Other)`.
#[derive(Debug, thiserror::Error)]
pub enum PeerIdError {
    #[error("peer presented {found}, but {expected} was expected")]
    Unexpected { expected: SpiffeId, found: SpiffeId },
    #[error("peer certificate does not name a mesh identity: {0}")]
    Leaf(#[from] LeafError),
}

impl From<PeerIdError> for rustls::Error {
    fn from(e: PeerIdError) -> Self {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
    }
}

/// The client side: the server must chain to the anchors and be `expected`.
#[derive(Debug)]
pub(crate) struct ExpectedIdVerifier {
    anchors: AnchorStore,
    expected: SpiffeId,
    /// Told of every refusal when the server is part of the control plane.
    control_plane: Option<Arc<TrustStatus>>,
}

impl ExpectedIdVerifier {
    pub(crate) fn new(
        anchors: AnchorStore,
        expected: SpiffeId,
        control_plane: Option<Arc<TrustStatus>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            anchors,
            expected,
            control_plane,
        })
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        self.anchors
            .current()
            .verify_server_chain(end_entity, intermediates, now)?;
        let found = inspect_leaf(end_entity).map_err(PeerIdError::from)?.id;
        if found != self.expected {
            return Err(PeerIdError::Unexpected {
                expected: self.expected.clone(),
                found,
            }
            .into());
        }
        Ok(())
    }
}

impl ServerCertVerifier for ExpectedIdVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        // The expected id replaces the server name; the name is only SNI.
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Err(e) = self.verify(end_entity, intermediates, now) {
            if let Some(cp) = &self.control_plane {
                cp.refused(&self.expected, &e);
            }
            return Err(e);
        }
        if let Some(cp) = &self.control_plane {
            cp.verified(&self.expected);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let anchors = self.anchors.current();
        rustls::crypto::verify_tls12_signature(message, cert, dss, anchors.algs())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let anchors = self.anchors.current();
        rustls::crypto::verify_tls13_signature(message, cert, dss, anchors.algs())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.anchors.current().algs().supported_schemes()
    }
}

/// The server side: a client certificate must chain to the anchors and name
/// an id of the mesh's trust domain. Whether that id may talk is policy's
/// call, made later with [`peer_id`].
#[derive(Debug)]
pub(crate) struct TrustDomainVerifier {
    anchors: AnchorStore,
    trust_domain: TrustDomain,
    mandatory: bool,
}

impl TrustDomainVerifier {
    pub(crate) fn new(
        anchors: AnchorStore,
        trust_domain: TrustDomain,
        mandatory: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            anchors,
            trust_domain,
            mandatory,
        })
    }
}

impl ClientCertVerifier for TrustDomainVerifier {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Hints would have to outlive an anchor swap; mesh clients have one
        // certificate and ignore hints anyway.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.anchors
            .current()
            .verify_client_chain(end_entity, intermediates, now)?;
        leaf_id(end_entity, &self.trust_domain).map_err(PeerIdError::from)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let anchors = self.anchors.current();
        rustls::crypto::verify_tls12_signature(message, cert, dss, anchors.algs())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let anchors = self.anchors.current();
        rustls::crypto::verify_tls13_signature(message, cert, dss, anchors.algs())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.anchors.current().algs().supported_schemes()
    }
}

/// The verified SPIFFE id of the peer of a finished handshake, for policy.
///
/// Takes any connection (`&ServerConnection` and `&ClientConnection` coerce
/// to `&CommonState`). `None` means the peer sent no certificate (allowed on
/// the control-plane server with optional client auth): the peer is
/// unauthenticated. Only meaningful on connections built with this crate's
/// configs, whose verifiers already refused anything else.
pub fn peer_id(conn: &CommonState) -> Option<SpiffeId> {
    peer_id_from_certs(conn.peer_certificates()?)
}

/// [`peer_id`] for a peer chain obtained some other way (leaf first).
pub fn peer_id_from_certs(certs: &[CertificateDer<'_>]) -> Option<SpiffeId> {
    inspect_leaf(certs.first()?).ok().map(|leaf| leaf.id)
}
