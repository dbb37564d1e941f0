//! Credit routes: `entity-credits` (9.10), the effective `credit-configs` of a tenant (9.7),
//! the global ones (9.8) and a tenant's own overrides (9.9).

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rust_decimal::Decimal;
use serde::Serialize;

use super::error::{ApiError, FieldProblem};
use super::extract::{Authenticated, TenantPath};
use super::paging::{check_app_code, PagedRoute, RouteFilters, ViewContext};
use super::params::{self, QueryParams};
use super::respond::cached_json;
use super::AppState;
use crate::model::{CatalogApp, CreditBalance, CreditBalanceDerived, CreditConfig};
use crate::store::item::{NoDerived, Stored};
use crate::store::reader::{self, ConfigScope};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// App code used when `entity-credits` or `credit-configs` get none.
pub const DEFAULT_APP_CODE: &str = "crm";

/// One entity's credit balance with one app's totals.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityCreditView {
    tenant_id: String,
    entity_id: String,
    #[serde(serialize_with = "super::amount::serialize")]
    allocated_credits: Decimal,
    target_application: String,
    #[serde(serialize_with = "super::amount::serialize")]
    used_credits: Decimal,
    #[serde(serialize_with = "super::amount::serialize")]
    available_credits: Decimal,
    allocation_type: String,
    allocation_purpose: &'static str,
    expires_at: Option<Timestamp>,
    is_active: bool,
    allocation_source: &'static str,
    allocated_by: String,
    allocated_at: Option<Timestamp>,
    metadata: serde_json::Map<String, serde_json::Value>,
    updated_at: Timestamp,
}

/// The `entity-credits` route.
pub struct EntityCredits;

impl PagedRoute for EntityCredits {
    type Record = CreditBalance;
    type View = EntityCreditView;
    const NAME: &'static str = "entity-credits";
    const TOMBSTONE: &'static [&'static str] = &["tenantId", "entityId"];

    fn filters(query: &QueryParams, _incremental: bool, problems: &mut Vec<FieldProblem>) -> RouteFilters {
        let mut filters = super::roles::id_filters(query, &[("entityId", &["ids", "entityId"])], problems);
        let app = params::app_code(query, problems).unwrap_or_else(|| DEFAULT_APP_CODE.to_owned());
        filters.effective.insert("appCode", app.clone());
        filters.app_code = Some(app);
        filters
    }

    fn view(ctx: &ViewContext, stored: &Stored<CreditBalance, CreditBalanceDerived>) -> Option<EntityCreditView> {
        let balance = stored.live()?;
        let app = ctx.app_code.clone().unwrap_or_else(|| DEFAULT_APP_CODE.to_owned());
        let totals = balance.app_totals.get(&app).cloned().unwrap_or_default();
        Some(EntityCreditView {
            tenant_id: ctx.tenant_id.clone(),
            entity_id: balance.entity_id.clone(),
            allocated_credits: totals.allocated,
            target_application: app,
            used_credits: totals.used,
            available_credits: balance.available_credits,
            allocation_type: stored.der.allocation_type.clone().unwrap_or_else(|| "organization".to_owned()),
            allocation_purpose: "Organization credit balance",
            expires_at: None,
            is_active: balance.active(),
            allocation_source: "system",
            allocated_by: totals.last_allocated_by.clone().unwrap_or_else(|| "system".to_owned()),
            allocated_at: totals.last_allocated_at,
            metadata: serde_json::Map::new(),
            updated_at: stored.updated_at,
        })
    }
}

/// One credit configuration entry (9.7, 9.8, 9.9).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditConfigView {
    /// `creditConfig.configId`; null for a default entry.
    pub config_id: Option<String>,
    tenant_id: Option<String>,
    entity_id: Option<String>,
    config_name: String,
    operation_code: String,
    description: String,
    #[serde(serialize_with = "super::amount::serialize")]
    credit_cost: Decimal,
    unit: String,
    is_global: bool,
    /// `tenant`, `global` or `default`.
    pub source: &'static str,
    module_name: Option<String>,
    permission_name: Option<String>,
    /// The configuration's change time; null for a default entry.
    pub updated_at: Option<Timestamp>,
}

/// Catalog facts about one operation.
struct Operation<'a> {
    code: String,
    module_name: &'a str,
    permission_name: &'a str,
    permission_description: &'a str,
}

fn operations(app: &CatalogApp) -> Vec<Operation<'_>> {
    app.operations()
        .map(|(code, module, permission)| Operation {
            code,
            module_name: &module.module_name,
            permission_name: &permission.name,
            permission_description: &permission.description,
        })
        .collect()
}

