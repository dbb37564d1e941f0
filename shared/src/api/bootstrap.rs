//! `POST /tenants/{tenantId}/bootstrap` (9.15): everything an app needs about a tenant, for
//! one app, in one response. Read-only and safe to retry.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use rust_decimal::Decimal;
use serde::Serialize;

use super::credits::bootstrap_configs;
use super::error::{ApiError, FieldProblem};
use super::extract::{Authenticated, TenantPath};
use super::params::QueryParams;
use super::respond::json_response;
use super::AppState;
use crate::model::{is_app_code, AppStatus, CreditBalance, Entity, Membership, Role, RoleAssignment, User};
use crate::store::item::{CollectionRecord, Stored};
use crate::store::query::{self, ListMode, ListRequest};
use crate::store::{reader, StoreError};
use crate::time::Timestamp;

/// Largest number of records per collection.
pub const MAX_RECORDS: usize = 5_000;
/// Largest accepted request body.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BootstrapBody {
    success: bool,
    app_code: String,
    tenant_id: String,
    snapshot_at: Timestamp,
    subscription_tier: Option<String>,
    enabled_modules: Vec<String>,
    data: BootstrapData,
    record_counts: RecordCounts,
    warnings: Vec<Warning>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BootstrapData {
    tenant: TenantItem,
    organizations: Vec<OrganizationItem>,
    users: Vec<UserItem>,
    roles: Vec<RoleItem>,
    employee_assignments: Vec<EmployeeAssignmentItem>,
    role_assignments: Vec<RoleAssignmentItem>,
    credit_configs: Vec<CreditConfigItem>,
    entity_credits: Vec<EntityCreditItem>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordCounts {
    tenant: usize,
    organizations: usize,
    users: usize,
    roles: usize,
    employee_assignments: usize,
    role_assignments: usize,
    credit_configs: usize,
    entity_credits: usize,
}

#[derive(Serialize)]
struct Warning {
    collection: &'static str,
    error: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TenantItem {
    tenant_id: String,
    company_name: String,
    kinde_org_id: String,
    is_active: bool,
    plan_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrganizationItem {
    org_code: String,
    org_name: String,
    parent_id: Option<String>,
    level: i64,
    country: Option<String>,
    currency: Option<String>,
    is_active: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserItem {
    user_id: String,
    kinde_id: Option<String>,
    email: String,
    first_name: String,
    last_name: String,
    is_tenant_admin: bool,
    is_active: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleItem {
    role_id: String,
    role_name: String,
    permissions: Vec<String>,
    priority: i64,
    is_system_role: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmployeeAssignmentItem {
    assignment_id: String,
    user_id: String,
    entity_id: String,
    membership_type: String,
    is_primary: bool,
    access_level: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleAssignmentItem {
    assignment_id: String,
    user_id: String,
    role_id: String,
    entity_id: Option<String>,
    assigned_at: Option<Timestamp>,
    is_active: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreditConfigItem {
    config_id: String,
    operation_code: String,
    operation_name: String,
    #[serde(serialize_with = "super::amount::serialize")]
    credit_cost: Decimal,
    unit: String,
    is_global: bool,
    source: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntityCreditItem {
    entity_id: String,
    #[serde(serialize_with = "super::amount::serialize")]
    allocated_credits: Decimal,
    #[serde(serialize_with = "super::amount::serialize")]
    used_credits: Decimal,
    #[serde(serialize_with = "super::amount::serialize")]
    available_credits: Decimal,
    is_active: bool,
}

/// Bootstrap's compatibility rule: app codes are trimmed and lower-cased before validation.
fn normalized_app_code(app: &str) -> String {
    app.trim().to_lowercase()
}

/// What the request asked for.
struct Input {
    app_code: String,
    requested_by: Option<String>,
}

fn read_input(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    raw_query: Option<&str>,
) -> Result<Input, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "The request body exceeds 1 MiB")
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "The request body could not be read")
        }
    })?;
    let mut problems = Vec::new();
    let mut body_app = None;
    let mut requested_by = None;
    if !body.is_empty() {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "The request body must be application/json"));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| ApiError::invalid_field("body", "must be valid JSON"))?;
        let object = value.as_object().ok_or_else(|| ApiError::invalid_field("body", "must be a JSON object"))?;
        match object.get("appCode") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(app)) => body_app = Some(app.clone()),
            Some(_) => problems.push(FieldProblem { field: "body.appCode".into(), problem: "must be a string".into() }),
        }
        match object.get("requestedBy") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(who)) if who.chars().count() <= 128 => requested_by = Some(who.clone()),
            Some(_) => problems.push(FieldProblem {
                field: "body.requestedBy".into(),
                problem: "must be a string of at most 128 characters".into(),
            }),
        }
    }
    // The query value is checked even when the body's wins: a malformed known parameter is a 400.
    let query = QueryParams::parse(raw_query);
    let query_app = query.single("appCode", &mut problems).map(|app| normalized_app_code(&app));
    let query_malformed = query_app.as_deref().is_some_and(|app| !is_app_code(app));
    let app_code = body_app.map(|app| normalized_app_code(&app)).or(query_app).unwrap_or_else(|| "accounting".into());
    if query_malformed || !is_app_code(&app_code) {
        problems.push(FieldProblem { field: "appCode".into(), problem: "must match ^[a-z][a-z0-9_]{0,49}$".into() });
    }
    if problems.is_empty() {
        Ok(Input { app_code, requested_by })
    } else {
        Err(ApiError::invalid(problems))
    }
}

