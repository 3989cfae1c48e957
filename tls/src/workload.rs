//! Getting and keeping a workload's certificate, the same way in every
//! binary that needs one (the proxy, the controller): trust anchors loaded
//! and watched, and the certificate manager renewing through weft-identity's
//! Certify over TLS.

use crate::{
    AnchorError, AnchorStore, CertManager, CertState, CsrError, GrpcCertifier, ManagerConfig,
    MeshTls, SpiffeId, tls_channel, watch_anchors,
};
use std::{path::PathBuf, time::Duration};
use tokio::sync::watch;
use weft_runtime::{grpc, readiness::Condition};

/// How often the trust-anchor file is checked for a rotation.
pub const ANCHOR_POLL: Duration = Duration::from_secs(10);

/// Who the workload is and where its certificate comes from.
#[derive(Clone, Debug)]
pub struct Workload {
    pub id: SpiffeId,
    /// The SPIFFE id weft-identity must present.
    pub identity_id: SpiffeId,
    /// weft-identity's `host:port`.
    pub identity_addr: String,
    /// The projected ServiceAccount token (audience `weft-identity`).
    pub token_file: PathBuf,
    /// The PEM trust-anchor bundle, watched for rotation.
    pub anchors_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("loading trust anchors from {path}: {source}")]
    Anchors { path: String, source: AnchorError },
    #[error(transparent)]
    Key(#[from] CsrError),
    #[error("the channel to weft-identity: {0}")]
    Channel(#[from] grpc::Error),
}

/// Starts the anchor watch and the certificate manager (on the current
/// runtime); `ready` follows whether a valid certificate is in use. Returns
/// the TLS configs presenting the managed certificate, and its state.
pub fn start(
    w: Workload,
    ready: Condition,
) -> Result<(MeshTls, watch::Receiver<CertState>), StartError> {
    let anchors =
        AnchorStore::from_file(&w.anchors_file).map_err(|source| StartError::Anchors {
            path: w.anchors_file.display().to_string(),
            source,
        })?;
    tokio::spawn(watch_anchors(w.anchors_file, ANCHOR_POLL, anchors.clone()));
    let manager = CertManager::new(
        ManagerConfig::new(w.id, w.identity_id, w.token_file),
        anchors,
    )?
    .with_readiness(ready);
    let certifier = GrpcCertifier::new(tls_channel(
        &w.identity_addr,
        manager.identity_client_config(),
        &grpc::ChannelConfig::default(),
    )?);
    let (tls, state) = (manager.mesh_tls(), manager.subscribe());
    tokio::spawn(manager.run(certifier));
    Ok((tls, state))
}
