//! Order statistics over a handful of samples. Runs here have tens of samples, not thousands,
//! so percentiles use the nearest-rank definition: every reported figure is a value that was
//! actually observed, and p99 of ten samples is honestly their maximum rather than an
//! interpolation that was never measured.

use serde::Serialize;

/// Median, spread and tail of a set of samples (milliseconds unless a caller says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// Smallest.
    pub min: f64,
    /// Nearest-rank 50th percentile.
    pub p50: f64,
    /// Nearest-rank 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// The summary of `samples`, or `None` when there are none (NaN samples are ignored: they
    /// cannot be ordered, and a measurement never produces one).
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|s| !s.is_nan()).collect();
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            count: sorted.len(),
            min: *sorted.first()?,
            p50: nearest_rank(&sorted, 50.0)?,
            p99: nearest_rank(&sorted, 99.0)?,
            max: *sorted.last()?,
        })
    }
}

/// The nearest-rank `percentile` (0–100) of ascending `sorted` samples: the smallest sample
/// such that at least `percentile`% of the samples are at or below it.
pub fn nearest_rank(sorted: &[f64], percentile: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&percentile) {
        return None;
    }
    let rank = (percentile / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_observed_samples() {
        let sorted: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(nearest_rank(&sorted, 50.0), Some(5.0));
        assert_eq!(nearest_rank(&sorted, 99.0), Some(10.0));
        assert_eq!(nearest_rank(&sorted, 90.0), Some(9.0));
        assert_eq!(nearest_rank(&sorted, 91.0), Some(10.0));
        assert_eq!(nearest_rank(&sorted, 0.0), Some(1.0));
        assert_eq!(nearest_rank(&sorted, 100.0), Some(10.0));
        let hundred: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(nearest_rank(&hundred, 99.0), Some(198.0));
    }

    #[test]
    fn nearest_rank_refuses_what_has_no_answer() {
        assert_eq!(nearest_rank(&[], 50.0), None);
        assert_eq!(nearest_rank(&[1.0], 101.0), None);
        assert_eq!(nearest_rank(&[1.0], -1.0), None);
        assert_eq!(nearest_rank(&[1.0], f64::NAN), None);
    }

    #[test]
    fn summary_sorts_and_ignores_nan() {
        let summary = Summary::of(&[30.0, f64::NAN, 10.0, 20.0]).expect("samples");
        assert_eq!(
            summary,
            Summary {
                count: 3,
                min: 10.0,
                p50: 20.0,
                p99: 30.0,
                max: 30.0
            }
        );
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[f64::NAN]), None);
        let one = Summary::of(&[7.0]).expect("one sample");
        assert_eq!((one.min, one.p50, one.p99, one.max), (7.0, 7.0, 7.0, 7.0));
    }
}
