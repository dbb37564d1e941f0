//! `GET /tenants/{tenantId}/sync/status` (9.14) and `GET /tenants/{tenantId}/sync/runs/{syncId}`
//! (new: one run with its results, so a consumer can compare its copy with the latest run's
//! counts and checksums without starting one).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;

use super::credits::configured_configs;
use super::error::ApiError;
use super::extract::{Authenticated, TenantPath};
use super::respond::cached_json;
use super::AppState;
use crate::model::id_problem;
use crate::store::keys::Collection;
use crate::store::reader;
use crate::sync::record::{self, RunRecord};
use crate::sync::run::SyncResults;
use crate::time::Timestamp;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunSummary {
    sync_id: String,
    status: &'static str,
    started_at: Timestamp,
    completed_at: Option<Timestamp>,
    duration: Option<i64>,
    success: Option<bool>,
    issues_count: Option<u64>,
    lease_expires_at: Option<Timestamp>,
}

impl RunSummary {
    fn of(run: &RunRecord) -> Self {
        Self {
            sync_id: run.sync_id.clone(),
            status: run.status.as_str(),
            started_at: run.started_at,
            completed_at: run.completed_at,
            duration: run.duration,
            success: run.success,
            issues_count: run.issues_count,
            lease_expires_at: run.lease_expires_at,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DataCounts {
    users: i64,
    organizations: i64,
    tenant_users: i64,
    roles: i64,
    credit_configs: usize,
    entity_credits: i64,
    employee_assignments: i64,
    role_assignments: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusView {
    last_sync: Option<Timestamp>,
    is_complete: bool,
    data_counts: DataCounts,
    last_run: Option<RunSummary>,
    current_run: Option<RunSummary>,
    /// The catalog apps whose tenant and global credit configurations `creditConfigs` counts
    /// (here and in a run's results), so a consumer knows which apps to pull to compare.
    credit_config_apps: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    success: bool,
    tenant_id: String,
    status: StatusView,
}

/// Handler of `GET /tenants/{tenantId}/sync/status`.
pub async fn status(
    State(state): State<AppState>,
    caller: Authenticated,
    tenant: TenantPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let names = super::tenant_access(&state, &caller, &tenant).await?;
    let (counters, runs) =
        tokio::join!(reader::counters(&state.store, &names.tenant_id), record::status(&state.store, &names.tenant_id));
    let (counters, runs) = (counters?, runs?);
    let catalog = state.catalog.apps().await?;
    let credit_configs = configured_configs(&state.store, &names.tenant_id, &catalog).await?.len();
    let active = |c: Collection| counters.get(c).active;
    let body = StatusBody {
        success: true,
        tenant_id: names.tenant_id.clone(),
        status: StatusView {
            last_sync: runs.last_sync,
            is_complete: active(Collection::Users) > 0 && active(Collection::Entities) > 0,
            data_counts: DataCounts {
                users: active(Collection::Users),
                organizations: active(Collection::Entities),
                tenant_users: active(Collection::Users),
                roles: active(Collection::Roles),
                credit_configs,
                entity_credits: active(Collection::CreditBalances),
                employee_assignments: active(Collection::Memberships),
                role_assignments: active(Collection::RoleAssignments),
            },
            last_run: runs.last_run.as_ref().map(RunSummary::of),
            current_run: runs.current_run.as_ref().map(RunSummary::of),
            credit_config_apps: catalog.iter().map(|app| app.app_code.clone()).collect(),
        },
    };
    Ok(cached_json(&headers, &body))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunBody<'a> {
    success: bool,
    tenant_id: &'a str,
    run: RunSummary,
    /// The run's results once it finished (`null` while it runs).
    results: Option<&'a SyncResults>,
}

/// Handler of `GET /tenants/{tenantId}/sync/runs/{syncId}`: one run of the tenant, with its
/// results once finished; 404 for a run the tenant does not have.
pub async fn run(
    State(state): State<AppState>,
    caller: Authenticated,
    tenant: TenantPath,
    Path((_, sync_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let names = super::tenant_access(&state, &caller, &tenant).await?;
    if let Some(problem) = id_problem(&sync_id) {
        return Err(ApiError::invalid_field("syncId", problem));
    }
    let Some(run) = record::run(&state.store, &names.tenant_id, &sync_id).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "Sync run not found"));
    };
    let body = RunBody {
        success: true,
        tenant_id: &names.tenant_id,
        run: RunSummary::of(&run),
        results: run.results.as_ref(),
    };
    Ok(cached_json(&headers, &body))
}
