//! The `sync-worker` Lambda's work: one action per Step Functions task (a phase, finalize on
//! success or failure, the steps of a scheduled sync), with small JSON in and out so state
//! never holds rows (the 256 KB state limit), plus the two EventBridge events the worker is
//! a target of (a schedule tick, a tenant-sync execution that stopped).
//!
//! Input is `{ "action": "<name>", ... }`; each action's members and result are documented
//! on [`WorkerInput`] and in `docs/sync-worker.md`.

mod error;
mod input;
mod lease;
mod one_task;

use std::future::Future;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{json, Value};

pub use self::error::WorkerError;
pub use self::input::WorkerInput;
pub use self::lease::{with_renewal, RENEW_EVERY};
pub use self::one_task::{
    one_task_max_items, OneTaskEssential, OneTaskRest, DEFAULT_ONE_TASK_MAX_ITEMS, ONE_TASK_MAX_ITEMS_VAR,
};

use super::events::EventPublisher;
use super::launch::StepFunctions;
use super::phases;
use super::record::{self, StartError};
use super::run::{validation_phase, Phases, SyncOptions, SyncResults};
use super::schedule::{self, PageRequest};
use crate::store::writer::Writer;
use crate::store::{reader, Store};
use crate::time::Timestamp;

/// Active tenants per page of `listActiveTenants` and of the in-process scheduled sync.
pub const DEFAULT_TENANT_PAGE: i32 = 50;

/// What the worker works with: the store's writer, where completion events go, the Step
/// Functions client scheduled runs start their executions with, and the size up to which a
/// tenant syncs in one task.
#[derive(Debug, Clone)]
pub struct Worker {
    /// The store.
    pub writer: Writer,
    /// Where `TenantSyncCompleted` goes.
    pub events: std::sync::Arc<EventPublisher>,
    /// Starts tenant-sync executions and scheduler segments.
    pub step_functions: StepFunctions,
    /// Tenants with at most this many live items run every phase in their `essential` task
    /// (`SYNC_ONE_TASK_MAX_ITEMS`, [`one_task_max_items`]); 0 keeps one task per phase.
    pub one_task_max_items: u64,
}

impl Worker {
    /// Answers one Lambda payload: a scheduled event runs every tenant in process, a Step
    /// Functions execution status event frees a stopped run's lease, anything else must be a
    /// task input.
    pub async fn handle_payload(&self, payload: Value) -> Result<Value, WorkerError> {
        if is_scheduled_event(&payload) {
            return Box::pin(self.run_scheduled_inline()).await;
        }
        if super::stopped::is_status_event(&payload) {
            return Ok(super::stopped::release(self.writer.store(), &self.events, &payload).await?);
        }
        let input: WorkerInput = serde_json::from_value(payload)
            .map_err(|e| WorkerError::InvalidInput(format!("not a task input the worker knows: {e}")))?;
        // Boxed: the phases' futures nest deeply enough to overflow the compiler's layout
        // depth in the Lambda's handler otherwise, and they belong on the heap anyway.
        Box::pin(self.handle(input)).await
    }

