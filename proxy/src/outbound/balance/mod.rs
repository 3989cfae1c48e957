//! Choosing where each request (HTTP) or connection (TCP) goes: smooth
//! weighted round-robin across TrafficSplit backends ([`wrr`]), then power
//! of two choices over the backend's endpoints by latency and load
//! ([`ewma`]), skipping endpoints that just failed while others are healthy.

pub mod ewma;
pub mod wrr;

use ewma::Load;

/// Two random candidates, the cheaper more likely: each wins in inverse
/// proportion to its cost, so endpoints alike share evenly (a strict "cheaper
/// wins" lets measurement noise starve one of them) while a slow one is
/// rarely chosen. Endpoints that failed recently are left out unless nothing
/// else is left. `None` only for an empty set.
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
            let (ca, cb) = (load(&endpoints[a]).cost(), load(&endpoints[b]).cost());
            let p_a = if ca + cb > 0.0 { cb / (ca + cb) } else { 0.5 };
            Some(if rand::random::<f64>() < p_a { a } else { b })
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
        // Against a 100× cheaper rival the slow one wins about 1% of its
        // draws; the two alike split the rest evenly.
        assert!(c[0] < 60, "{c:?}");
        assert!(c[1] > 1200 && c[2] > 1200, "{c:?}");
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
