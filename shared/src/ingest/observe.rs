//! The metrics of ingested batches, as EMF lines (`crate::metrics`): changes by outcome, and
//! the lag from a change's `occurredAt` (when the platform made it) to its application, one
//! sample per change so the p99 is over changes, not batches.

use crate::audit::ChangeCounts;
use crate::metrics::{MetricLine, Unit};
use crate::time::Timestamp;

/// The line of one batch (`way`: `queue` or `http`) whose changes ended as `counts` says;
/// `occurred` holds the `occurredAt` of the changes applied now (others carry none).
pub fn batch_line(way: &'static str, counts: &ChangeCounts, occurred: &[Timestamp]) -> MetricLine {
    let now = Timestamp::now().millis();
    let lags = occurred.iter().map(|at| (now - at.millis()).max(0) as f64).collect();
    let count = |outcome: &str| counts.outcomes.get(outcome).copied().unwrap_or(0) as f64;
    MetricLine::new()
        .dimension("Way", way)
        .rollup(&[])
        .metric("IngestChanges", Unit::Count, counts.received as f64)
        .metric("IngestApplied", Unit::Count, count("applied"))
        .metric("IngestUnchanged", Unit::Count, count("unchanged"))
        .metric("IngestStale", Unit::Count, count("stale"))
        .metric("IngestRejected", Unit::Count, count("rejected"))
        .metric("IngestFailed", Unit::Count, count("failed"))
        .values("IngestLag", Unit::Milliseconds, lags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_line_counts_outcomes_and_one_lag_per_change() {
        let mut counts = ChangeCounts { received: 3, ..Default::default() };
        counts.count_outcome("applied");
        counts.count_outcome("applied");
        counts.count_outcome("stale");
        let earlier = Timestamp::now().plus_millis(-2_000);
        let line = batch_line("queue", &counts, &[earlier, earlier]).to_json(1);
        assert_eq!(line["IngestApplied"], 2.0);
        assert_eq!(line["IngestStale"], 1.0);
        assert_eq!(line["IngestRejected"], 0.0);
        let lags = line["IngestLag"].as_array().unwrap();
        assert_eq!(lags.len(), 2);
        assert!(lags.iter().all(|lag| lag.as_f64().unwrap() >= 2_000.0));
        assert!(batch_line("http", &counts, &[]).to_json(1).get("IngestLag").is_none(), "no sample, no metric");
    }
}
