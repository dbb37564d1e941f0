//! `POST /tenants/{tenantId}/sync` (9.13); the status and the runs are read in
//! `sync_status`.
//!
//! With `STATE_MACHINE_ARN` configured, a trigger starts a tenant-sync execution and answers
//! 202 (or, with `wait=true`, waits up to 25 seconds for the run and answers 200 when it
//! finished). Without it (the local server), runs execute inline and every trigger answers
//! 200 with the results: the contract's local mode.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::audited::{outcome, trigger_outcome, Audit};
use super::error::{ApiError, FieldProblem};
use super::extract::{Authenticated, TenantPath};
use super::params::{self, QueryParams};
use super::respond::json_response;
use super::AppState;
use crate::auth::TenantRef;
use crate::store::reader;
use crate::store::writer::{Clock, Writer};
use crate::store::StoreError;
use crate::sync::launch::Launcher;
use crate::sync::record::{self, Replay, RunOptions, RunRecord, RunStatus, StartError};
use crate::sync::run::{complete, run_phases, SyncResults};
use crate::time::Timestamp;

pub(super) fn status_url(tenant_id: &str) -> String {
    format!("{}/tenants/{tenant_id}/sync/status", super::BASE_PATH)
}

pub(super) fn idempotency_key(headers: &HeaderMap, problems: &mut Vec<FieldProblem>) -> Option<String> {
    let value = headers.get("idempotency-key")?;
    let valid = value.as_bytes();
    if (1..=255).contains(&valid.len()) && valid.iter().all(|b| (0x21..=0x7e).contains(b)) {
        value.to_str().ok().map(str::to_owned)
    } else {
        problems.push(FieldProblem {
            field: "Idempotency-Key".into(),
            problem: "must be 1 to 255 visible ASCII characters".into(),
        });
        None
    }
}

/// What the audit entry of a trigger needs to learn while the trigger runs.
#[derive(Default)]
struct TriggerNote {
    tenant_id: Option<String>,
    sync_id: Option<String>,
}

/// Handler of `POST /tenants/{tenantId}/sync`. Every trigger of an authorized tenant leaves
/// an audit entry with its outcome (`crate::audit`); refused ones are only logged, so a
/// caller cannot fill another tenant's audit trail.
pub async fn trigger(
    State(state): State<AppState>,
    caller: Authenticated,
    tenant: TenantPath,
    RawQuery(raw): RawQuery,
    request_id: Option<axum::Extension<super::request_id::RequestId>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut note = TriggerNote::default();
    let result = run_trigger(&state, &caller, &tenant, raw, &headers, &mut note).await;
    let audit = Audit { action: "sync.trigger", caller: &caller, request_id };
    match note.tenant_id {
        Some(tenant_id) => {
            let outcome = outcome(&result, trigger_outcome);
            audit.record(&state, Some(tenant_id), outcome, note.sync_id, None).await;
        }
        None => audit.refused_before_access(&result),
    }
    result
}

async fn run_trigger(
    state: &AppState,
    caller: &Authenticated,
    tenant: &TenantPath,
    raw: Option<String>,
    headers: &HeaderMap,
    note: &mut TriggerNote,
) -> Result<Response, ApiError> {
    let state = state.clone();
    let query = QueryParams::parse(raw.as_deref());
    let mut problems = Vec::new();
    let options = RunOptions {
        skip_reference_data: params::boolean(&query, "skipReferenceData", &mut problems),
        force_sync: params::boolean(&query, "forceSync", &mut problems),
        wait: params::boolean(&query, "wait", &mut problems),
    };
    let key = idempotency_key(headers, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let names = super::tenant_access(&state, caller, tenant).await?;
    note.tenant_id = Some(names.tenant_id.clone());
    let principal = caller.0.principal.clone();
    if let Some(key) = &key {
        if let Some(answer) = replay_answer(&state, &names.tenant_id, &principal, key, options).await? {
            return Ok(answer);
        }
    }
    let profile = reader::tenant(&state.store, &names.tenant_id).await?.and_then(|t| t.rec);
    let profile = profile.ok_or(ApiError::from(crate::auth::AuthError::TenantNotFound))?;
    if !profile.active() {
        return Err(ApiError::new(StatusCode::CONFLICT, "Tenant is inactive").with_code("TENANT_INACTIVE"));
    }
    let run = match record::start(&state.store, &names.tenant_id, &principal, options, key.as_deref()).await {
        Ok(run) => run,
        Err(StartError::InProgress { run, expired }) => {
            // A concurrent trigger with the same key may have started the run that holds
            // the tenant: answer with its replay, not a conflict.
            if let Some(key) = &key {
                if let Some(answer) = replay_answer(&state, &names.tenant_id, &principal, key, options).await? {
                    return Ok(answer);
                }
            }
            return Err(in_progress(&run, expired));
        }
        Err(StartError::Store(StoreError::Conflict)) if key.is_some() => {
            // The key's item kept the start from committing: a concurrent trigger used it.
            let key = key.as_deref().unwrap_or_default();
            match replay_answer(&state, &names.tenant_id, &principal, key, options).await? {
                Some(answer) => return Ok(answer),
                None => return Err(StoreError::Conflict.into()),
            }
        }
        Err(StartError::Store(error)) => return Err(error.into()),
    };
    tracing::info!(tenant = %names.tenant_id, sync_id = %run.sync_id, %principal, "sync started");
    note.sync_id = Some(run.sync_id.clone());
    if matches!(*state.launcher, Launcher::Inline) {
        let finished = execute(&state, &names, run).await?;
        return Ok(answer(&finished));
    }
    if let Err(error) = state.launcher.start(&run).await {
        // The run never got a worker: record it failed and free the tenant at once.
        let stopped = SyncResults::stopped(&run.tenant_id, &run.sync_id, run.started_at);
        record::finish(&state.store, &run, stopped).await?;
        return Err(error.into());
    }
    let run = if options.wait { wait_for(&state, run).await? } else { run };
    Ok(answer(&run))
}

/// The replayed answer of an `Idempotency-Key` this caller used in the last 24 hours, if any:
/// the run it started (waited for with `wait=true`), or 422 when the options differ.
async fn replay_answer(
    state: &AppState,
    tenant_id: &str,
    principal: &str,
    key: &str,
    options: RunOptions,
) -> Result<Option<Response>, ApiError> {
    match record::replay(&state.store, tenant_id, principal, key, options.skip_reference_data).await? {
        Some(Replay::Run(run)) => {
            let run = if options.wait { wait_for(state, *run).await? } else { *run };
            Ok(Some(replayed(answer(&run))))
        }
        Some(Replay::OptionsDiffer(sync_id)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Idempotency-Key was first used with different sync options",
        )
        .with_code("IDEMPOTENCY_KEY_REUSED")
        .with_member("syncId", json!(sync_id))),
        None => Ok(None),
    }
}

