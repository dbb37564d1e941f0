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
use super::respond::json_text;
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
/// Largest answer body, counted as it travels inside the Lambda response (a JSON string, so
/// every `"` and `\` of the body takes two bytes). Lambda refuses a response over 6 MB
/// (6,291,456 bytes) with a bare 502; the half megabyte left covers the headers and the
/// envelope. Collections are cut (with warnings) to stay under it.
pub const MAX_RESPONSE_BYTES: usize = 5_800_000;
/// Room kept for the warnings a cut adds.
const WARNING_ROOM: usize = 8 * 200;

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
    let mut body = assemble(&state, &names.tenant_id, &input.app_code, snapshot_at, entitlement).await?;
    let text = fit(&mut body, MAX_RESPONSE_BYTES).map_err(|error| ApiError::internal(&error))?;
    Ok(json_text(StatusCode::OK, text))
}

/// `body` serialized, its collections cut from the end (the last collection of the contract's
/// table first, critical ones last) until it fits `cap` bytes as carried in a Lambda
/// response; every collection cut gets a warning instead of a count-cap one.
fn fit(body: &mut BootstrapBody, cap: usize) -> Result<Vec<u8>, serde_json::Error> {
    let mut text = serde_json::to_vec(body)?;
    while carried_len(&text) > cap {
        let mut excess = carried_len(&text) + WARNING_ROOM - cap;
        let data = &mut body.data;
        let cuts = [
            ("entityCredits", cut(&mut data.entity_credits, &mut excess)?),
            ("creditConfigs", cut(&mut data.credit_configs, &mut excess)?),
            ("roleAssignments", cut(&mut data.role_assignments, &mut excess)?),
            ("employeeAssignments", cut(&mut data.employee_assignments, &mut excess)?),
            ("roles", cut(&mut data.roles, &mut excess)?),
            ("users", cut(&mut data.users, &mut excess)?),
            ("organizations", cut(&mut data.organizations, &mut excess)?),
        ];
        let mut any = false;
        for (collection, kept) in cuts.into_iter().filter_map(|(c, kept)| Some((c, kept?))) {
            any = true;
            body.warnings.retain(|w| w.collection != collection);
            body.warnings.push(Warning {
                collection,
                error: format!(
                    "Truncated at {kept} records to keep the response under 6 MB; page through GET \
                     /tenants/{{tenantId}}/{}",
                    route_of(collection)
                ),
            });
        }
        body.record_counts = RecordCounts::of(&body.data);
        text = serde_json::to_vec(body)?;
        if !any {
            break;
        }
    }
    Ok(text)
}

/// Removes records from the end of `items` until `excess` bytes are gone; the number kept
/// when it removed any.
fn cut<T: Serialize>(items: &mut Vec<T>, excess: &mut usize) -> Result<Option<usize>, serde_json::Error> {
    let mut removed = false;
    while *excess > 0 {
        let Some(item) = items.pop() else { break };
        *excess = excess.saturating_sub(carried_len(&serde_json::to_vec(&item)?) + 1);
        removed = true;
    }
    Ok(removed.then_some(items.len()))
}

/// Length of JSON `text` once it is a string inside the Lambda response: `"` and `\` are
/// escaped there (JSON text holds no raw control characters, and non-ASCII stays as it is).
fn carried_len(text: &[u8]) -> usize {
    text.len() + text.iter().filter(|b| matches!(b, b'"' | b'\\')).count()
}

impl RecordCounts {
    /// The counts of what `data` holds.
    fn of(data: &BootstrapData) -> Self {
        Self {
            tenant: 1,
            organizations: data.organizations.len(),
            users: data.users.len(),
            roles: data.roles.len(),
            employee_assignments: data.employee_assignments.len(),
            role_assignments: data.role_assignments.len(),
            credit_configs: data.credit_configs.len(),
            entity_credits: data.entity_credits.len(),
        }
    }
}

