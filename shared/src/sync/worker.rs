//! The `sync-worker` Lambda's work: one action per Step Functions task (a phase, finalize on
//! success or failure, a page of active tenants, taking a scheduled run's lease), with small
//! JSON in and out so state never holds rows (the 256 KB state limit).
//!
//! Input is `{ "action": "<name>", ... }`; each action's members and result are documented
//! on [`WorkerInput`] and in `docs/sync-worker.md`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::events::EventPublisher;
use super::phases::{self, EssentialPhase, ReferencePhase};
use super::record::{self, RunOptions, StartError};
use super::run::{validation_phase, Phases, SyncOptions, SyncResults, ValidationPhase};
use crate::store::writer::Writer;
use crate::store::{reader, StoreError};
use crate::time::Timestamp;

/// Active tenants per page of the scheduled sync.
pub const DEFAULT_TENANT_PAGE: i32 = 50;

/// A task input.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum WorkerInput {
    /// Runs the essential phase; returns [`EssentialPhase`].
    Essential {
        /// The tenant.
        tenant_id: String,
        /// The run; its lease is renewed first.
        sync_id: String,
    },
    /// Runs the reference phase; returns [`ReferencePhase`].
    Reference {
        /// The tenant.
        tenant_id: String,
        /// The run.
        sync_id: String,
    },
    /// Runs validation; returns [`ValidationPhase`].
    Validation {
        /// The tenant.
        tenant_id: String,
        /// The run.
        sync_id: String,
        /// Skip the reference checks.
        #[serde(default)]
        skip_reference_data: bool,
    },
    /// Records the results, releases the lease, publishes the event; returns
    /// `{ syncId, status }` (`superseded` when the run was replaced meanwhile).
    Finalize {
        /// The tenant.
        tenant_id: String,
        /// The run.
        sync_id: String,
        /// The essential phase's output.
        essential: Box<EssentialPhase>,
        /// The reference phase's output, absent when skipped.
        #[serde(default)]
        reference: Option<Box<ReferencePhase>>,
        /// The validation phase's output.
        validation: Box<ValidationPhase>,
    },
    /// Records a run stopped by an error as failed and releases the lease; returns
    /// `{ syncId, status }`.
    FinalizeFailed {
        /// The tenant.
        tenant_id: String,
        /// The run.
        sync_id: String,
    },
    /// One page of active tenants; returns `{ tenantIds, next }`.
    ListActiveTenants {
        /// Continue after this tenant id.
        #[serde(default)]
        after: Option<String>,
        /// Page size.
        #[serde(default)]
        limit: Option<i32>,
    },
    /// Takes a tenant's lease for a scheduled run; returns `{ tenantId, started, syncId,
    /// options }` (`started: false` when a run already holds the tenant or it is inactive).
    StartScheduledRun {
        /// The tenant.
        tenant_id: String,
    },
}

/// Why a task failed; the error name is what the state machine's `Retry` and `Catch` match.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// DynamoDB throttled or was unavailable: worth retrying.
    #[error("StoreUnavailable")]
    StoreUnavailable,
    /// Anything else the store reported.
    #[error("StoreFailed")]
    StoreFailed,
    /// The run no longer holds its lease (superseded): stop.
    #[error("RunSuperseded")]
    RunSuperseded,
    /// The run record does not exist.
    #[error("RunNotFound")]
    RunNotFound,
}

impl From<StoreError> for WorkerError {
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "sync worker store error");
        match error {
            StoreError::Unavailable(_) | StoreError::Conflict => Self::StoreUnavailable,
            _ => Self::StoreFailed,
        }
    }
}