/// Handler of `POST /tenants/{tenantId}/bootstrap`.
pub async fn bootstrap(
    State(state): State<AppState>,
    caller: Authenticated,
    tenant: TenantPath,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input = read_input(&headers, body, raw.as_deref())?;
    let names = super::tenant_access(&state, &caller, &tenant).await?;
    let snapshot_at = Timestamp::now();
    let app = state.catalog.app(&input.app_code).await?.filter(|a| a.status == AppStatus::Active);
    if app.is_none() {
        let active = state.catalog.active_codes().await?;
        return Err(ApiError::invalid(vec![FieldProblem {
            field: "appCode".into(),
            problem: format!("must be one of the active apps: {}", active.join(", ")),
        }])
        .with_message(format!("Unknown or inactive appCode: {}", input.app_code))
        .with_code("UNKNOWN_APP_CODE"));
    }
    let entitlement = reader::entitlement(&state.store, &names.tenant_id, &input.app_code).await?;
    let entitlement = entitlement.filter(|e| e.is_enabled).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("Tenant {} does not have access to app: {}", names.tenant_id, input.app_code),
        )
        .with_code("ENTITLEMENT_DENIED")
    })?;
    if let Some(expired) = entitlement.expires_at.filter(|at| *at <= snapshot_at) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("Tenant access to {} expired at {expired}", input.app_code),
        )
        .with_code("ENTITLEMENT_EXPIRED"));
    }
    let principal = input.requested_by.as_deref().unwrap_or(&caller.0.principal);
    tracing::info!(tenant = %names.tenant_id, app = %input.app_code, requested_by = %principal, "bootstrap");
    let body = assemble(&state, &names.tenant_id, &input.app_code, snapshot_at, entitlement).await?;
    Ok(json_response(StatusCode::OK, &body))
}

