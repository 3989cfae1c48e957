//! Jittered exponential backoff: the one retry schedule of every reconnect,
//! resubscribe and renewal loop in weft. A loop holds an [`Attempts`]
//! (from [`Backoff::start`]), waits on it after each failure and resets it
//! after each success.

use rand::Rng;
use std::time::Duration;

/// Exponential backoff: the n-th delay is `min * 2^n`, capped at `max`, then
/// scaled by a random factor in `[1 - jitter, 1]` so that many clients that
/// lost the same server do not come back in lockstep.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    /// Fraction of the delay that may be removed at random, in `[0, 1]`.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            min: Duration::from_millis(100),
            max: Duration::from_secs(10),
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based), with `unit` in
    /// `[0, 1)` as the random draw (pass a fixed value in tests).
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        let base = self.min.saturating_mul(factor).min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        base.mul_f64(1.0 - jitter * unit.clamp(0.0, 1.0))
    }

    /// The delay before retry number `attempt`, with a random jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::rng().random::<f64>())
    }

    /// An iterator-like helper tracking the attempt count.
    pub fn start(&self) -> Attempts {
        Attempts {
            backoff: self.clone(),
            attempt: 0,
        }
    }
}

/// Tracks consecutive failures; `reset` after a success.
#[derive(Debug)]
pub struct Attempts {
    backoff: Backoff,
    attempt: u32,
}

impl Attempts {
    /// Sleeps for the next delay and counts the attempt.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Counts the attempt and returns how long to wait before the next one,
    /// for loops that wait on something else as well.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.backoff.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Backoff {
        Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(5),
            jitter: 0.5,
        }
    }

    #[test]
    fn grows_exponentially_without_jitter_draw() {
        let b = b();
        assert_eq!(b.delay_with(0, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay_with(1, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay_with(3, 0.0), Duration::from_millis(800));
    }

    #[test]
    fn is_capped_at_max_even_for_huge_attempts() {
        let b = b();
        assert_eq!(b.delay_with(10, 0.0), Duration::from_secs(5));
        assert_eq!(b.delay_with(u32::MAX, 0.0), Duration::from_secs(5));
    }

    #[test]
    fn jitter_removes_at_most_its_fraction() {
        let b = b();
        assert_eq!(b.delay_with(2, 1.0), Duration::from_millis(200));
        for _ in 0..1000 {
            let d = b.delay(2);
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
                "{d:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_wait_longer_each_time_and_reset() {
        let mut a = Backoff { jitter: 0.0, ..b() }.start();
        let t0 = tokio::time::Instant::now();
        a.wait().await;
        a.wait().await;
        assert_eq!(t0.elapsed(), Duration::from_millis(300));
        assert_eq!(a.attempt(), 2);
        a.reset();
        let t1 = tokio::time::Instant::now();
        a.wait().await;
        assert_eq!(t1.elapsed(), Duration::from_millis(100));
    }
}
