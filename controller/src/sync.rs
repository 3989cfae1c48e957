//! Knowing when every watch has applied its initial list.
//!
//! Until then the index may lack the very TrafficTarget that allows a
//! client, or hold a route group's TrafficTarget but not the group, so the
//! controller neither serves nor reports ready before [`SyncTracker::wait`]
//! returns; serving takes the [`Synced`] it returns.

use crate::index::Kind;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::watch;
use weft_runtime::shutdown;

/// Proof that every kind has applied its initial list, which
/// [`crate::grpc::Server::serve_after_sync`] requires: only
/// [`SyncTracker::wait`] makes one.
#[derive(Clone, Copy, Debug)]
pub struct Synced(());

/// Which kinds have not finished their initial list yet.
#[derive(Clone, Debug)]
pub struct SyncTracker(Arc<watch::Sender<BTreeSet<Kind>>>);

impl SyncTracker {
    pub fn new(kinds: impl IntoIterator<Item = Kind>) -> Self {
        Self(Arc::new(watch::Sender::new(kinds.into_iter().collect())))
    }

    /// `kind`'s watch has applied its initial list. Later relists do not
    /// make it pending again: the index keeps serving what it had.
    pub fn done(&self, kind: Kind) {
        self.0.send_if_modified(|pending| pending.remove(&kind));
    }

    pub fn pending(&self) -> Vec<Kind> {
        self.0.borrow().iter().copied().collect()
    }

    pub fn is_synced(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Returns once every kind is done.
    pub async fn wait(&self) -> Synced {
        let mut rx = self.0.subscribe();
        // The sender lives in self, so the channel cannot close under us.
        let _ = rx.wait_for(BTreeSet::is_empty).await;
        Synced(())
    }

    /// [`SyncTracker::wait`], or `None` if `stop` fires first.
    pub async fn wait_or_stop(&self, stop: shutdown::Signal) -> Option<Synced> {
        tokio::select! {
            synced = self.wait() => Some(synced),
            () = stop.wait() => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_every_kind() {
        let s = SyncTracker::new([Kind::Pod, Kind::TrafficTarget]);
        s.done(Kind::Pod);
        assert_eq!(s.pending(), vec![Kind::TrafficTarget]);
        let waiting = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        s.done(Kind::TrafficTarget);
        waiting.await.unwrap();
        assert!(s.is_synced());
    }
}