async fn assemble(
    state: &AppState,
    tenant_id: &str,
    app: &str,
    snapshot_at: Timestamp,
    entitlement: crate::model::Entitlement,
) -> Result<BootstrapBody, ApiError> {
    let mut warnings = Vec::new();
    let stored = reader::tenant(&state.store, tenant_id).await?;
    let tenant = stored.and_then(|s| s.rec).ok_or(ApiError::from(crate::auth::AuthError::TenantNotFound))?;
    let tenant_item = TenantItem {
        tenant_id: tenant.tenant_id.clone(),
        company_name: tenant.company_name.clone(),
        kinde_org_id: tenant.kinde_org_id.clone(),
        is_active: tenant.active(),
        plan_name: tenant.subscription.as_ref().and_then(|s| s.plan.clone()),
    };
    let organizations =
        critical(read::<Entity>(state, tenant_id, ListMode::Active).await?, "organizations", &mut warnings)
            .iter()
            .filter_map(Stored::live)
            .map(organization_item)
            .collect::<Vec<_>>();
    let users = critical(read::<User>(state, tenant_id, ListMode::Active).await?, "users", &mut warnings)
        .iter()
        .filter_map(Stored::live)
        .map(user_item)
        .collect::<Vec<_>>();
    let roles = critical(read_roles(state, tenant_id, app).await?, "roles", &mut warnings);
    let employee_assignments =
        optional(read::<Membership>(state, tenant_id, ListMode::Active).await, "employeeAssignments", &mut warnings)
            .iter()
            .filter_map(Stored::live)
            .map(membership_item)
            .collect::<Vec<_>>();
    let role_assignments =
        optional(read::<RoleAssignment>(state, tenant_id, ListMode::Active).await, "roleAssignments", &mut warnings)
            .iter()
            .filter_map(Stored::live)
            .map(role_assignment_item)
            .collect::<Vec<_>>();
    let credit_configs = match bootstrap_configs(&state.store, tenant_id, app).await {
        Ok(configs) => truncate(configs, "creditConfigs", &mut warnings).into_iter().map(config_item).collect(),
        Err(_) => {
            warnings.push(Warning { collection: "creditConfigs", error: "Collection could not be read".into() });
            Vec::new()
        }
    };
    let entity_credits =
        optional(read::<CreditBalance>(state, tenant_id, ListMode::All).await, "entityCredits", &mut warnings)
            .iter()
            .filter_map(Stored::live)
            .map(|balance| credit_item(balance, app))
            .collect::<Vec<_>>();
    let record_counts = RecordCounts {
        tenant: 1,
        organizations: organizations.len(),
        users: users.len(),
        roles: roles.len(),
        employee_assignments: employee_assignments.len(),
        role_assignments: role_assignments.len(),
        credit_configs: credit_configs.len(),
        entity_credits: entity_credits.len(),
    };
    Ok(BootstrapBody {
        success: true,
        app_code: app.to_owned(),
        tenant_id: tenant_id.to_owned(),
        snapshot_at,
        subscription_tier: entitlement.subscription_tier,
        enabled_modules: entitlement.enabled_modules.unwrap_or_default(),
        data: BootstrapData {
            tenant: tenant_item,
            organizations,
            users,
            roles,
            employee_assignments,
            role_assignments,
            credit_configs,
            entity_credits,
        },
        record_counts,
        warnings,
    })
}

/// Up to [`MAX_RECORDS`] records of a collection, and whether more exist.
type Read<R> = (Vec<Stored<R, <R as CollectionRecord>::Derived>>, bool);

async fn read<R: CollectionRecord>(state: &AppState, tenant_id: &str, mode: ListMode) -> Result<Read<R>, StoreError> {
    // Bootstrap reads at most one record past its cap, unfiltered: its own bound.
    let request = ListRequest { limit: MAX_RECORDS, budget: MAX_RECORDS + 1, ..Default::default() };
    let page = query::list::<R>(&state.store, tenant_id, mode, &request).await?;
    Ok((page.items, page.next.is_some()))
}

async fn read_roles(state: &AppState, tenant_id: &str, app: &str) -> Result<(Vec<RoleItem>, bool), StoreError> {
    let mut items = Vec::new();
    let mut start_after = None;
    loop {
        let request = ListRequest { limit: 500, start_after, ..Default::default() };
        let page = query::list::<Role>(&state.store, tenant_id, ListMode::Active, &request).await?;
        for role in page.items.iter().filter_map(Stored::live) {
            let permissions = role.flattened_permissions(Some(app));
            if permissions.is_empty() && role.is_system_role != Some(true) {
                continue;
            }
            if items.len() == MAX_RECORDS {
                return Ok((items, true));
            }
            items.push(RoleItem {
                role_id: role.role_id.clone(),
                role_name: role.role_name.clone().unwrap_or_default(),
                permissions,
                priority: role.priority.unwrap_or(0),
                is_system_role: role.is_system_role.unwrap_or(false),
            });
        }
        match page.next {
            Some(next) => start_after = Some(next),
            None => return Ok((items, false)),
        }
    }
}