/// An entry from a stored configuration.
fn stored_entry(
    stored: &Stored<CreditConfig, NoDerived>,
    operation: Option<&Operation<'_>>,
    tenant_id: Option<&str>,
) -> Option<CreditConfigView> {
    let config = stored.live()?;
    let catalog_name = operation.map(|o| format!("{} - {}", o.module_name, o.permission_name));
    Some(CreditConfigView {
        config_id: Some(config.config_id.clone()),
        tenant_id: tenant_id.map(str::to_owned),
        entity_id: tenant_id.map(str::to_owned),
        config_name: config.operation_name.clone().or(catalog_name).unwrap_or_else(|| config.operation_code.clone()),
        operation_code: config.operation_code.clone(),
        description: config
            .operation_name
            .clone()
            .or_else(|| operation.map(|o| o.permission_description.to_owned()))
            .unwrap_or_default(),
        credit_cost: config.credit_cost,
        unit: config.unit.clone().unwrap_or_else(|| "operation".to_owned()),
        is_global: tenant_id.is_none(),
        source: if tenant_id.is_some() { "tenant" } else { "global" },
        module_name: operation.map(|o| o.module_name.to_owned()),
        permission_name: operation.map(|o| o.permission_name.to_owned()),
        updated_at: Some(stored.updated_at),
    })
}

/// The entry of an operation with no stored configuration.
fn default_entry(operation: &Operation<'_>, tenant_id: Option<&str>) -> CreditConfigView {
    CreditConfigView {
        config_id: None,
        tenant_id: tenant_id.map(str::to_owned),
        entity_id: None,
        config_name: format!("{} - {}", operation.module_name, operation.permission_name),
        operation_code: operation.code.clone(),
        description: operation.permission_description.to_owned(),
        credit_cost: Decimal::ZERO,
        unit: "operation".to_owned(),
        is_global: true,
        source: "default",
        module_name: Some(operation.module_name.to_owned()),
        permission_name: Some(operation.permission_name.to_owned()),
        updated_at: None,
    }
}

/// Active configurations of `scope` for `app`, by operation code.
async fn active_configs(
    store: &Store,
    scope: ConfigScope<'_>,
    app: &str,
) -> Result<HashMap<String, Stored<CreditConfig, NoDerived>>, StoreError> {
    let configs = reader::credit_configs(store, scope, app).await?;
    Ok(configs
        .into_iter()
        .filter(|s| s.live().is_some_and(CreditConfig::active))
        .filter_map(|s| Some((s.live()?.operation_code.clone(), s)))
        .collect())
}

/// The effective entries of every catalog operation of `app` for a tenant (9.7 steps 1-4);
/// shared with bootstrap and sync counts.
pub async fn effective_configs(
    store: &Store,
    tenant_id: &str,
    app: &CatalogApp,
) -> Result<Vec<CreditConfigView>, StoreError> {
    let (tenant, global) = tokio::join!(
        active_configs(store, ConfigScope::Tenant(tenant_id), &app.app_code),
        active_configs(store, ConfigScope::Global, &app.app_code)
    );
    let (tenant, global) = (tenant?, global?);
    let mut entries: Vec<CreditConfigView> = operations(app)
        .iter()
        .map(|op| {
            tenant
                .get(&op.code)
                .and_then(|s| stored_entry(s, Some(op), Some(tenant_id)))
                .or_else(|| global.get(&op.code).and_then(|s| stored_entry(s, Some(op), None)))
                .unwrap_or_else(|| default_entry(op, Some(tenant_id)))
        })
        .collect();
    entries.sort_by(|a, b| a.operation_code.as_bytes().cmp(b.operation_code.as_bytes()));
    Ok(entries)
}

/// The entries backed by a stored configuration (`source` tenant or global), over every app
/// of `catalog`: what sync status counts as `creditConfigs` and the sync checksums.
pub async fn configured_configs(
    store: &Store,
    tenant_id: &str,
    catalog: &[CatalogApp],
) -> Result<Vec<CreditConfigView>, StoreError> {
    let mut configured = Vec::new();
    for app in catalog {
        configured
            .extend(effective_configs(store, tenant_id, app).await?.into_iter().filter(|e| e.source != "default"));
    }
    Ok(configured)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EffectiveSummary {
    total_operations: usize,
    tenant_specific: usize,
    global: usize,
    default: usize,
    modules: usize,
    app_code: String,
}

#[derive(Serialize)]
struct ConfigsBody<S> {
    success: bool,
    data: Vec<CreditConfigView>,
    summary: S,
}

/// Reads `appCode` for the credit-config routes: `default` when absent (or required when
/// `None`), syntax-checked.
fn config_app_code(raw: Option<&str>, default: Option<&str>) -> Result<String, ApiError> {
    let query = QueryParams::parse(raw);
    let mut problems = Vec::new();
    let app = params::app_code(&query, &mut problems);
    if !problems.is_empty() {
        if default.is_none() && query.single("appCode", &mut Vec::new()).is_none() {
            return Err(required_app_code());
        }
        return Err(ApiError::invalid(problems));
    }
    match (app, default) {
        (Some(app), _) => Ok(app),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(required_app_code()),
    }
}

fn required_app_code() -> ApiError {
    let mut error = ApiError::invalid(vec![FieldProblem { field: "appCode".into(), problem: "is required".into() }]);
    error = error.with_message("appCode query parameter is required");
    error
}

async fn catalog_app(state: &AppState, app: &str) -> Result<CatalogApp, ApiError> {
    check_app_code(state, app).await?;
    state
        .catalog
        .app(app)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, format!("Unknown appCode: {app}")))
}

