//! The task inputs the worker accepts: `{ "action": "<name>", ... }`.

use serde::Deserialize;
use serde_json::Value;

use crate::sync::phases::{EssentialPhase, ReferencePhase};
use crate::sync::run::ValidationPhase;
use crate::sync::schedule::PageState;

/// A task input.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum WorkerInput {
    /// Runs the essential phase; returns [`EssentialPhase`]. A tenant within the worker's
    /// one-task limit gets every phase in one read instead
    /// ([`OneTaskEssential`](super::OneTaskEssential)).
    Essential {
        /// The tenant.
        tenant_id: String,
        /// The run; its lease is renewed first.
        sync_id: String,
        /// Skip the reference phase, should the run take one task.
        #[serde(default)]
        skip_reference_data: bool,
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
    /// Takes the schedule lease; returns `{ scheduleId, proceed }` (`proceed: false` while
    /// another schedule still runs). The first execution of a schedule has no `scheduleId`
    /// and its own execution name becomes it.
    BeginSchedule {
        /// The schedule, `null` for its first execution.
        #[serde(default)]
        schedule_id: Option<String>,
        /// This execution's name (`$$.Execution.Name`).
        execution_name: String,
    },
    /// Starts the runs of the next page of active tenants; returns the page
    /// ([`PageState`]).
    StartScheduledPage {
        /// The schedule.
        schedule_id: String,
        /// Continue after this tenant.
        #[serde(default)]
        after: Option<String>,
        /// Tenants per page (a number, or its decimal text as a definition substitution
        /// gives it).
        #[serde(deserialize_with = "number_or_text")]
        limit: i32,
        /// The tenant-sync state machine.
        tenant_sync_arn: String,
        /// Pages this execution handled before.
        #[serde(default)]
        count: u32,
    },
    /// Drops the page's finished runs; returns the page.
    CheckScheduledPage {
        /// The schedule.
        schedule_id: String,
        /// The page as the last step returned it.
        page: PageState,
    },
    /// Hands the tenants after `after` to a new execution of the scheduled-sync machine.
    ContinueSchedule {
        /// The schedule.
        schedule_id: String,
        /// Continue after this tenant.
        after: String,
        /// The scheduled-sync state machine (`$$.StateMachine.Id`).
        state_machine_arn: String,
    },
    /// Releases the schedule lease; returns `{ scheduleId, released }`.
    EndSchedule {
        /// The schedule.
        schedule_id: String,
    },
}

/// Accepts `50` or `"50"`.
fn number_or_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    use serde::de::Error;
    match Value::deserialize(deserializer)? {
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| D::Error::custom("limit is not a whole number")),
        Value::String(s) => s.trim().parse().map_err(|_| D::Error::custom("limit is not a whole number")),
        _ => Err(D::Error::custom("limit must be a number")),
    }
}
