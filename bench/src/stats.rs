//! Samples of durations and the figures the report prints: medians, p99s, ratios.

use std::time::Duration;

/// Durations of one measured thing, in the order they were taken.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Records one duration.
    pub fn push(&mut self, value: Duration) {
        self.0.push(value);
    }

    /// The samples, in the order taken.
    pub fn values(&self) -> impl Iterator<Item = Duration> + '_ {
        self.0.iter().copied()
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted
    }

    /// The value at `fraction` (0 to 1) of the sorted samples, nearest rank.
    pub fn quantile(&self, fraction: f64) -> Duration {
        let sorted = self.sorted();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// The median.
    pub fn median(&self) -> Duration {
        self.quantile(0.5)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }
}

/// `a / b` of two durations.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        return f64::NAN;
    }
    a.as_secs_f64() / b.as_secs_f64()
}

/// Milliseconds with two decimals.
pub fn ms(value: Duration) -> String {
    format!("{:.2}", value.as_secs_f64() * 1000.0)
}

/// `met` or `MISSED` against a target ratio.
pub fn verdict(ratio: f64, target: f64) -> &'static str {
    if ratio <= target {
        "met"
    } else {
        "MISSED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(millis: &[u64]) -> Samples {
        let mut s = Samples::default();
        millis.iter().for_each(|m| s.push(Duration::from_millis(*m)));
        s
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let s = samples(&[5, 1, 4, 2, 3]);
        assert_eq!(s.median(), Duration::from_millis(3));
        assert_eq!(s.p99(), Duration::from_millis(5));
        assert_eq!(s.quantile(0.0), Duration::from_millis(1));
        assert_eq!(Samples::default().median(), Duration::ZERO);
    }

    #[test]
    fn ratios_and_verdicts() {
        assert_eq!(ratio(Duration::from_millis(3), Duration::from_millis(2)), 1.5);
        assert!(ratio(Duration::from_millis(3), Duration::ZERO).is_nan());
        assert_eq!(verdict(1.1, 1.15), "met");
        assert_eq!(verdict(1.2, 1.15), "MISSED");
    }
}