fn truncation_warning(collection: &'static str, route: &str) -> Warning {
    Warning {
        collection,
        error: format!("Truncated at {MAX_RECORDS} records; page through GET /tenants/{{tenantId}}/{route}"),
    }
}

fn route_of(collection: &str) -> &'static str {
    match collection {
        "organizations" => "organizations",
        "users" => "users",
        "roles" => "roles",
        "employeeAssignments" => "employee-assignments",
        "roleAssignments" => "role-assignments",
        "creditConfigs" => "credit-configs/tenant-specific",
        _ => "entity-credits",
    }
}

fn critical<T>((items, truncated): (Vec<T>, bool), collection: &'static str, warnings: &mut Vec<Warning>) -> Vec<T> {
    if truncated {
        warnings.push(truncation_warning(collection, route_of(collection)));
    }
    items
}

fn optional<T>(
    read: Result<(Vec<T>, bool), StoreError>,
    collection: &'static str,
    warnings: &mut Vec<Warning>,
) -> Vec<T> {
    match read {
        Ok(read) => critical(read, collection, warnings),
        Err(error) => {
            tracing::warn!(%error, collection, "bootstrap collection could not be read");
            warnings.push(Warning { collection, error: "Collection could not be read".into() });
            Vec::new()
        }
    }
}

fn truncate<T>(mut items: Vec<T>, collection: &'static str, warnings: &mut Vec<Warning>) -> Vec<T> {
    if items.len() > MAX_RECORDS {
        items.truncate(MAX_RECORDS);
        warnings.push(truncation_warning(collection, route_of(collection)));
    }
    items
}

fn organization_item(entity: &Entity) -> OrganizationItem {
    let country = entity
        .address
        .as_ref()
        .and_then(|a| a.get("country"))
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    OrganizationItem {
        org_code: entity.entity_id.clone(),
        org_name: entity.entity_name.clone(),
        parent_id: entity.parent_entity_id.clone(),
        level: entity.level(),
        country,
        currency: entity.currency.clone(),
        is_active: entity.active(),
    }
}

fn user_item(user: &User) -> UserItem {
    let (first_name, last_name) = user.display_names();
    UserItem {
        user_id: user.user_id.clone(),
        kinde_id: user.kinde_user_id.clone(),
        email: user.email.clone(),
        first_name,
        last_name,
        is_tenant_admin: user.is_tenant_admin.unwrap_or(false),
        is_active: user.active(),
    }
}

fn membership_item(m: &Membership) -> EmployeeAssignmentItem {
    EmployeeAssignmentItem {
        assignment_id: m.membership_id.clone(),
        user_id: m.user_id.clone(),
        entity_id: m.entity_id.clone(),
        membership_type: m.membership_type.clone().unwrap_or_else(|| "primary".to_owned()),
        is_primary: m.is_primary.unwrap_or(false),
        access_level: m.access_level.clone(),
    }
}

fn role_assignment_item(a: &RoleAssignment) -> RoleAssignmentItem {
    RoleAssignmentItem {
        assignment_id: a.assignment_id.clone(),
        user_id: a.user_id.clone(),
        role_id: a.role_id.clone(),
        entity_id: a.organization_id.clone(),
        assigned_at: Some(a.assigned_at),
        is_active: a.active(),
    }
}

fn config_item(config: crate::model::CreditConfig) -> CreditConfigItem {
    CreditConfigItem {
        operation_name: config.operation_name.clone().unwrap_or_else(|| config.operation_code.clone()),
        config_id: config.config_id,
        operation_code: config.operation_code,
        credit_cost: config.credit_cost,
        unit: config.unit.unwrap_or_else(|| "operation".to_owned()),
        is_global: false,
        source: "tenant",
    }
}

fn credit_item(balance: &CreditBalance, app: &str) -> EntityCreditItem {
    let totals = balance.app_totals.get(app).cloned().unwrap_or_default();
    EntityCreditItem {
        entity_id: balance.entity_id.clone(),
        allocated_credits: totals.allocated,
        used_credits: totals.used,
        available_credits: balance.available_credits,
        is_active: balance.active(),
    }
}
