//! Smooth weighted round-robin: over any run of requests each backend's
//! share follows its weight as closely as whole requests allow, and picks
//! are interleaved rather than bunched (5/1 gives a a b a a a, not a×5 b).

/// The running state for one weighted set; weights are passed on every pick
/// so a change applies to the next request.
#[derive(Debug, Default)]
pub struct SmoothWrr {
    current: Vec<i64>,
}

impl SmoothWrr {
    /// The index to use next among `weights`, skipping those `eligible`
    /// rejects (a backend with no endpoints); `None` when nothing with a
    /// positive weight is eligible.
    pub fn pick(&mut self, weights: &[u32], eligible: impl Fn(usize) -> bool) -> Option<usize> {
        if self.current.len() != weights.len() {
            self.current = vec![0; weights.len()];
        }
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, &w) in weights.iter().enumerate() {
            if w == 0 || !eligible(i) {
                continue;
            }
            self.current[i] += i64::from(w);
            total += i64::from(w);
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        self.current[b] -= total;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(weights: &[u32], n: usize) -> Vec<usize> {
        let mut w = SmoothWrr::default();
        let mut c = vec![0; weights.len()];
        for _ in 0..n {
            c[w.pick(weights, |_| true).unwrap()] += 1;
        }
        c
    }

    #[test]
    fn shares_are_exact_over_a_whole_cycle() {
        assert_eq!(counts(&[1, 0], 100), vec![100, 0]);
        assert_eq!(counts(&[75, 25], 100), vec![75, 25]);
        assert_eq!(counts(&[90, 10], 1000), vec![900, 100]);
        assert_eq!(counts(&[1, 1, 1], 99), vec![33, 33, 33]);
    }

    #[test]
    fn picks_are_interleaved() {
        let mut w = SmoothWrr::default();
        let seq: Vec<_> = (0..6).map(|_| w.pick(&[5, 1], |_| true).unwrap()).collect();
        assert_eq!(seq.iter().filter(|&&i| i == 1).count(), 1);
        assert_ne!(
            seq[5], 1,
            "the light backend is not left to the end: {seq:?}"
        );
    }

    #[test]
    fn ineligible_and_zero_weight_backends_are_skipped() {
        let mut w = SmoothWrr::default();
        for _ in 0..10 {
            assert_eq!(w.pick(&[3, 1], |i| i != 0), Some(1));
        }
        assert_eq!(w.pick(&[0, 0], |_| true), None);
        assert_eq!(w.pick(&[5], |_| false), None);
    }

    #[test]
    fn a_weight_change_applies_to_the_next_picks() {
        let mut w = SmoothWrr::default();
        for _ in 0..10 {
            w.pick(&[1, 0], |_| true);
        }
        let mut c = [0; 2];
        for _ in 0..100 {
            c[w.pick(&[0, 1], |_| true).unwrap()] += 1;
        }
        assert_eq!(c, [0, 100]);
    }
}
