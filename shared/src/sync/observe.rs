//! The metrics of sync runs, as EMF lines (`crate::metrics`): per finished run its outcome,
//! duration, records covered and validation issues; per phase task its duration. The tenant
//! travels as a property (a Logs Insights query gives one tenant's runs), never a dimension.

use std::time::Duration;

use super::run::SyncResults;
use crate::metrics::{MetricLine, Unit};

/// The line of a finished run (`status`: `succeeded`, `failed`).
pub fn run_line(results: &SyncResults, status: &str) -> MetricLine {
    let issues = results.phases.validation.validation.issues.len();
    MetricLine::new()
        .dimension("Outcome", status)
        .rollup(&[])
        .metric("SyncRuns", Unit::Count, 1.0)
        .metric("SyncDuration", Unit::Milliseconds, results.duration.max(0) as f64)
        .metric("SyncRecords", Unit::Count, records_covered(results) as f64)
        .metric("SyncValidationIssues", Unit::Count, issues as f64)
        .metric("SyncRunsWithIssues", Unit::Count, f64::from(u8::from(issues > 0)))
        .property("tenantId", results.tenant_id.as_str())
        .property("syncId", results.sync_id.as_str())
}

/// Records every sub-result of the run counted.
fn records_covered(results: &SyncResults) -> u64 {
    let essential = &results.phases.essential.data;
    let reference = &results.phases.reference.data;
    let steps = [&essential.tenant, &essential.user_profiles, &essential.organizations];
    let optional = [
        &reference.tenant_users,
        &reference.roles,
        &reference.credit_configs,
        &reference.entity_credits,
        &reference.employee_assignments,
        &reference.role_assignments,
    ];
    steps.iter().map(|s| s.count).sum::<u64>()
        + optional.iter().filter_map(|s| s.as_ref()).map(|s| s.count).sum::<u64>()
}

/// The line of one phase (`essential`, `reference`, `validation`, or `all` for a run in
/// process or a worker's one-task run, which read the tenant once for every phase).
pub fn phase_line(phase: &'static str, tenant_id: &str, took: Duration) -> MetricLine {
    MetricLine::new()
        .dimension("Phase", phase)
        .metric("SyncPhaseDuration", Unit::Milliseconds, took.as_secs_f64() * 1000.0)
        .property("tenantId", tenant_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::run::SyncResults;
    use crate::time::Timestamp;

    #[test]
    fn a_stopped_run_reports_its_failure_and_no_records() {
        let results = SyncResults::stopped("t-1", "s-1", Timestamp::now());
        let line = run_line(&results, "failed").to_json(1);
        assert_eq!(line["Outcome"], "failed");
        assert_eq!(line["SyncRecords"], 0.0);
        assert_eq!(line["tenantId"], "t-1");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Outcome"], []]));
        let phase = phase_line("essential", "t-1", Duration::from_millis(1500)).to_json(1);
        assert_eq!(phase["SyncPhaseDuration"], 1500.0);
    }
}
