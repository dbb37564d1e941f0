//! The `TenantSyncCompleted` event (contract section 11), published to the EventBridge bus
//! named by `EVENT_BUS_NAME`, or logged when no bus is configured (local runs).

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

/// Where completion events go.
#[derive(Debug)]
pub enum EventPublisher {
    /// The log (no bus configured).
    Log,
    /// An EventBridge bus.
    Bus {
        /// The EventBridge client.
        client: aws_sdk_eventbridge::Client,
        /// The bus name.
        bus: String,
    },
}

impl EventPublisher {
    /// The bus named by `EVENT_BUS_NAME` (`EVENTBRIDGE_ENDPOINT` overrides the endpoint), or
    /// the log.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, aws: &crate::config::StoreConfig) -> Self {
        let Some(bus) = lookup("EVENT_BUS_NAME") else {
            return Self::Log;
        };
        let mut builder = aws_sdk_eventbridge::Config::builder()
            .http_client(crate::store::aws_http_client())
            .timeout_config(crate::store::aws_timeouts(aws))
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new(aws.region.clone()))
            .credentials_provider(aws.credentials());
        if let Some(endpoint) = lookup("EVENTBRIDGE_ENDPOINT") {
            builder = builder.endpoint_url(endpoint);
        }
        Self::Bus { client: aws_sdk_eventbridge::Client::from_conf(builder.build()), bus }
    }

    /// Publishes the event of a finished run. Returns whether it was delivered (or logged);
    /// a failure is logged with the run's id and does not undo the run.
    pub async fn publish(&self, run: &RunRecord, kinde_org_id: &str, results: &SyncResults) -> bool {
        let detail = detail(run, kinde_org_id, results);
        let Self::Bus { client, bus } = self else {
            tracing::info!(source = SOURCE, detail_type = DETAIL_TYPE, detail = %detail, "sync completed (no event bus configured)");
            return true;
        };
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(DETAIL_TYPE)
            .detail(detail.to_string())
            .event_bus_name(bus)
            .build();
        match client.put_events().entries(entry).send().await {
            Ok(output) if output.failed_entry_count() == 0 => true,
            Ok(_) => {
                tracing::error!(sync_id = %run.sync_id, "the event bus refused the TenantSyncCompleted event");
                false
            }
            Err(error) => {
                let error = aws_sdk_eventbridge::error::DisplayErrorContext(&error);
                tracing::error!(sync_id = %run.sync_id, %error, "could not publish the TenantSyncCompleted event");
                false
            }
        }
    }
}
