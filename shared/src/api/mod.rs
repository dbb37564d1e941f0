//! The HTTP API: routers, extractors, response shapes. Lambda functions and the local
//! server run these same routers.

pub mod amount;
mod audited;
pub mod bootstrap;
pub mod catalog;
pub mod changes;
pub mod credits;
pub mod error;
pub mod extract;
pub mod limits;
pub mod memberships;
mod observe;
pub mod openapi;
pub mod organizations;
pub mod paging;
pub mod params;
pub mod people;
pub mod request_id;
pub mod requirements;
pub mod respond;
pub mod roles;
pub mod sync;
pub mod sync_status;
pub mod tenants;
pub mod totals;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

use crate::auth::{Authenticator, TenantDirectory};
use crate::secrets::RuntimeSecrets;
use crate::store::Store;
use catalog::CatalogCache;
use error::ApiError;

/// Canonical base path.
pub const BASE_PATH: &str = "/api/sync";
/// Compatibility alias of the base path.
pub const ALIAS_PATH: &str = "/api/wrapper";

/// What every handler needs, built once per process.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The table.
    pub store: Store,
    /// Token verification (holds the key cache).
    pub auth: Arc<Authenticator>,
    /// Tenant resolution with its short cache.
    pub directory: Arc<TenantDirectory>,
    /// The app catalog with its 60-second cache.
    pub catalog: Arc<CatalogCache>,
    /// The runtime secrets: cursor signing keys and the calling services' keys.
    pub secrets: RuntimeSecrets,
    /// Where sync runs execute.
    pub launcher: Arc<crate::sync::launch::Launcher>,
    /// Where completion events go.
    pub events: Arc<crate::sync::events::EventPublisher>,
    /// Per-caller and per-tenant request limits.
    pub limits: Arc<limits::RateLimits>,
    /// The audit trail of sync triggers and writes.
    pub audit: Arc<crate::audit::AuditLog>,
}

impl AppState {
    /// State over `store` with the production caches, inline sync runs and logged events.
    pub fn new(store: Store, auth: Authenticator, secrets: RuntimeSecrets) -> Self {
        Self {
            directory: Arc::new(TenantDirectory::new(store.clone())),
            catalog: Arc::new(CatalogCache::new(store.clone(), catalog::CATALOG_TTL)),
            auth: Arc::new(auth),
            secrets,
            launcher: Arc::new(crate::sync::launch::Launcher::Inline),
            events: Arc::new(crate::sync::events::EventPublisher::Log),
            limits: Arc::new(limits::RateLimits::default()),
            audit: Arc::new(crate::audit::AuditLog::new(store.clone(), crate::audit::DEFAULT_RETENTION_DAYS)),
            store,
        }
    }

    /// Uses `audit` instead of the default audit log (its retention).
    pub fn with_audit(mut self, audit: crate::audit::AuditLog) -> Self {
        self.audit = Arc::new(audit);
        self
    }

    /// Uses `limits` instead of the default request limits.
    pub fn with_limits(mut self, limits: limits::RateLimits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    /// Uses `launcher` and `events` for sync runs (the default is inline runs and logged events).
    pub fn with_sync(
        mut self,
        launcher: crate::sync::launch::Launcher,
        events: crate::sync::events::EventPublisher,
    ) -> Self {
        self.launcher = Arc::new(launcher);
        self.events = Arc::new(events);
        self
    }
}

/// One route a router serves. The OpenAPI drift test compares these with `docs/openapi.yaml`,
/// which is why routers are only built through [`Routes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteSpec {
    /// `GET` or `POST` (`HEAD` is implied by every `GET`).
    pub method: &'static str,
    /// Path relative to the base path, with `{name}` placeholders.
    pub path: &'static str,
}

/// A router together with the list of routes it serves (axum routers cannot list their own).
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
}