/// How long `wait=true` waits for a run executed elsewhere.
pub const WAIT_LIMIT_MS: i64 = 25_000;

/// Polls the run record until the run is no longer running or the wait limit passes.
async fn wait_for(state: &AppState, run: RunRecord) -> Result<RunRecord, ApiError> {
    let deadline = Timestamp::now().plus_millis(WAIT_LIMIT_MS);
    let mut latest = run;
    while latest.status == RunStatus::Running && Timestamp::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        match record::run(&state.store, &latest.tenant_id, &latest.sync_id).await? {
            Some(current) => latest = current,
            None => break,
        }
    }
    Ok(latest)
}

/// Runs a started run to its end and records it; an unexpected failure (even a panic) still
/// leaves a failed record and a released lease.
async fn execute(state: &AppState, names: &TenantRef, run: RunRecord) -> Result<RunRecord, ApiError> {
    let writer = Writer::new(state.store.clone(), Clock::System);
    let catalog = state.catalog.apps().await.map(|apps| apps.to_vec()).unwrap_or_default();
    let (tenant_id, sync_id, options) = (run.tenant_id.clone(), run.sync_id.clone(), run.options.sync());
    let task = tokio::spawn(async move { run_phases(&writer, &catalog, &tenant_id, &sync_id, options).await });
    let results = match task.await {
        Ok(results) => results,
        Err(error) => {
            tracing::error!(%error, sync_id = %run.sync_id, "sync run stopped unexpectedly");
            SyncResults::stopped(&run.tenant_id, &run.sync_id, run.started_at)
        }
    };
    match complete(&state.store, &state.events, &run, results, &names.kinde_org_id).await? {
        Some(finished) => Ok(finished),
        None => Ok(record::run(&state.store, &run.tenant_id, &run.sync_id).await?.unwrap_or(run)),
    }
}

/// 200 with the results of a finished run; the 202 form for a running or superseded one.
fn answer(run: &RunRecord) -> Response {
    match (&run.results, run.status) {
        (Some(results), RunStatus::Succeeded | RunStatus::Failed) => {
            let message = if results.success {
                "Tenant data sync completed successfully"
            } else {
                "Tenant data sync completed with errors"
            };
            json_response(
                StatusCode::OK,
                &json!({ "success": results.success, "message": message, "results": results }),
            )
        }
        _ => {
            let url = status_url(&run.tenant_id);
            let mut response = json_response(
                StatusCode::ACCEPTED,
                &json!({ "success": true, "message": "Tenant data sync started", "syncId": run.sync_id,
                    "status": run.status.as_str(), "statusUrl": url }),
            );
            if let Ok(value) = HeaderValue::from_str(&url) {
                response.headers_mut().insert(axum::http::header::LOCATION, value);
            }
            response
        }
    }
}

pub(super) fn replayed(mut response: Response) -> Response {
    response.headers_mut().insert(HeaderName::from_static("idempotent-replayed"), HeaderValue::from_static("true"));
    response
}

fn in_progress(run: &RunRecord, expired: bool) -> ApiError {
    let message = if expired {
        "A sync run holds the tenant but its lease has expired; retry with forceSync=true to replace it"
    } else {
        "A sync run is already in progress for this tenant"
    };
    ApiError::new(StatusCode::CONFLICT, message)
        .with_code("SYNC_IN_PROGRESS")
        .with_member("syncId", json!(run.sync_id))
        .with_member("startedAt", json!(run.started_at))
        .with_member("leaseExpiresAt", json!(run.lease_expires_at))
        .with_member("statusUrl", json!(status_url(&run.tenant_id)))
}
