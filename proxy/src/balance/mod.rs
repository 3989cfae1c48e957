//! Choosing where each request (HTTP) or connection (TCP) goes: smooth
//! weighted round-robin across TrafficSplit backends ([`wrr`]), then power
//! of two choices over the backend's endpoints by latency and load
//! ([`ewma`]), skipping endpoints that just failed while others are healthy.

pub mod ewma;
pub mod wrr;

use ewma::Load;

/// Two random candidates, the cheaper wins; endpoints that failed recently
/// are left out unless nothing else is left. `None` only for an empty set.
pub fn p2c<T>(endpoints: &[T], load: impl Fn(&T) -> &Load) -> Option<usize> {
    let healthy: Vec<usize> = (0..endpoints.len())
        .filter(|&i| load(&endpoints[i]).healthy())
        .collect();
    let pool: Vec<usize> = if healthy.is_empty() {
        (0..endpoints.len()).collect()
    } else {
        healthy
    };
    match pool.len() {
        0 => None,
        1 => Some(pool[0]),
        n => {
            let a = rand::random_range(0..n);
            let mut b = rand::random_range(0..n - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (pool[a], pool[b]);
            Some(
                if load(&endpoints[a]).cost() <= load(&endpoints[b]).cost() {
                    a
                } else {
                    b
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_slow_endpoint_receives_less() {
        let loads: Vec<Load> = (0..3).map(|_| Load::default()).collect();
        loads[0].observe(Duration::from_millis(100));
        loads[1].observe(Duration::from_millis(1));
        loads[2].observe(Duration::from_millis(1));
        let mut c = [0; 3];
        for _ in 0..3000 {
            c[p2c(&loads, |l| l).unwrap()] += 1;
        }
        // With two of three drawn, the slow one wins only when drawn twice,
        // which P2C never does: it gets nothing while the others are cheaper.
        assert_eq!(c[0], 0, "{c:?}");
        assert!(c[1] > 800 && c[2] > 800, "{c:?}");
    }

    #[test]
    fn failed_endpoints_are_skipped_while_others_are_healthy() {
        let loads: Vec<Load> = (0..3).map(|_| Load::default()).collect();
        loads[1].failed();
        for _ in 0..200 {
            assert_ne!(p2c(&loads, |l| l), Some(1));
        }
        loads[0].failed();
        loads[2].failed();
        assert!(p2c(&loads, |l| l).is_some(), "all failed: still try one");
        assert_eq!(p2c::<Load>(&[], |l| l), None);
    }
}
