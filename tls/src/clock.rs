//! Wall-clock time for certificate decisions, replaceable in tests.
//!
//! Certificates speak wall-clock time (notBefore/notAfter) while timers run
//! on tokio's clock. Tests pause tokio's clock to run hours of renewals in
//! milliseconds; [`WallClock::following_tokio`] makes the wall clock move
//! with it, so "is this certificate still valid" and "when does the timer
//! fire" stay consistent.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// A source of wall-clock time.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl WallClock {
    /// The system clock (production).
    pub fn system() -> Self {
        Self(Arc::new(SystemTime::now))
    }

    /// A clock that reads `start` now and then advances exactly as tokio's
    /// clock does (paused or not).
    pub fn following_tokio(start: SystemTime) -> Self {
        let origin = tokio::time::Instant::now();
        Self(Arc::new(move || start + origin.elapsed()))
    }

    pub fn now(&self) -> SystemTime {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WallClock").field(&self.now()).finish()
    }
}