/// Runs one task.
pub async fn handle(writer: &Writer, events: &EventPublisher, input: WorkerInput) -> Result<Value, WorkerError> {
    let store = writer.store();
    match input {
        WorkerInput::Essential { tenant_id, sync_id } => {
            renew(writer, &tenant_id, &sync_id).await?;
            Ok(to_value(&phases::essential(store, &tenant_id).await))
        }
        WorkerInput::Reference { tenant_id, sync_id } => {
            renew(writer, &tenant_id, &sync_id).await?;
            let catalog = reader::catalog(store).await?;
            Ok(to_value(&phases::reference(store, &tenant_id, &catalog).await))
        }
        WorkerInput::Validation { tenant_id, sync_id, skip_reference_data } => {
            renew(writer, &tenant_id, &sync_id).await?;
            Ok(to_value(&validation_phase(writer, &tenant_id, SyncOptions { skip_reference_data }).await))
        }
        WorkerInput::Finalize { tenant_id, sync_id, essential, reference, validation } => {
            let run = record::run(store, &tenant_id, &sync_id).await?.ok_or(WorkerError::RunNotFound)?;
            let (essential, validation) = (*essential, *validation);
            let reference = reference.map_or_else(phases::reference_skipped, |r| *r);
            let success = essential.success && (reference.skipped || reference.success) && validation.success;
            let completed_at = Timestamp::now();
            let results = SyncResults {
                tenant_id: tenant_id.clone(),
                sync_id: sync_id.clone(),
                started_at: run.started_at,
                completed_at,
                duration: completed_at.millis() - run.started_at.millis(),
                success,
                phases: Phases { essential, reference, validation },
            };
            finish(writer, events, &run, results).await
        }
        WorkerInput::FinalizeFailed { tenant_id, sync_id } => {
            let run = record::run(store, &tenant_id, &sync_id).await?.ok_or(WorkerError::RunNotFound)?;
            let results = SyncResults::stopped(&tenant_id, &sync_id, run.started_at);
            finish(writer, events, &run, results).await
        }
        WorkerInput::ListActiveTenants { after, limit } => {
            let (tenant_ids, next) =
                reader::active_tenant_ids(store, after.as_deref(), limit.unwrap_or(DEFAULT_TENANT_PAGE)).await?;
            Ok(json!({ "tenantIds": tenant_ids, "next": next }))
        }
        WorkerInput::StartScheduledRun { tenant_id } => {
            let active = reader::tenant(store, &tenant_id).await?.and_then(|t| t.rec).is_some_and(|t| t.active());
            if !active {
                return Ok(json!({ "tenantId": tenant_id, "started": false, "reason": "inactive" }));
            }
            match record::start(store, &tenant_id, "scheduler", RunOptions::default(), None).await {
                Ok(run) => {
                    Ok(json!({ "tenantId": tenant_id, "started": true, "syncId": run.sync_id, "options": run.options }))
                }
                Err(StartError::InProgress { run, .. }) => Ok(
                    json!({ "tenantId": tenant_id, "started": false, "reason": "in progress", "syncId": run.sync_id }),
                ),
                Err(StartError::Store(error)) => Err(error.into()),
            }
        }
    }
}

async fn renew(writer: &Writer, tenant_id: &str, sync_id: &str) -> Result<(), WorkerError> {
    if record::renew(writer.store(), tenant_id, sync_id).await? {
        Ok(())
    } else {
        Err(WorkerError::RunSuperseded)
    }
}

async fn finish(
    writer: &Writer,
    events: &EventPublisher,
    run: &record::RunRecord,
    results: SyncResults,
) -> Result<Value, WorkerError> {
    let tenant = reader::tenant(writer.store(), &run.tenant_id).await?.and_then(|t| t.rec);
    let kinde_org_id = tenant.map(|t| t.kinde_org_id).unwrap_or_default();
    let status = match super::run::complete(writer.store(), events, run, results, &kinde_org_id).await? {
        Some(finished) => finished.status.as_str(),
        None => "superseded",
    };
    Ok(json!({ "syncId": run.sync_id, "status": status }))
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Whether a Lambda payload is an EventBridge scheduled event rather than a task input.
pub fn is_scheduled_event(payload: &Value) -> bool {
    payload.get("source").and_then(Value::as_str) == Some("aws.events")
        && payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// A scheduled sync run in process: every page of active tenants, each tenant's run started,
/// executed and finished in turn. What the worker does with an EventBridge schedule event
/// when the schedule targets it directly rather than the scheduled-sync state machine.
pub async fn run_scheduled_inline(writer: &Writer, events: &EventPublisher) -> Result<Value, WorkerError> {
    let store = writer.store();
    let catalog = reader::catalog(store).await?;
    let (mut started, mut skipped) = (0u64, 0u64);
    let mut after: Option<String> = None;
    loop {
        let (tenant_ids, next) = reader::active_tenant_ids(store, after.as_deref(), DEFAULT_TENANT_PAGE).await?;
        for tenant_id in tenant_ids {
            match record::start(store, &tenant_id, "scheduler", RunOptions::default(), None).await {
                Ok(run) => {
                    let results =
                        super::run::run_phases(writer, &catalog, &tenant_id, &run.sync_id, run.options.sync()).await;
                    finish(writer, events, &run, results).await?;
                    started += 1;
                }
                Err(StartError::InProgress { .. }) => skipped += 1,
                Err(StartError::Store(error)) => return Err(error.into()),
            }
        }
        match next {
            Some(next) => after = Some(next),
            None => return Ok(json!({ "started": started, "skipped": skipped })),
        }
    }
}
