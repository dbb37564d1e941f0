//! The worker's errors, typed so Step Functions can match them.

use crate::store::StoreError;

use crate::sync::schedule::ScheduleError;

/// Why a task failed. [`WorkerError::error_type`] is the Lambda error type the state
/// machines' `Retry` and `Catch` match; the `Display` text is the message an execution's
/// history shows, so an operator reads why, not only what.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// DynamoDB throttled or was unavailable, or a write kept conflicting: worth retrying.
    #[error("{0}")]
    StoreUnavailable(String),
    /// Anything else the store reported.
    #[error("{0}")]
    StoreFailed(String),
    /// The run no longer holds its lease (superseded): stop.
    #[error("run {sync_id} of tenant {tenant_id} no longer holds the tenant's lease")]
    RunSuperseded {
        /// The tenant.
        tenant_id: String,
        /// The run.
        sync_id: String,
    },
    /// The run record does not exist.
    #[error("tenant {tenant_id} has no run {sync_id}")]
    RunNotFound {
        /// The tenant.
        tenant_id: String,
        /// The run.
        sync_id: String,
    },
    /// The task input is not one the worker knows.
    #[error("{0}")]
    InvalidInput(String),
    /// Step Functions refused or failed a call the worker made (starting an execution).
    #[error("{0}")]
    StepFunctionsFailed(String),
    /// Another scheduled sync took the schedule lease (this one's had expired): stop.
    #[error("{0}")]
    ScheduleSuperseded(String),
}

impl WorkerError {
    /// The error type as the state machines match it (`StoreUnavailable`, `RunSuperseded`, ...).
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::StoreUnavailable(_) => "StoreUnavailable",
            Self::StoreFailed(_) => "StoreFailed",
            Self::RunSuperseded { .. } => "RunSuperseded",
            Self::RunNotFound { .. } => "RunNotFound",
            Self::InvalidInput(_) => "InvalidInput",
            Self::StepFunctionsFailed(_) => "StepFunctionsFailed",
            Self::ScheduleSuperseded(_) => "ScheduleSuperseded",
        }
    }

    pub(super) fn run_not_found(tenant_id: &str, sync_id: &str) -> Self {
        Self::RunNotFound { tenant_id: tenant_id.to_owned(), sync_id: sync_id.to_owned() }
    }
}

impl From<StoreError> for WorkerError {
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "sync worker store error");
        match error {
            StoreError::Unavailable(_) | StoreError::Conflict => Self::StoreUnavailable(error.to_string()),
            _ => Self::StoreFailed(error.to_string()),
        }
    }
}

impl From<ScheduleError> for WorkerError {
    fn from(error: ScheduleError) -> Self {
        match error {
            ScheduleError::Store(error) => error.into(),
            ScheduleError::Superseded(_) => Self::ScheduleSuperseded(error.to_string()),
            ScheduleError::StartExecution(error) => Self::StepFunctionsFailed(error.to_string()),
        }
    }
}
