//! Executions that end without running their failure step: Step Functions reports a
//! tenant-sync execution that failed, timed out or was stopped as an EventBridge "Step
//! Functions Execution Status Change" event; the template's rule sends those to the worker,
//! which records the run as failed and frees its lease (when the execution's own
//! `FinalizeFailed` has not already done so).

use serde_json::{json, Value};

use super::events::EventPublisher;
use super::record::{self, RunStatus};
use super::run;
use crate::store::{Store, StoreError};

/// The statuses after which an execution will not free its lease itself.
pub const STOPPED_STATUSES: [&str; 3] = ["FAILED", "TIMED_OUT", "ABORTED"];
/// The `detail-type` of Step Functions' execution status events.
pub const STATUS_CHANGE: &str = "Step Functions Execution Status Change";

/// A stopped tenant-sync execution, read from its status event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedExecution {
    /// The tenant.
    pub tenant_id: String,
    /// The run (the execution's name).
    pub sync_id: String,
    /// `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
}

/// Whether `payload` is an execution status event (of any status): the worker answers those
/// with [`release`] rather than reading them as a task input.
pub fn is_status_event(payload: &Value) -> bool {
    payload.get("source").and_then(Value::as_str) == Some("aws.states")
        && payload.get("detail-type").and_then(Value::as_str) == Some(STATUS_CHANGE)
}

/// The stopped run a status event names; `None` for a status that is not a stop, or an
/// execution whose input names no run (not a tenant-sync execution).
pub fn stopped_execution(payload: &Value) -> Option<StoppedExecution> {
    let detail = payload.get("detail")?;
    let status = detail.get("status")?.as_str()?;
    if !STOPPED_STATUSES.contains(&status) {
        return None;
    }
    // Step Functions gives the execution's input as a JSON string.
    let input: Value = serde_json::from_str(detail.get("input")?.as_str()?).ok()?;
    Some(StoppedExecution {
        tenant_id: input.get("tenantId")?.as_str()?.to_owned(),
        sync_id: input.get("syncId")?.as_str()?.to_owned(),
        status: status.to_owned(),
    })
}

/// Records the run of a stopped execution as failed and frees its lease, unless it already
/// finished. Returns `{ syncId, status }` (`ignored` for an event that names no stopped run).
pub async fn release(store: &Store, events: &EventPublisher, payload: &Value) -> Result<Value, StoreError> {
    let Some(stopped) = stopped_execution(payload) else {
        return Ok(json!({ "status": "ignored" }));
    };
    let Some(run) = record::run(store, &stopped.tenant_id, &stopped.sync_id).await? else {
        return Ok(json!({ "syncId": stopped.sync_id, "status": "unknown run" }));
    };
    if run.status != RunStatus::Running {
        return Ok(json!({ "syncId": run.sync_id, "status": run.status.as_str(), "alreadyFinished": true }));
    }
    tracing::warn!(
        tenant_id = run.tenant_id,
        sync_id = run.sync_id,
        execution = stopped.status,
        "releasing a stopped run"
    );
    let status = run::finish_stopped(store, events, &run).await?;
    Ok(json!({ "syncId": run.sync_id, "status": status, "execution": stopped.status }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: &str, input: &str) -> Value {
        json!({
            "version": "0", "id": "e", "detail-type": STATUS_CHANGE, "source": "aws.states",
            "detail": { "executionArn": "arn:aws:states:us-east-1:1:execution:m:x", "status": status, "input": input }
        })
    }

    #[test]
    fn a_stopped_status_event_names_its_run() {
        let input = r#"{"tenantId":"t1","syncId":"s1","options":{"skipReferenceData":false}}"#;
        for status in STOPPED_STATUSES {
            let payload = event(status, input);
            assert!(is_status_event(&payload));
            assert_eq!(
                stopped_execution(&payload),
                Some(StoppedExecution { tenant_id: "t1".into(), sync_id: "s1".into(), status: status.into() })
            );
        }
    }

    #[test]
    fn running_succeeded_and_foreign_executions_are_not_stops() {
        let input = r#"{"tenantId":"t1","syncId":"s1"}"#;
        assert_eq!(stopped_execution(&event("RUNNING", input)), None);
        assert_eq!(stopped_execution(&event("SUCCEEDED", input)), None);
        assert_eq!(stopped_execution(&event("FAILED", r#"{"scheduleId":null}"#)), None);
        assert_eq!(stopped_execution(&event("FAILED", "not json")), None);
        assert!(!is_status_event(&json!({ "source": "aws.events", "detail-type": "Scheduled Event" })));
    }
}