    /// Runs one task.
    pub async fn handle(&self, input: WorkerInput) -> Result<Value, WorkerError> {
        let (writer, store) = (&self.writer, self.writer.store());
        match input {
            WorkerInput::Essential { tenant_id, sync_id, skip_reference_data } => {
                if one_task::fits(store, &tenant_id, self.one_task_max_items).await? {
                    let work = one_task::run(writer, &tenant_id, SyncOptions { skip_reference_data });
                    return Ok(to_value(&phase_task(store, &tenant_id, &sync_id, "all", work).await??));
                }
                let work = phases::essential(store, &tenant_id);
                Ok(to_value(&phase_task(store, &tenant_id, &sync_id, "essential", work).await?))
            }
            WorkerInput::Reference { tenant_id, sync_id } => {
                let work = async {
                    let catalog = reader::catalog(store).await?;
                    Ok::<_, WorkerError>(phases::reference(store, &tenant_id, &catalog).await)
                };
                Ok(to_value(&phase_task(store, &tenant_id, &sync_id, "reference", work).await??))
            }
            WorkerInput::Validation { tenant_id, sync_id, skip_reference_data } => {
                let work = validation_phase(writer, &tenant_id, SyncOptions { skip_reference_data });
                Ok(to_value(&phase_task(store, &tenant_id, &sync_id, "validation", work).await?))
            }
            WorkerInput::Finalize { tenant_id, sync_id, essential, reference, validation } => {
                let run = self.run(&tenant_id, &sync_id).await?;
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
                self.finish(&run, results).await
            }
            WorkerInput::FinalizeFailed { tenant_id, sync_id } => {
                let run = self.run(&tenant_id, &sync_id).await?;
                let status = super::run::finish_stopped(self.writer.store(), &self.events, &run).await?;
                Ok(finished(&run, status))
            }
            WorkerInput::ListActiveTenants { after, limit } => {
                let (tenant_ids, next) =
                    reader::active_tenant_ids(store, after.as_deref(), limit.unwrap_or(DEFAULT_TENANT_PAGE)).await?;
                Ok(json!({ "tenantIds": tenant_ids, "next": next }))
            }
            WorkerInput::BeginSchedule { schedule_id, execution_name } => {
                Ok(schedule::begin(store, schedule_id.as_deref().unwrap_or(&execution_name)).await?)
            }
            WorkerInput::StartScheduledPage { schedule_id, after, limit, tenant_sync_arn, count } => {
                let request = PageRequest {
                    schedule_id: &schedule_id,
                    after: after.as_deref(),
                    limit,
                    tenant_sync_arn: &tenant_sync_arn,
                    count,
                };
                Ok(to_value(&schedule::start_page(store, &self.events, &self.step_functions, request).await?))
            }
            WorkerInput::CheckScheduledPage { schedule_id, page } => {
                Ok(to_value(&schedule::check_page(store, &schedule_id, page).await?))
            }
            WorkerInput::ContinueSchedule { schedule_id, after, state_machine_arn } => {
                let sfn = &self.step_functions;
                Ok(schedule::continue_in_new_execution(store, sfn, &state_machine_arn, &schedule_id, &after).await?)
            }
            WorkerInput::EndSchedule { schedule_id } => Ok(schedule::end(store, &schedule_id).await?),
        }
    }

    async fn run(&self, tenant_id: &str, sync_id: &str) -> Result<record::RunRecord, WorkerError> {
        record::run(self.writer.store(), tenant_id, sync_id)
            .await?
            .ok_or_else(|| WorkerError::run_not_found(tenant_id, sync_id))
    }

    async fn finish(&self, run: &record::RunRecord, results: SyncResults) -> Result<Value, WorkerError> {
        let status = super::run::finish(self.writer.store(), &self.events, run, results).await?;
        Ok(finished(run, status))
    }

    /// A scheduled sync run in process: every page of active tenants, each tenant's run
    /// started (replacing runs whose lease expired), executed and finished in turn. What the
    /// worker does with an EventBridge schedule event when the schedule targets it directly
    /// rather than the scheduled-sync state machine (a small deployment).
    pub async fn run_scheduled_inline(&self) -> Result<Value, WorkerError> {
        let (writer, store) = (&self.writer, self.writer.store());
        let catalog = reader::catalog(store).await?;
        let schedule_key = super::run::new_sync_id();
        let (mut started, mut skipped) = (0u64, 0u64);
        let mut after: Option<String> = None;
        loop {
            let (tenant_ids, next) = reader::active_tenant_ids(store, after.as_deref(), DEFAULT_TENANT_PAGE).await?;
            for tenant_id in tenant_ids {
                match record::start_reclaiming(store, &tenant_id, &schedule_key).await {
                    Ok(run) => {
                        let options = run.options.sync();
                        let results = super::run::run_phases(writer, &catalog, &tenant_id, &run.sync_id, options).await;
                        self.finish(&run, results).await?;
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
}

/// The answer of a finishing task: `{ syncId, status }`.
fn finished(run: &record::RunRecord, status: &str) -> Value {
    json!({ "syncId": run.sync_id, "status": status })
}

/// One phase task: `work` under the run's lease renewal, its duration emitted as the phase's
/// metric. Boxed, and `work` boxed inside it: held inline, every arm's state machine is
/// copied through the handler's poll frame, and debug builds overflowed a test thread's
/// 2 MiB stack.
fn phase_task<'a, T: Send + 'a>(
    store: &'a Store,
    tenant_id: &'a str,
    sync_id: &'a str,
    phase: &'static str,
    work: impl Future<Output = T> + Send + 'a,
) -> BoxFuture<'a, Result<T, WorkerError>> {
    let work = Box::pin(work);
    Box::pin(async move {
        let started = std::time::Instant::now();
        let output = with_renewal(store, tenant_id, sync_id, work).await;
        super::observe::phase_line(phase, tenant_id, started.elapsed()).emit();
        output
    })
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Whether a Lambda payload is an EventBridge scheduled event rather than a task input.
pub fn is_scheduled_event(payload: &Value) -> bool {
    payload.get("source").and_then(Value::as_str) == Some("aws.events")
        && payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}
