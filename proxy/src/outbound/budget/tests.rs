use super::*;
use std::time::Duration;

fn retries(b: &RetryBudget, now: Instant, tries: usize) -> usize {
    (0..tries).filter(|_| b.withdraw(now)).count()
}

#[test]
fn a_quiet_proxy_has_the_floor_and_no_more() {
    let t0 = Instant::now();
    let b = RetryBudget::new(t0);
    assert_eq!(retries(&b, t0, 100), 10);
    // Half a second later, half the floor is back.
    assert_eq!(retries(&b, t0 + Duration::from_millis(500), 100), 5);
    // Idle for long, still no more than one second's floor.
    assert_eq!(retries(&b, t0 + Duration::from_secs(60), 100), 10);
}

#[test]
fn traffic_earns_a_fifth_of_a_retry_per_request() {
    let t0 = Instant::now();
    let b = RetryBudget::new(t0);
    assert_eq!(retries(&b, t0, 10), 10, "the floor first");
    for _ in 0..1000 {
        b.deposit(t0);
    }
    // 1000 requests earn 200 retries, capped at 100 saved.
    assert_eq!(retries(&b, t0, 1000), 100);
    for _ in 0..50 {
        b.deposit(t0);
    }
    assert_eq!(retries(&b, t0, 1000), 10);
}

#[test]
fn an_outage_cannot_multiply_the_load() {
    // Every request fails and wants 3 retries: over 10 s at 1000 requests a
    // second, retries stay near a fifth of the requests plus the floor.
    let t0 = Instant::now();
    let b = RetryBudget::new(t0);
    let (mut sent, mut retried) = (0usize, 0usize);
    for ms in 0..10_000u64 {
        let now = t0 + Duration::from_millis(ms);
        b.deposit(now);
        sent += 1;
        retried += retries(&b, now, 3);
    }
    let most = sent / 5 + 10 * 11;
    assert!(retried <= most, "{retried} retries for {sent} requests");
    assert!(retried >= sent / 5, "{retried} retries for {sent} requests");
}
