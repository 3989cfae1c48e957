//! Each endpoint's recent latency (an exponentially weighted moving
//! average that decays with time, not with request count) and its requests
//! in flight: together, the cost power-of-two-choices compares.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;

/// How quickly old latency is forgotten: after this long a sample weighs
/// about a third of what it did.
const DECAY: Duration = Duration::from_secs(10);
/// An endpoint with no samples yet: neither shunned nor flooded.
const DEFAULT_RTT: Duration = Duration::from_millis(5);
/// How long an endpoint that failed to connect is avoided while others are
/// healthy.
pub const FAILURE_PENALTY: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Load {
    /// (average in ns, when it was last updated; `None` before any sample)
    rtt: Mutex<(f64, Option<Instant>)>,
    pending: AtomicUsize,
    failed_at: Mutex<Option<Instant>>,
}

impl Default for Load {
    fn default() -> Self {
        Self {
            rtt: Mutex::new((DEFAULT_RTT.as_nanos() as f64, None)),
            pending: AtomicUsize::new(0),
            failed_at: Mutex::new(None),
        }
    }
}

/// Held while a request (or connection) is in flight on an endpoint.
#[derive(Debug)]
pub struct InFlight<'a> {
    load: &'a Load,
    start: Instant,
}

impl Load {
    /// Marks a request started; dropping the guard without
    /// [`InFlight::done`] still releases it.
    pub fn start(&self) -> InFlight<'_> {
        self.pending.fetch_add(1, Ordering::Relaxed);
        InFlight {
            load: self,
            start: Instant::now(),
        }
    }

    /// Latency weighted by the work already queued on the endpoint. The
    /// latency fades while the endpoint is not picked, so one slow answer
    /// does not starve it for good: it is tried again and re-measured.
    pub fn cost(&self) -> f64 {
        let (avg, last) = *self.rtt.lock().expect("load lock");
        let faded = match last {
            Some(t) => avg * (-t.elapsed().as_secs_f64() / DECAY.as_secs_f64()).exp(),
            None => avg,
        };
        faded * (self.pending.load(Ordering::Relaxed) + 1) as f64
    }

    pub fn observe(&self, rtt: Duration) {
        let mut g = self.rtt.lock().expect("load lock");
        let now = Instant::now();
        let sample = rtt.as_nanos() as f64;
        let Some(last) = g.1 else {
            *g = (sample, Some(now));
            return;
        };
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let keep = (-elapsed / DECAY.as_secs_f64()).exp();
        // A slower sample counts in full at once, so an endpoint that turns
        // slow is avoided quickly; recovery is learnt gradually.
        g.0 = if sample > g.0 {
            sample
        } else {
            g.0 * keep + sample * (1.0 - keep)
        };
        g.1 = Some(now);
    }

    pub fn failed(&self) {
        *self.failed_at.lock().expect("load lock") = Some(Instant::now());
    }

    pub fn healthy(&self) -> bool {
        self.failed_at
            .lock()
            .expect("load lock")
            .is_none_or(|t| t.elapsed() >= FAILURE_PENALTY)
    }
}

impl InFlight<'_> {
    /// Records the latency to the response's headers (or the connect).
    pub fn done(self) {
        self.load.observe(self.start.elapsed());
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.load.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_endpoint_costs_more_and_recovers_gradually() {
        let (fast, slow) = (Load::default(), Load::default());
        fast.observe(Duration::from_millis(2));
        slow.observe(Duration::from_millis(200));
        assert!(slow.cost() > 10.0 * fast.cost());
        tokio::time::advance(Duration::from_secs(20)).await;
        slow.observe(Duration::from_millis(2));
        assert!(slow.cost() < 50.0 * 1e6, "{}", slow.cost());
        assert!(slow.cost() > fast.cost());
    }

    #[tokio::test(start_paused = true)]
    async fn an_unpicked_endpoint_becomes_worth_trying_again() {
        let (busy, slow) = (Load::default(), Load::default());
        slow.observe(Duration::from_millis(100));
        busy.observe(Duration::from_millis(10));
        assert!(slow.cost() > busy.cost());
        // The busy one keeps being measured; the slow one is not picked.
        for _ in 0..30 {
            tokio::time::advance(Duration::from_secs(1)).await;
            busy.observe(Duration::from_millis(10));
        }
        assert!(
            slow.cost() < busy.cost(),
            "{} vs {}",
            slow.cost(),
            busy.cost()
        );
    }

    #[test]
    fn pending_requests_raise_the_cost() {
        let l = Load::default();
        let idle = l.cost();
        let a = l.start();
        let b = l.start();
        assert!((l.cost() - 3.0 * idle).abs() < 1.0);
        drop(a);
        b.done();
        assert_eq!(l.pending.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_avoided_for_a_while() {
        let l = Load::default();
        assert!(l.healthy());
        l.failed();
        assert!(!l.healthy());
        tokio::time::advance(FAILURE_PENALTY).await;
        assert!(l.healthy());
    }
}
