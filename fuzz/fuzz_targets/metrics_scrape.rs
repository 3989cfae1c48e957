//! The metrics scrape parser: weft-controller reads each proxy's Prometheus
//! text (`weft_controller::metrics_api::traffic_stats::parse`) and turns a
//! window of scrapes into SMI TrafficMetrics. A compromised or buggy proxy
//! writes that text.
//!
//! Input: one or more scrapes of one proxy, separated by form feeds, taken
//! ten seconds apart.
//!
//! Beyond "no panic": a parsed scrape's latency buckets are in increasing
//! order, each bound once; it believes at most 512 request shapes; a success rate is a fraction and a rate is not
//! negative. (Latencies follow whatever bucket bounds the text gives, so
//! nothing is asserted about them.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_controller::metrics_api::traffic_stats::{Delta, Series, parse, start_time};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut series = Series::new(60.0);
    for (i, scrape) in text.split('\u{c}').enumerate() {
        if let Some(t) = start_time(scrape) {
            assert!(t.is_finite());
        }
        let Ok(scrape) = parse(scrape) else { continue };
        let shapes: usize = scrape.values().map(|c| c.requests.len()).sum();
        assert!(
            shapes <= 512,
            "{shapes} request shapes believed from one scrape"
        );
        for counts in scrape.values() {
            let bounds: Vec<f64> = counts.buckets.iter().map(|(le, _)| *le).collect();
            assert!(
                bounds
                    .windows(2)
                    .all(|w| w[0] < w[1] || w[0].is_nan() || w[1].is_nan()),
                "buckets out of order: {bounds:?}"
            );
        }
        series.push(i as f64 * 10.0, scrape);
    }
    let mut all = Delta::default();
    for delta in series.delta().values() {
        check(delta);
        all.add(delta);
    }
    check(&all);
});

fn check(d: &Delta) {
    if let Some(rate) = d.success_rate() {
        assert!((0.0..=1.0).contains(&rate), "success rate {rate}");
    }
    if let Some(rps) = d.rps() {
        assert!(rps >= 0.0, "{rps} requests per second");
    }
    let _ = d.smi_metrics(true);
}