impl Routes {
    fn add(mut self, method: &'static str, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, route);
        self.specs.push(RouteSpec { method, path });
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("GET", path, get(handler))
    }

    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("POST", path, post(handler))
    }

    /// Both groups' routes in one router.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.specs.extend(other.specs);
        self
    }

    /// The routes served, relative to the base path, in the order they were added.
    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }
}

/// Routes of the tenants group (`tenants-api`), relative to the base path.
pub fn tenant_routes() -> Routes {
    use paging::list;
    let bootstrap = post(bootstrap::bootstrap).layer(DefaultBodyLimit::max(bootstrap::MAX_BODY));
    Routes::default()
        .get("/tenants/{tenantId}", tenants::get_tenant)
        .get("/tenants/{tenantId}/users", list::<people::Users>)
        .get("/tenants/{tenantId}/tenant-users", list::<people::TenantUsers>)
        .get("/tenants/{tenantId}/organizations", list::<organizations::Organizations>)
        .get("/tenants/{tenantId}/employee-assignments", list::<memberships::EmployeeAssignments>)
        .add("POST", "/tenants/{tenantId}/bootstrap", bootstrap)
}

/// Routes of the roles group (`roles-api`).
pub fn role_routes() -> Routes {
    use paging::list;
    Routes::default()
        .get("/tenants/{tenantId}/roles", list::<roles::Roles>)
        .get("/tenants/{tenantId}/role-assignments", list::<roles::RoleAssignments>)
}

/// Routes of the credits group (`credits-api`).
pub fn credit_routes() -> Routes {
    Routes::default()
        .get("/credit-configs/global", credits::global_configs)
        .get("/tenants/{tenantId}/credit-configs", credits::tenant_configs)
        .get("/tenants/{tenantId}/credit-configs/tenant-specific", credits::tenant_overrides)
        .get("/tenants/{tenantId}/entity-credits", paging::list::<credits::EntityCredits>)
}

/// Routes of the sync group (`sync-api`), which also serves the OpenAPI description.
pub fn sync_routes() -> Routes {
    Routes::default()
        .get("/data-requirements", requirements::data_requirements)
        .get("/openapi.yaml", openapi::openapi_yaml)
        .post("/tenants/{tenantId}/sync", sync::trigger)
        .get("/tenants/{tenantId}/sync/status", sync_status::status)
        .get("/tenants/{tenantId}/sync/runs/{syncId}", sync_status::run)
}

/// Routes of the ingestion group (`ingest`, the one function allowed to write): the
/// platform's changes over HTTP. Bodies up to 1 MiB (413 beyond, in the contract's shape).
pub fn ingest_routes() -> Routes {
    let limit = || DefaultBodyLimit::max(crate::ingest::batch::MAX_BODY_BYTES);
    Routes::default().add("POST", "/tenants/{tenantId}/changes", post(changes::tenant_changes).layer(limit())).add(
        "POST",
        "/changes",
        post(changes::platform_changes).layer(limit()),
    )
}

/// Serves `routes` under both base paths, with the common middleware and the 404 fallback.
pub fn serve(routes: Routes, state: AppState) -> Router {
    let router = routes.router.route_layer(axum::middleware::from_fn(observe::mark_route));
    Router::new()
        .nest(BASE_PATH, router.clone())
        .nest(ALIAS_PATH, router)
        .fallback(|| async { ApiError::route_not_found() })
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}

/// Every route this build serves (the local server and tests use it).
pub fn all_routes() -> Routes {
    tenant_routes().merge(role_routes()).merge(credit_routes()).merge(sync_routes()).merge(ingest_routes())
}

/// Tenant authorization and resolution (contract 3.6), then the tenant's request limit: the
/// tenant part of every tenant route.
pub async fn tenant_access(
    state: &AppState,
    caller: &extract::Authenticated,
    tenant: &extract::TenantPath,
) -> Result<crate::auth::TenantRef, error::ApiError> {
    let names = crate::auth::authorize_tenant(&state.directory, &caller.0, &tenant.0).await?;
    state.limits.tenant(&names.tenant_id).map_err(error::ApiError::too_many_requests)?;
    Ok(names)
}
