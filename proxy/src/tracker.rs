//! Counting connections in flight, so shutdown can wait for them to finish.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};
use tokio::sync::Notify;

#[derive(Clone, Debug, Default)]
pub struct Tracker(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    open: AtomicUsize,
    idle: Notify,
}

/// Held for as long as one connection lives.
#[derive(Debug)]
pub struct Guard(Arc<Inner>);

impl Tracker {
    pub fn track(&self) -> Guard {
        self.0.open.fetch_add(1, Ordering::SeqCst);
        Guard(self.0.clone())
    }

    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::SeqCst)
    }

    /// Returns once no connection is open.
    pub async fn idle(&self) {
        loop {
            let notified = self.0.idle.notified();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_the_last_guard() {
        let t = Tracker::default();
        let (a, b) = (t.track(), t.track());
        let waiting = tokio::spawn({
            let t = t.clone();
            async move { t.idle().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(b);
        waiting.await.unwrap();
        assert_eq!(t.open(), 0);
    }
}
