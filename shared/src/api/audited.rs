//! Audit entries of the API's mutating routes (sync triggers and change batches): one per
//! request that reached an authorized tenant (or the platform scope), with its outcome. A
//! request refused before that is only logged, so no caller can fill another tenant's trail.

use axum::http::StatusCode;
use axum::response::Response;

use super::error::ApiError;
use super::extract::Authenticated;
use super::request_id::RequestId;
use super::AppState;
use crate::audit::{AuditEntry, ChangeCounts};
use crate::auth::TokenKind;
use crate::time::Timestamp;

/// The parts of an audit entry every mutating route knows the same way.
pub(super) struct Audit<'a> {
    /// What is done: `sync.trigger`, `changes.post`.
    pub action: &'static str,
    /// Who does it.
    pub caller: &'a Authenticated,
    /// The request's id, when the middleware assigned one.
    pub request_id: Option<axum::Extension<RequestId>>,
}

impl Audit<'_> {
    /// Records the entry of a request on `tenant_id` (`None`: platform-wide records) whose
    /// answer had `outcome` ([`outcome`]).
    pub async fn record(
        self,
        state: &AppState,
        tenant_id: Option<String>,
        outcome: String,
        sync_id: Option<String>,
        changes: Option<ChangeCounts>,
    ) {
        let entry = AuditEntry {
            action: self.action,
            tenant_id,
            principal: self.caller.0.principal.clone(),
            caller_kind: if self.caller.0.kind == TokenKind::Service { "service" } else { "kinde" },
            outcome,
            sync_id,
            request_id: self.request_id.map(|id| id.0 .0.clone()),
            changes,
            at: Timestamp::now(),
        };
        state.audit.record(entry).await;
    }

    /// Logs a request that ended before its tenant was authorized (no entry is stored).
    pub fn refused_before_access(self, result: &Result<Response, ApiError>) {
        let outcome = outcome(result, |_| "answered");
        tracing::info!(action = self.action, principal = %self.caller.0.principal, %outcome, "refused before tenant access");
    }
}

/// The outcome of a request that ended in `result`: `replayed` for an idempotent replay,
/// `ok_outcome` of another answer, the error's code for a refusal. Taken before the entry is
/// written, since a response cannot be held across the write.
pub(super) fn outcome(
    result: &Result<Response, ApiError>,
    ok_outcome: impl FnOnce(&Response) -> &'static str,
) -> String {
    match result {
        Ok(response) if response.headers().contains_key("idempotent-replayed") => "replayed".to_owned(),
        Ok(response) => ok_outcome(response).to_owned(),
        Err(error) => refusal(error),
    }
}

/// The outcome of a refusal: its error code in lower case (`tenant_inactive`), else its
/// status's reason phrase in snake case (`bad_request`).
fn refusal(error: &ApiError) -> String {
    match error.code() {
        Some(code) => code.to_lowercase(),
        None => {
            let status = error.status();
            status
                .canonical_reason()
                .map(|reason| reason.to_lowercase().replace(' ', "_"))
                .unwrap_or_else(|| status.as_u16().to_string())
        }
    }
}

/// `started` for a 202, else `completed`: a sync trigger's successful answers.
pub(super) fn trigger_outcome(response: &Response) -> &'static str {
    if response.status() == StatusCode::ACCEPTED {
        "started"
    } else {
        "completed"
    }
}
