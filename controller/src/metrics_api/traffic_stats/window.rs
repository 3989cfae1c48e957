//! One pod's scrapes over a bounded window, and what happened in it.

use super::{Counts, Delta, Edge, Scrape};
use std::collections::{BTreeMap, VecDeque};

/// Scrapes of one proxy, at times in seconds (any monotonic origin).
#[derive(Debug)]
pub struct Series {
    window: f64,
    points: VecDeque<(f64, Scrape)>,
}

impl Series {
    /// Keeps enough scrapes to cover `window` seconds.
    pub fn new(window: f64) -> Self {
        Self {
            window,
            points: VecDeque::new(),
        }
    }

    /// Adds a scrape taken at `t` (later than the last one; an earlier one
    /// is ignored) and forgets scrapes no longer needed: the newest one at
    /// or before the window's start stays as its baseline.
    pub fn push(&mut self, t: f64, scrape: Scrape) {
        if self.points.back().is_some_and(|(last, _)| t <= *last) {
            return;
        }
        self.points.push_back((t, scrape));
        let start = t - self.window;
        while self.points.len() > 1 && self.points[1].0 <= start {
            self.points.pop_front();
        }
    }

    /// The seconds between the first and the last scrape kept.
    pub fn seconds(&self) -> f64 {
        match (self.points.front(), self.points.back()) {
            (Some((first, _)), Some((last, _))) => last - first,
            _ => 0.0,
        }
    }

    /// What happened per edge between the first and the last scrape kept.
    /// A counter that went down means the proxy restarted: what it counts
    /// since is added, nothing is subtracted.
    pub fn delta(&self) -> BTreeMap<Edge, Delta> {
        let mut out: BTreeMap<Edge, Delta> = BTreeMap::new();
        let (Some((first, _)), Some((last, _))) = (self.points.front(), self.points.back()) else {
            return out;
        };
        let seconds = last - first;
        let empty = Counts::default();
        for pair in self.points.iter().collect::<Vec<_>>().windows(2) {
            let (prev, next) = (&pair[0].1, &pair[1].1);
            for (edge, now) in next {
                let before = prev.get(edge).unwrap_or(&empty);
                let step = increase(before, now);
                let d = out.entry(edge.clone()).or_default();
                d.add(&step);
            }
        }
        for d in out.values_mut() {
            d.seconds = seconds;
        }
        out
    }
}

/// `now - before`, or `now` when any counter went down (a reset).
fn increase(before: &Counts, now: &Counts) -> Delta {
    let cumulative_before = |le: f64| {
        before
            .buckets
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0, |(_, n)| *n)
    };
    let reset = now.success < before.success
        || now.failure < before.failure
        || now.buckets.iter().any(|&(le, n)| n < cumulative_before(le))
        || went_down(&before.denied, &now.denied)
        || went_down(&before.requests, &now.requests)
        || went_down(&before.tcp, &now.tcp);
    let base = |b: u64| if reset { 0 } else { b };
    // Cumulative increases per bound, then per bucket.
    let mut buckets = Vec::with_capacity(now.buckets.len());
    let mut below = 0;
    for &(le, n) in &now.buckets {
        let cumulative = n - base(cumulative_before(le));
        buckets.push((le, cumulative.saturating_sub(below)));
        below = cumulative;
    }
    Delta {
        success: now.success - base(before.success),
        failure: now.failure - base(before.failure),
        buckets,
        denied: increases(&before.denied, &now.denied, reset),
        requests: increases(&before.requests, &now.requests, reset),
        tcp: increases(&before.tcp, &now.tcp, reset),
        seconds: 0.0,
        certificate_expiry: None,
    }
}

fn went_down<K: Ord>(before: &BTreeMap<K, u64>, now: &BTreeMap<K, u64>) -> bool {
    now.iter()
        .any(|(k, n)| *n < before.get(k).copied().unwrap_or(0))
}

/// Each of `now`'s counters less its value `before` (nothing after a reset).
fn increases<K: Ord + Clone>(
    before: &BTreeMap<K, u64>,
    now: &BTreeMap<K, u64>,
    reset: bool,
) -> BTreeMap<K, u64> {
    now.iter()
        .map(|(k, n)| {
            let b = if reset {
                0
            } else {
                before.get(k).copied().unwrap_or(0)
            };
            (k.clone(), n - b)
        })
        .collect()
}