async fn assemble(
    state: &AppState,
    tenant_id: &str,
    app: &str,
    snapshot_at: Timestamp,
    entitlement: crate::model::Entitlement,
) -> Result<BootstrapBody, ApiError> {
    let mut warnings = Vec::new();
    // Every collection at once: the reads are independent, and one after another they were
    // the response's latency (contract 9.15 reads them in turn; docs/api.md lists the change).
    let (stored, entities, users, roles, memberships, role_assignments, configs, balances) = tokio::join!(
        reader::tenant(&state.store, tenant_id),
        read::<Entity>(state, tenant_id, ListMode::Active),
        read::<User>(state, tenant_id, ListMode::Active),
        read_roles(state, tenant_id, app),
        read::<Membership>(state, tenant_id, ListMode::Active),
        read::<RoleAssignment>(state, tenant_id, ListMode::Active),
        bootstrap_configs(&state.store, tenant_id, app),
        read::<CreditBalance>(state, tenant_id, ListMode::All),
    );
    let tenant = stored?.and_then(|s| s.rec).ok_or(ApiError::from(crate::auth::AuthError::TenantNotFound))?;
    let tenant_item = TenantItem {
        tenant_id: tenant.tenant_id.clone(),
        company_name: tenant.company_name.clone(),
        kinde_org_id: tenant.kinde_org_id.clone(),
        is_active: tenant.active(),
        plan_name: tenant.subscription.as_ref().and_then(|s| s.plan.clone()),
    };
    let organizations = critical(entities?, "organizations", &mut warnings)
        .iter()
        .filter_map(Stored::live)
        .map(organization_item)
        .collect::<Vec<_>>();
    let users =
        critical(users?, "users", &mut warnings).iter().filter_map(Stored::live).map(user_item).collect::<Vec<_>>();
    let roles = critical(roles?, "roles", &mut warnings);
    let employee_assignments = optional(memberships, "employeeAssignments", &mut warnings)
        .iter()
        .filter_map(Stored::live)
        .map(membership_item)
        .collect::<Vec<_>>();
    let role_assignments = optional(role_assignments, "roleAssignments", &mut warnings)
        .iter()
        .filter_map(Stored::live)
        .map(role_assignment_item)
        .collect::<Vec<_>>();
    let credit_configs = match configs {
        Ok(configs) => truncate(configs, "creditConfigs", &mut warnings).into_iter().map(config_item).collect(),
        Err(_) => {
            warnings.push(Warning { collection: "creditConfigs", error: "Collection could not be read".into() });
            Vec::new()
        }
    };
    let entity_credits = optional(balances, "entityCredits", &mut warnings)
        .iter()
        .filter_map(Stored::live)
        .map(|balance| credit_item(balance, app))
        .collect::<Vec<_>>();
    let data = BootstrapData {
        tenant: tenant_item,
        organizations,
        users,
        roles,
        employee_assignments,
        role_assignments,
        credit_configs,
        entity_credits,
    };
    Ok(BootstrapBody {
        success: true,
        app_code: app.to_owned(),
        tenant_id: tenant_id.to_owned(),
        snapshot_at,
        subscription_tier: entitlement.subscription_tier,
        enabled_modules: entitlement.enabled_modules.unwrap_or_default(),
        record_counts: RecordCounts::of(&data),
        data,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: usize) -> UserItem {
        UserItem {
            user_id: format!("u-{n}"),
            kinde_id: None,
            email: format!("user{n}@example.com"),
            first_name: "Ada \"the\" first".into(),
            last_name: "Lovelace".into(),
            is_tenant_admin: false,
            is_active: true,
        }
    }

    fn credit(n: usize) -> EntityCreditItem {
        EntityCreditItem {
            entity_id: format!("e-{n}"),
            allocated_credits: Decimal::new(100, 0),
            used_credits: Decimal::ZERO,
            available_credits: Decimal::new(100, 0),
            is_active: true,
        }
    }

    fn body(users: usize, credits: usize) -> BootstrapBody {
        let data = BootstrapData {
            tenant: TenantItem {
                tenant_id: "t".into(),
                company_name: "Acme".into(),
                kinde_org_id: "org_a".into(),
                is_active: true,
                plan_name: None,
            },
            organizations: Vec::new(),
            users: (0..users).map(user).collect(),
            roles: Vec::new(),
            employee_assignments: Vec::new(),
            role_assignments: Vec::new(),
            credit_configs: Vec::new(),
            entity_credits: (0..credits).map(credit).collect(),
        };
        BootstrapBody {
            success: true,
            app_code: "crm".into(),
            tenant_id: "t".into(),
            snapshot_at: Timestamp::parse("2026-12-03T00:00:00Z").unwrap(),
            subscription_tier: None,
            enabled_modules: Vec::new(),
            record_counts: RecordCounts::of(&data),
            data,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn the_carried_length_counts_the_escapes_of_a_json_string() {
        let text = br#"{"a":"b\"c"}"#;
        assert_eq!(carried_len(text), serde_json::to_string(std::str::from_utf8(text).unwrap()).unwrap().len() - 2);
    }

    #[test]
    fn a_body_under_the_cap_is_left_whole() {
        let mut whole = body(50, 50);
        let text = fit(&mut whole, MAX_RESPONSE_BYTES).unwrap();
        assert_eq!(text, serde_json::to_vec(&body(50, 50)).unwrap());
        assert!(whole.warnings.is_empty());
    }

    #[test]
    fn a_body_over_the_cap_loses_its_last_collections_first_and_says_so() {
        let mut big = body(200, 200);
        let full = carried_len(&serde_json::to_vec(&big).unwrap());
        let credits_size = carried_len(&serde_json::to_vec(&big.data.entity_credits).unwrap());
        // Room for every user and about half the credit balances.
        let cap = full - credits_size / 2;
        let text = fit(&mut big, cap).unwrap();
        assert!(carried_len(&text) <= cap, "{} over {cap}", carried_len(&text));
        assert_eq!(big.data.users.len(), 200, "a critical collection is cut last");
        let kept = big.data.entity_credits.len();
        assert!(kept > 0 && kept < 200, "kept {kept}");
        assert_eq!(big.record_counts.entity_credits, kept);
        assert_eq!(big.warnings.len(), 1);
        assert_eq!(big.warnings[0].collection, "entityCredits");
        assert!(big.warnings[0].error.starts_with(&format!("Truncated at {kept} records")));
        let parsed: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(parsed["recordCounts"]["entityCredits"], kept);
        assert_eq!(parsed["data"]["entityCredits"].as_array().unwrap().len(), kept);
    }

    #[test]
    fn a_cut_replaces_the_count_warning_and_reaches_critical_collections_when_it_must() {
        let mut big = body(300, 10);
        big.warnings.push(truncation_warning("users", "users"));
        let cap = carried_len(&serde_json::to_vec(&big).unwrap()) / 2;
        let text = fit(&mut big, cap).unwrap();
        assert!(carried_len(&text) <= cap);
        assert!(big.data.entity_credits.is_empty());
        assert!(big.data.users.len() < 300);
        let collections: Vec<_> = big.warnings.iter().map(|w| w.collection).collect();
        assert_eq!(collections, vec!["entityCredits", "users"], "one warning per collection");
        assert!(big.warnings[1].error.contains("under 6 MB"));
    }
}
