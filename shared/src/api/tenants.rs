//! `GET /tenants/{tenantId}` (contract section 9.2).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use super::error::ApiError;
use super::extract::{Authenticated, TenantPath};
use super::respond::cached_json;
use super::AppState;
use crate::model::{JsonObject, Tenant};
use crate::store::reader::{self, StoredTenant};
use crate::time::Timestamp;

/// `{ success, data }` around any payload.
#[derive(Serialize)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    /// The payload.
    pub data: T,
}

/// The tenant as `GET /tenants/{tenantId}` reports it.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    tenant_id: String,
    tenant_name: String,
    status: &'static str,
    settings: JsonObject,
    subscription: serde_json::Value,
    organization: OrganizationView,
    kinde_org_id: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct OrganizationView {
    org_code: String,
    org_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionView<'a> {
    plan: Option<&'a str>,
    status: Option<&'a str>,
    billing_cycle: Option<&'a str>,
    current_period_start: Option<Timestamp>,
    current_period_end: Option<Timestamp>,
    trial_ends_at: Option<Timestamp>,
}

impl TenantView {
    /// Builds the view from the stored tenant; every value comes from the record.
    pub fn new(tenant: &Tenant, updated_at: Timestamp) -> Self {
        let subscription = match &tenant.subscription {
            Some(s) => serde_json::to_value(SubscriptionView {
                plan: s.plan.as_deref(),
                status: s.status.as_deref(),
                billing_cycle: s.billing_cycle.as_deref(),
                current_period_start: s.current_period_start,
                current_period_end: s.current_period_end,
                trial_ends_at: tenant.trial_ends_at,
            })
            .unwrap_or_default(),
            None => serde_json::json!({}),
        };
        Self {
            tenant_id: tenant.tenant_id.clone(),
            tenant_name: tenant.company_name.clone(),
            status: if tenant.active() { "active" } else { "inactive" },
            settings: tenant.settings.clone().unwrap_or_default(),
            subscription,
            organization: OrganizationView {
                org_code: tenant.kinde_org_id.clone(),
                org_name: tenant.company_name.clone(),
            },
            kinde_org_id: tenant.kinde_org_id.clone(),
            created_at: tenant.created_at,
            updated_at,
        }
    }
}

/// The tenant the caller may see, or the error that says why not.
pub async fn tenant_for(
    state: &AppState,
    caller: &Authenticated,
    tenant: &TenantPath,
) -> Result<(Tenant, StoredTenant), ApiError> {
    let names = super::tenant_access(state, caller, tenant).await?;
    let not_found = || ApiError::from(crate::auth::AuthError::TenantNotFound);
    let stored = reader::tenant(&state.store, &names.tenant_id).await?.ok_or_else(not_found)?;
    let record = stored.live().cloned().ok_or_else(not_found)?;
    Ok((record, stored))
}

/// Handler of `GET /tenants/{tenantId}`.
pub async fn get_tenant(
    State(state): State<AppState>,
    caller: Authenticated,
    tenant: TenantPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (record, stored) = tenant_for(&state, &caller, &tenant).await?;
    Ok(cached_json(&headers, &Envelope { success: true, data: TenantView::new(&record, stored.updated_at) }))
}
