//! The retry budget: how many retries a proxy may add to its traffic.
//!
//! Retries help when a few requests fail and hurt when most do: every
//! failing request retried N times multiplies the load on a backend that
//! is already failing. So retries are paid from a budget rather than
//! granted per request: each original request adds a fifth of a retry
//! (at most a fifth more requests), and a floor of [`FLOOR_PER_SEC`]
//! retries a second keeps a quiet proxy able to retry at all. Bursts are
//! bounded by the caps of both.

use std::sync::Mutex;
use tokio::time::Instant;

/// Original requests that earn one retry (a ratio of 0.2, kept whole so
/// that sums are exact).
pub const REQUESTS_PER_RETRY: u32 = 5;
/// Retries a second any proxy may make, whatever its traffic.
pub const FLOOR_PER_SEC: f64 = 10.0;
/// The most retries the ratio part saves up.
const EARNED_CAP: u32 = 100;

/// Shared by every routed request of one proxy.
#[derive(Debug)]
pub struct RetryBudget {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// In requests: [`REQUESTS_PER_RETRY`] pay for one retry.
    earned: u32,
    floor: f64,
    at: Instant,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl RetryBudget {
    /// A budget with a full floor at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(State {
                earned: 0,
                floor: FLOOR_PER_SEC,
                at: now,
            }),
        }
    }

    /// An original request was sent at `now`.
    pub fn deposit(&self, now: Instant) {
        let mut s = self.lock();
        s.refill(now);
        s.earned = (s.earned + 1).min(EARNED_CAP * REQUESTS_PER_RETRY);
    }

    /// Whether one retry may be sent at `now` (and if so, it is paid for).
    pub fn withdraw(&self, now: Instant) -> bool {
        let mut s = self.lock();
        s.refill(now);
        if s.floor >= 1.0 {
            s.floor -= 1.0;
            true
        } else if s.earned >= REQUESTS_PER_RETRY {
            s.earned -= REQUESTS_PER_RETRY;
            true
        } else {
            false
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a pair of numbers, valid after any panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn refill(&mut self, now: Instant) {
        let secs = now.saturating_duration_since(self.at).as_secs_f64();
        self.floor = (self.floor + secs * FLOOR_PER_SEC).min(FLOOR_PER_SEC);
        self.at = self.at.max(now);
    }
}

#[cfg(test)]
mod tests;
