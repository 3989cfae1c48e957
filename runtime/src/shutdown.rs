//! Graceful shutdown: a signal that every task can wait on, SIGTERM/SIGINT
//! handling, and a drain with a deadline.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// Starts shutdown when triggered (by a signal or the admin endpoint).
#[derive(Clone, Debug)]
pub struct Trigger(watch::Sender<bool>);

/// Resolves once shutdown has started. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Signal(watch::Receiver<bool>);

/// A linked trigger and signal.
pub fn channel() -> (Trigger, Signal) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Signal(rx))
}

impl Trigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    pub fn signal(&self) -> Signal {
        Signal(self.0.subscribe())
    }
}

impl Signal {
    /// Waits until shutdown starts.
    pub async fn wait(mut self) {
        // An error means every trigger is gone: nobody can start shutdown
        // any more, so wait forever rather than shut down by accident.
        if self.0.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }
}

/// Waits for SIGTERM or SIGINT, then triggers shutdown.
pub async fn on_signals(trigger: Trigger) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = name, "shutting down");
    trigger.trigger();
    Ok(())
}

/// Outcome of [`drain`].
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// All in-flight work finished.
    Complete,
    /// The deadline passed first; remaining work was abandoned.
    DeadlineExceeded,
}

/// Waits for `work` (in-flight requests, connections) up to `grace`.
pub async fn drain(grace: Duration, work: impl Future<Output = ()>) -> Drained {
    match tokio::time::timeout(grace, work).await {
        Ok(()) => Drained::Complete,
        Err(_) => {
            tracing::warn!(?grace, "drain deadline passed; exiting with work in flight");
            Drained::DeadlineExceeded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn signal_resolves_after_trigger() {
        let (t, s) = channel();
        assert!(!s.is_triggered());
        let waiter = tokio::spawn(s.clone().wait());
        t.trigger();
        waiter.await.unwrap();
        assert!(s.is_triggered());
        // A signal taken after the trigger resolves at once.
        t.signal().wait().await;
    }

    #[tokio::test(start_paused = true)]
    async fn drain_stops_at_the_deadline() {
        let slow = tokio::time::sleep(Duration::from_secs(60));
        assert_eq!(
            drain(Duration::from_secs(5), slow).await,
            Drained::DeadlineExceeded
        );
        let quick = tokio::time::sleep(Duration::from_secs(1));
        assert_eq!(
            drain(Duration::from_secs(5), quick).await,
            Drained::Complete
        );
    }
}
