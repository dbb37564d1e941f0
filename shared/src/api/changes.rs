//! `POST /tenants/{tenantId}/changes` and `POST /changes`: the platform's changes over HTTP,
//! for backfills and callers without EventBridge (`docs/ingest-format.md`).
//!
//! Order of checks: authentication, then `platform:write` (403 for every other token, read
//! scopes and Kinde tokens included), then the tenant (the caller's scope must cover it; it
//! must exist: a tenant's profile arrives on `POST /changes` first), then the body (415, 413,
//! 400 with one `details` entry per bad index and nothing written). A valid batch is applied
//! through the same writer as the queue's changes and answered with one result per change,
//! in order. With an `Idempotency-Key`, the first 200 is replayed for the same body and a
//! different body is 422; a store failure part-way is a 503 that is not stored, and the
//! caller sends the whole body again (applied changes come back `unchanged` or `stale`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Serialize;

use super::audited::{outcome, Audit};
use super::error::{ApiError, FieldProblem};
use super::extract::{Authenticated, TenantPath};
use super::request_id::RequestId;
use super::respond::json_text;
use super::AppState;
use crate::audit::ChangeCounts;
use crate::auth::CallerScope;
use crate::ingest::batch::{self, BatchError, ChangeResult, Framing, Scope};
use crate::ingest::receipts::{self, Claim, ReceiptKey};
use crate::ingest::Change;
use crate::store::writer::{Clock, Writer};

/// The answer to an applied batch.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchAnswer<'a> {
    /// Always `true` (the envelope of every successful answer).
    success: bool,
    /// The tenant of the route (absent on `POST /changes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<&'a str>,
    /// How many changes had each outcome.
    summary: Summary,
    /// One result per change, in the order sent.
    results: Vec<ChangeResult>,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    applied: usize,
    unchanged: usize,
    stale: usize,
    rejected: usize,
}

impl Summary {
    fn of(results: &[ChangeResult]) -> Self {
        let mut summary = Self::default();
        for result in results {
            match result.outcome {
                "applied" => summary.applied += 1,
                "unchanged" => summary.unchanged += 1,
                "stale" => summary.stale += 1,
                _ => summary.rejected += 1,
            }
        }
        summary
    }
}

/// Handler of `POST /tenants/{tenantId}/changes`. Every request that reaches the authorized
/// tenant leaves an audit entry (`changes.post`) with its outcome and counts.
pub async fn tenant_changes(
    State(state): State<AppState>,
    caller: Authenticated,
    tenant: TenantPath,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let audit = Audit { action: "changes.post", caller: &caller, request_id };
    let access = match may_write(&caller) {
        Ok(()) => super::tenant_access(&state, &caller, &tenant).await,
        Err(error) => Err(error),
    };
    let names = match access {
        Ok(names) => names,
        Err(error) => {
            let result = Err(error);
            audit.refused_before_access(&result);
            return result;
        }
    };
    audited_receive(&state, audit, Some(names.tenant_id), &headers, body).await
}

/// Handler of `POST /changes` (platform-wide records; platform scope required), audited
/// like the tenant route, in the platform's trail.
pub async fn platform_changes(
    State(state): State<AppState>,
    caller: Authenticated,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let audit = Audit { action: "changes.post", caller: &caller, request_id };
    let scope = may_write(&caller).and_then(|()| match caller.0.scope {
        CallerScope::Platform => Ok(()),
        _ => Err(ApiError::new(StatusCode::FORBIDDEN, "Platform-wide changes need a platform-wide token")
            .with_code("INSUFFICIENT_SCOPE")),
    });
    if let Err(error) = scope {
        let result = Err(error);
        audit.refused_before_access(&result);
        return result;
    }
    audited_receive(&state, audit, None, &headers, body).await
}

/// [`receive`], then its audit entry.
async fn audited_receive(
    state: &AppState,
    audit: Audit<'_>,
    tenant_id: Option<String>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut counts = None;
    let result = receive(state, audit.caller, tenant_id.as_deref(), headers, body, &mut counts).await;
    let outcome = outcome(&result, |_| "applied");
    audit.record(state, tenant_id, outcome, None, counts).await;
    result
}

/// 403 unless the caller holds `platform:write` (never implied by a read scope).
fn may_write(caller: &Authenticated) -> Result<(), ApiError> {
    if caller.0.can_write {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "Writing changes needs a service token with platform:write")
            .with_code("INSUFFICIENT_SCOPE"))
    }
}

