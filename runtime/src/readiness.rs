//! Readiness as the AND of named conditions.
//!
//! Each part of a binary that must be up before it serves (a certificate, a
//! first policy answer, a synced watch) registers a condition and marks it
//! ready; `/ready` answers 200 only when all are.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct Readiness {
    inner: Arc<Mutex<BTreeMap<String, bool>>>,
}

/// A registered condition; dropping it does not change its state.
#[derive(Clone, Debug)]
pub struct Condition {
    name: String,
    readiness: Readiness,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a condition that starts not ready.
    pub fn register(&self, name: impl Into<String>) -> Condition {
        let name = name.into();
        self.lock().insert(name.clone(), false);
        Condition {
            name,
            readiness: self.clone(),
        }
    }

    /// True when every registered condition is ready.
    pub fn is_ready(&self) -> bool {
        self.lock().values().all(|r| *r)
    }

    /// The names of the conditions that are not ready yet.
    pub fn pending(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, r)| !**r)
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Condition {
    pub fn set(&self, ready: bool) {
        self.readiness.lock().insert(self.name.clone(), ready);
    }

    pub fn ready(&self) {
        self.set(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_condition_is() {
        let r = Readiness::new();
        assert!(r.is_ready(), "nothing registered yet");
        let cert = r.register("certificate");
        let policy = r.register("policy");
        assert!(!r.is_ready());
        cert.ready();
        assert_eq!(r.pending(), vec!["policy".to_string()]);
        policy.ready();
        assert!(r.is_ready());
        cert.set(false);
        assert!(!r.is_ready());
    }
}
