//! The `TenantSyncCompleted` event (contract section 11). Publishing to an EventBridge bus
//! comes with the worker; with no bus configured the event is logged, as the contract says
//! for local runs.

use serde_json::{json, Value};

use super::phases::StepResult;
use super::record::RunRecord;
use super::run::SyncResults;

/// Event source.
pub const SOURCE: &str = "wrapper.app-sync";
/// Event detail type.
pub const DETAIL_TYPE: &str = "TenantSyncCompleted";

fn count(step: Option<&StepResult>) -> Value {
    step.filter(|s| s.success).map_or(Value::Null, |s| json!(s.count))
}

/// The event detail of a finished run.
pub fn detail(run: &RunRecord, kinde_org_id: &str, results: &SyncResults) -> Value {
    let essential = &results.phases.essential.data;
    let reference = &results.phases.reference.data;
    let steps = [
        Some(&essential.user_profiles),
        Some(&essential.organizations),
        reference.tenant_users.as_ref(),
        reference.roles.as_ref(),
        reference.credit_configs.as_ref(),
        reference.entity_credits.as_ref(),
        reference.employee_assignments.as_ref(),
        reference.role_assignments.as_ref(),
    ];
    let watermark = steps.iter().flatten().filter_map(|s| s.watermark).max();
    json!({
        "schemaVersion": 1,
        "tenantId": run.tenant_id,
        "kindeOrgId": kinde_org_id,
        "syncId": run.sync_id,
        "success": results.success,
        "status": if results.success { "succeeded" } else { "failed" },
        "startedAt": results.started_at,
        "completedAt": results.completed_at,
        "counts": {
            "users": count(Some(&essential.user_profiles)),
            "organizations": count(Some(&essential.organizations)),
            "tenantUsers": count(reference.tenant_users.as_ref()),
            "roles": count(reference.roles.as_ref()),
            "creditConfigs": count(reference.credit_configs.as_ref()),
            "entityCredits": count(reference.entity_credits.as_ref()),
            "employeeAssignments": count(reference.employee_assignments.as_ref()),
            "roleAssignments": count(reference.role_assignments.as_ref()),
        },
        "watermark": watermark,
        "issuesCount": results.phases.validation.error.is_none().then_some(results.phases.validation.validation.issues.len()),
    })
}

/// Publishes (for now: logs) the event of a finished run.
pub fn publish(run: &RunRecord, kinde_org_id: &str, results: &SyncResults) {
    let detail = detail(run, kinde_org_id, results);
    tracing::info!(source = SOURCE, detail_type = DETAIL_TYPE, detail = %detail, "sync completed event (no event bus configured)");
}