/// `GET /tenants/{tenantId}/credit-configs`.
pub async fn tenant_configs(
    State(state): State<AppState>,
    caller: Authenticated,
    tenant: TenantPath,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let app_code = config_app_code(raw.as_deref(), Some(DEFAULT_APP_CODE))?;
    let tenant = super::tenant_access(&state, &caller, &tenant).await?;
    let app = catalog_app(&state, &app_code).await?;
    let data = effective_configs(&state.store, &tenant.tenant_id, &app).await?;
    let count = |source: &str| data.iter().filter(|e| e.source == source).count();
    let summary = EffectiveSummary {
        total_operations: data.len(),
        tenant_specific: count("tenant"),
        global: count("global"),
        default: count("default"),
        modules: app.modules.len(),
        app_code,
    };
    Ok(cached_json(&headers, &ConfigsBody { success: true, data, summary }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GlobalSummary {
    total_operations: usize,
    with_db_config: usize,
    defaults: usize,
    modules: usize,
    app_code: String,
}

/// `GET /credit-configs/global` (any valid token).
pub async fn global_configs(
    State(state): State<AppState>,
    _caller: Authenticated,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let app_code = config_app_code(raw.as_deref(), None)?;
    let app = catalog_app(&state, &app_code).await?;
    let global = active_configs(&state.store, ConfigScope::Global, &app_code).await?;
    let mut data: Vec<CreditConfigView> = operations(&app)
        .iter()
        .map(|op| {
            global
                .get(&op.code)
                .and_then(|s| stored_entry(s, Some(op), None))
                .unwrap_or_else(|| default_entry(op, None))
        })
        .collect();
    data.sort_by(|a, b| a.operation_code.as_bytes().cmp(b.operation_code.as_bytes()));
    let with_db_config = data.iter().filter(|e| e.source == "global").count();
    let summary = GlobalSummary {
        total_operations: data.len(),
        with_db_config,
        defaults: data.len() - with_db_config,
        modules: app.modules.len(),
        app_code,
    };
    Ok(cached_json(&headers, &ConfigsBody { success: true, data, summary }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OverridesSummary {
    total_overrides: usize,
    app_code: String,
    tenant_id: String,
}

/// `GET /tenants/{tenantId}/credit-configs/tenant-specific`.
pub async fn tenant_overrides(
    State(state): State<AppState>,
    caller: Authenticated,
    tenant: TenantPath,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let app_code = config_app_code(raw.as_deref(), None)?;
    let tenant = super::tenant_access(&state, &caller, &tenant).await?;
    let app = catalog_app(&state, &app_code).await?;
    let ops = operations(&app);
    let by_code: HashMap<&str, &Operation<'_>> = ops.iter().map(|o| (o.code.as_str(), o)).collect();
    let mut configs: Vec<Stored<CreditConfig, NoDerived>> =
        active_configs(&state.store, ConfigScope::Tenant(&tenant.tenant_id), &app_code).await?.into_values().collect();
    configs.sort_by(|a, b| a.sk.as_bytes().cmp(b.sk.as_bytes()));
    let data: Vec<CreditConfigView> = configs
        .iter()
        .filter_map(|s| {
            let op = s.live().and_then(|c| by_code.get(c.operation_code.as_str()).copied());
            stored_entry(s, op, Some(&tenant.tenant_id))
        })
        .collect();
    let summary = OverridesSummary { total_overrides: data.len(), app_code, tenant_id: tenant.tenant_id };
    Ok(cached_json(&headers, &ConfigsBody { success: true, data, summary }))
}

/// Tenant credit overrides of `app` as bootstrap lists them (active, by operation code).
pub async fn bootstrap_configs(store: &Store, tenant_id: &str, app: &str) -> Result<Vec<CreditConfig>, StoreError> {
    let mut configs: Vec<CreditConfig> =
        active_configs(store, ConfigScope::Tenant(tenant_id), app).await?.into_values().filter_map(|s| s.rec).collect();
    configs.sort_by(|a, b| a.operation_code.as_bytes().cmp(b.operation_code.as_bytes()));
    Ok(configs)
}
