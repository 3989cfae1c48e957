//! Percentiles from every recorded latency (no histogram buckets): the
//! loads are short enough to keep each sample.

use serde_json::{Value, json};
use std::time::Duration;

/// `{p50_us, p90_us, p99_us, p999_us, max_us}` of `samples` (nulls when empty).
pub fn summary(mut samples: Vec<Duration>) -> Value {
    samples.sort_unstable();
    let at = |q: f64| -> Option<f64> {
        if samples.is_empty() {
            return None;
        }
        // Nearest rank: the smallest sample with at least q of them at or below it.
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        Some(samples[rank - 1].as_secs_f64() * 1e6)
    };
    json!({
        "p50_us": at(0.50),
        "p90_us": at(0.90),
        "p99_us": at(0.99),
        "p999_us": at(0.999),
        "max_us": at(1.0),
    })
}
