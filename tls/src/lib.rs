//! Mesh TLS for weft: what makes "mTLS between services automatically" safe.
//!
//! - [`id`]: SPIFFE ids (`spiffe://<td>/ns/<ns>/sa/<sa>`), parsed strictly.
//! - [`csr`]: the in-memory P-256 key and its CSR.
//! - [`anchors`]: trust anchors, hot-swapped from a watched file.
//! - [`creds`]: the current certificate, hot-swapped on renewal.
//! - [`verify`] and [`config`]: rustls configs whose verifiers check SPIFFE
//!   ids instead of host names, TLS 1.3 only.
//! - [`manager`] and [`certify`]: obtaining and renewing the certificate
//!   from weft-identity; [`grpc`]: tonic channels over these configs and the
//!   real Certify client.
//! - [`serving`]: plain serving certificates from files (webhook, metrics
//!   API), rotated without a restart; [`renewal`] renews them in memory
//!   with their CA before they expire.
//! - [`accept`]: the server side of a handshake, bounded in time.
//! - [`trust`]: refusals of the control plane's certificate, counted and
//!   explained.
//! - `test_util` (feature `test-util`): a test CA for other crates' tests.
//!
//! Wiring, in a proxy (the controller does the same minus the mesh
//! listeners):
//!
//! [`workload::start`] does steps 1–3 in one call:
//!
//! 1. `AnchorStore::from_file(anchors_path)`, and spawn
//!    [`watch_anchors`] on the same path and store.
//! 2. `CertManager::new(ManagerConfig::new(own_id, identity_id, token_path),
//!    anchors)`, `.with_readiness(readiness.register("certificate"))`.
//! 3. `GrpcCertifier::new(tls_channel(identity_addr,
//!    manager.identity_client_config(), &cfg)?)` and spawn
//!    `manager.run(certifier)`.
//! 4. `manager.mesh_tls()` gives [`MeshTls`]: build the inbound
//!    `mesh_server_config()` once per listener and a
//!    `mesh_client_config(&expected_id)` per destination identity; read a
//!    client's id with [`peer_id`]. Rotations of the certificate and of the
//!    anchors reach them without rebuilding anything.
//!
//! The whole workspace uses one rustls crypto provider, *ring* (see
//! `deny.toml`); [`provider`] returns it so no component picks another.

use std::sync::Arc;

pub mod accept;
pub mod anchors;
pub mod ca_key;
pub mod certify;
pub mod clock;
pub mod config;
pub mod creds;
pub mod csr;
pub mod follow;
pub mod grpc;
pub mod id;
pub mod leaf;
pub mod manager;
pub mod renewal;
pub mod serving;
#[cfg(feature = "test-util")]
pub mod test_util;
pub mod trust;
pub mod verify;
pub mod workload;

pub use accept::{HANDSHAKE_TIMEOUT, handshake};
pub use anchors::{
    AnchorError, AnchorStore, TrustAnchors, anchors_digest, watch_anchors, watch_anchors_pem,
};
pub use ca_key::ca_key_from_pem;
pub use certify::{Certifier, CertifyError, ResponseError, validate_response};
pub use clock::WallClock;
pub use config::{ClientAuth, MeshTls, identity_client_config};
pub use creds::{CredStore, Credentials};
pub use csr::{CsrError, WorkloadKey};
pub use follow::{AnchorSource, follow_anchors};
pub use grpc::{GrpcCertifier, peer_of, tls_channel, tls_incoming};
pub use id::{IdError, SpiffeId, TrustDomain};
pub use leaf::{LeafError, LeafInfo, inspect_leaf, leaf_id};
pub use manager::{CertManager, CertState, ManagerConfig, RenewError, refresh_in};
pub use serving::{Renewal, ServingCert, ServingError, common_name, watch_serving_cert};
pub use trust::TrustStatus;
pub use verify::{PeerIdError, peer_id, peer_id_from_certs};

/// The crypto provider every weft TLS config is built with.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    #[test]
    fn provider_offers_p256_ecdsa() {
        let p = super::provider();
        assert!(
            p.signature_verification_algorithms
                .supported_schemes()
                .contains(&rustls::SignatureScheme::ECDSA_NISTP256_SHA256)
        );
    }
}