async fn receive(
    state: &AppState,
    caller: &Authenticated,
    tenant_id: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    counts: &mut Option<ChangeCounts>,
) -> Result<Response, ApiError> {
    let mut problems = Vec::new();
    let key = super::sync::idempotency_key(headers, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let framing = framing(headers)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large("The request body exceeds 1 MiB")
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "The request body could not be read")
        }
    })?;
    let scope = tenant_id.map(Scope::Tenant).unwrap_or(Scope::Platform);
    let changes = batch::parse(&body, framing, scope).map_err(refused)?;
    let counts = counts.insert(ChangeCounts::received(&changes));
    let receipt = key.map(|key| ReceiptKey::new(tenant_id, &caller.0.principal, &key));
    let digest = receipts::digest(&body);
    if let Some(receipt) = &receipt {
        match receipts::claim(&state.store, receipt, &digest).await? {
            Claim::Claimed => {}
            Claim::Replay(answer) => return Ok(super::sync::replayed(raw_json(answer))),
            Claim::OtherBody => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Idempotency-Key was first used with a different body",
                )
                .with_code("IDEMPOTENCY_KEY_REUSED"))
            }
            Claim::InProgress => {
                return Err(ApiError::new(StatusCode::CONFLICT, "A request with this Idempotency-Key is in progress")
                    .with_code("IDEMPOTENCY_KEY_IN_USE")
                    .with_header(header::RETRY_AFTER, header::HeaderValue::from_static("1")))
            }
        }
    }
    let writer = Writer::new(state.store.clone(), Clock::System);
    let results = match batch::apply_all(&writer, &changes).await {
        Ok(results) => results,
        Err(error) => {
            if let Some(receipt) = &receipt {
                if let Err(release) = receipts::release(&state.store, receipt).await {
                    tracing::warn!(error = %release, "could not release an idempotency claim");
                }
            }
            return Err(error.into());
        }
    };
    log_results(caller, tenant_id, &changes, &results);
    results.iter().for_each(|result| counts.count_outcome(result.outcome));
    let applied = changes.iter().zip(&results).filter(|(_, result)| result.outcome == "applied");
    let occurred: Vec<_> = applied.filter_map(|(change, _)| change.occurred_at).collect();
    crate::ingest::observe::batch_line("http", counts, &occurred).emit();
    let answer = BatchAnswer { success: true, tenant_id, summary: Summary::of(&results), results };
    let text = serde_json::to_string(&answer).map_err(|e| ApiError::internal(&e))?;
    if let Some(receipt) = &receipt {
        receipts::answer(&state.store, receipt, &text).await?;
    }
    Ok(raw_json(text))
}

/// The body's framing from `Content-Type` (415 for anything else).
fn framing(headers: &HeaderMap) -> Result<Framing, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/json" => Ok(Framing::JsonArray),
        "application/x-ndjson" => Ok(Framing::NdJson),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request body must be application/json (an array of changes) or application/x-ndjson",
        )),
    }
}

fn too_large(message: &str) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message).with_code("PAYLOAD_TOO_LARGE")
}

/// The error of a body that is not a valid batch.
fn refused(error: BatchError) -> ApiError {
    match error {
        BatchError::TooMany => too_large(&format!("A request holds at most {} changes", batch::MAX_CHANGES)),
        BatchError::Empty => ApiError::invalid_field("body", "must hold at least one change"),
        BatchError::Malformed(problem) => ApiError::invalid_field("body", problem),
        BatchError::Invalid(problems) => ApiError::invalid(
            problems
                .into_iter()
                .map(|p| FieldProblem { field: format!("body[{}]", p.index), problem: p.reason })
                .collect(),
        )
        .with_message("Invalid changes: nothing was written"),
    }
}

fn raw_json(text: String) -> Response {
    json_text(StatusCode::OK, text.into_bytes())
}

/// One log line per change, as the queue logs them: ids, type and outcome, no record data.
fn log_results(caller: &Authenticated, tenant_id: Option<&str>, changes: &[Change], results: &[ChangeResult]) {
    for (change, result) in changes.iter().zip(results) {
        tracing::info!(
            principal = %caller.0.principal,
            tenant = tenant_id.unwrap_or("-"),
            change_id = result.change_id.as_deref().unwrap_or("-"),
            kind = change.kind(),
            outcome = result.outcome,
            "change"
        );
    }
}
