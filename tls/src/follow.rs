//! Trust-anchor rotations for proxies, learnt only from weft-identity.
//!
//! A proxy starts with the bundle the injector wrote into its pod spec and
//! from then on asks weft-identity's TrustAnchors, over a channel verified
//! with the anchors it already holds. So no object a namespace can write (a
//! ConfigMap, say) changes whom a proxy trusts, while a rotation the
//! operator makes in the control plane's namespace reaches every proxy
//! within one poll.

use crate::{AnchorStore, TrustAnchors};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::sync::Notify;
use weft_api::identity::{TrustAnchorsRequest, identity_client::IdentityClient};

/// Asks for the current bundle: weft-identity, or a fake in tests.
pub trait AnchorSource: Send + Sync {
    fn fetch(&self) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
}

impl AnchorSource for IdentityClient<tonic::transport::Channel> {
    async fn fetch(&self) -> Result<Vec<u8>, String> {
        self.clone()
            .trust_anchors(TrustAnchorsRequest {})
            .await
            .map(|r| r.into_inner().pem_bundle)
            .map_err(|s| s.to_string())
    }
}

/// Polls `source` every `every` and swaps `store` when the bundle changes.
/// When the new bundle no longer covers our own certificate, `renew` is
/// notified so the certificate manager re-certifies at once instead of
/// presenting a certificate peers would refuse. Runs until dropped.
pub async fn follow_anchors(
    source: impl AnchorSource,
    store: AnchorStore,
    every: Duration,
    own_chain_ok: impl Fn(&TrustAnchors) -> bool + Send,
    renew: Arc<Notify>,
) {
    let mut last: Option<Vec<u8>> = None;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let pem = match source.fetch().await {
            Ok(pem) => pem,
            Err(error) => {
                tracing::debug!(%error, "cannot fetch the trust anchors; keeping the current set");
                continue;
            }
        };
        if last.as_deref() == Some(pem.as_slice()) {
            continue;
        }
        match TrustAnchors::from_pem(&pem) {
            Ok(anchors) => {
                let covers_us = own_chain_ok(&anchors);
                if last.is_some() {
                    tracing::info!(
                        anchors = anchors.len(),
                        "trust anchors rotated (from weft-identity)"
                    );
                }
                store.replace(anchors);
                if !covers_us {
                    tracing::warn!(
                        "the new trust anchors do not cover this proxy's certificate; re-certifying now"
                    );
                    renew.notify_one();
                }
            }
            Err(error) => {
                tracing::error!(%error, "weft-identity sent unusable trust anchors; keeping the current set");
            }
        }
        last = Some(pem);
    }
}
