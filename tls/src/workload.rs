//! Getting and keeping a workload's certificate, the same way in every
//! binary that needs one (the proxy, the controller): trust anchors loaded
//! and followed, and the certificate manager renewing through
//! weft-identity's Certify over TLS.

use crate::{
    AnchorError, AnchorStore, CertManager, CertState, CsrError, GrpcCertifier, ManagerConfig,
    MeshTls, SpiffeId, TrustAnchors, TrustStatus, follow_anchors, tls_channel, watch_anchors,
};
use std::{path::PathBuf, sync::Arc, time::Duration};
use tokio::sync::watch;
use weft_api::identity::identity_client::IdentityClient;
use weft_runtime::{grpc, readiness::Condition};

/// How often the trust-anchor file is checked for a rotation.
pub const ANCHOR_POLL: Duration = Duration::from_secs(10);
/// How often a proxy asks weft-identity for the current anchors: a
/// rotation's new anchor must reach every proxy before the issuer switches
/// to it (docs/identity.md), so within a minute, at a few requests per
/// second for a thousand proxies.
pub const ANCHOR_FOLLOW: Duration = Duration::from_secs(30);

/// Where a workload's trust anchors come from.
#[derive(Clone, Debug)]
pub enum Anchors {
    /// A file only the control plane's own namespace can write (its
    /// ConfigMap mount), re-read for rotations.
    WatchedFile(PathBuf),
    /// A PEM bundle fixed at start (a proxy's pod spec, written by the
    /// injector); rotations come only from weft-identity's TrustAnchors.
    FromIdentity(Vec<u8>),
}

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
    pub anchors: Anchors,
    /// Where the workload's trust is reported (the caller registers its
    /// collector before starting).
    pub control_plane_trust: Arc<TrustStatus>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("loading trust anchors from {path}: {source}")]
    Anchors { path: String, source: AnchorError },
    #[error("the trust anchors given at start: {0}")]
    InitialAnchors(#[source] AnchorError),
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
    let anchors = match &w.anchors {
        Anchors::WatchedFile(path) => {
            AnchorStore::from_file(path).map_err(|source| StartError::Anchors {
                path: path.display().to_string(),
                source,
            })?
        }
        Anchors::FromIdentity(pem) => {
            AnchorStore::new(TrustAnchors::from_pem(pem).map_err(StartError::InitialAnchors)?)
        }
    };
    let manager = CertManager::new(
        ManagerConfig::new(w.id, w.identity_id, w.token_file),
        anchors.clone(),
    )?
    .with_readiness(ready)
    .with_control_plane_trust(w.control_plane_trust.clone());
    w.control_plane_trust
        .attach(anchors.clone(), manager.creds().clone());
    let channel = tls_channel(
        &w.identity_addr,
        manager.identity_client_config(),
        &grpc::ChannelConfig::default(),
    )?;
    match w.anchors {
        Anchors::WatchedFile(path) => {
            tokio::spawn(watch_anchors(path, ANCHOR_POLL, anchors));
        }
        Anchors::FromIdentity(_) => {
            let creds = manager.creds().clone();
            let covers = move |a: &TrustAnchors| creds.current().is_none_or(|c| c.chains_to(a));
            tokio::spawn(follow_anchors(
                IdentityClient::new(channel.clone()),
                anchors,
                ANCHOR_FOLLOW,
                covers,
                manager.renew_trigger(),
            ));
        }
    }
    let certifier = GrpcCertifier::new(channel);
    let (tls, state) = (manager.mesh_tls(), manager.subscribe());
    tokio::spawn(manager.run(certifier));
    Ok((tls, state))
}
