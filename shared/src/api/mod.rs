//! The HTTP API: routers, extractors, response shapes. Lambda functions and the local
//! server run these same routers.

pub mod amount;
pub mod bootstrap;
pub mod catalog;
pub mod credits;
pub mod error;
pub mod extract;
pub mod memberships;
pub mod organizations;
pub mod paging;
pub mod params;
pub mod people;
pub mod request_id;
pub mod requirements;
pub mod respond;
pub mod roles;
pub mod sync;
pub mod tenants;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::auth::{Authenticator, TenantDirectory};
use crate::pagination::CursorCodec;
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
    /// Cursor signing.
    pub cursors: CursorCodec,
    /// Where sync runs execute.
    pub launcher: Arc<crate::sync::launch::Launcher>,
    /// Where completion events go.
    pub events: Arc<crate::sync::events::EventPublisher>,
}

impl AppState {
    /// State over `store` with the production caches, inline sync runs and logged events.
    pub fn new(store: Store, auth: Authenticator, cursors: CursorCodec) -> Self {
        Self {
            directory: Arc::new(TenantDirectory::new(store.clone())),
            catalog: Arc::new(CatalogCache::new(store.clone(), catalog::CATALOG_TTL)),
            auth: Arc::new(auth),
            cursors,
            launcher: Arc::new(crate::sync::launch::Launcher::Inline),
            events: Arc::new(crate::sync::events::EventPublisher::Log),
            store,
        }
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

/// Routes of the tenants group (`tenants-api`), relative to the base path.
pub fn tenant_routes() -> Router<AppState> {
    use paging::list;
    Router::new()
        .route("/tenants/{tenantId}", get(tenants::get_tenant))
        .route("/tenants/{tenantId}/users", get(list::<people::Users>))
        .route("/tenants/{tenantId}/tenant-users", get(list::<people::TenantUsers>))
        .route("/tenants/{tenantId}/organizations", get(list::<organizations::Organizations>))
        .route("/tenants/{tenantId}/employee-assignments", get(list::<memberships::EmployeeAssignments>))
        .route(
            "/tenants/{tenantId}/bootstrap",
            axum::routing::post(bootstrap::bootstrap).layer(axum::extract::DefaultBodyLimit::max(bootstrap::MAX_BODY)),
        )
}

/// Routes of the roles group (`roles-api`).
pub fn role_routes() -> Router<AppState> {
    use paging::list;
    Router::new()
        .route("/tenants/{tenantId}/roles", get(list::<roles::Roles>))
        .route("/tenants/{tenantId}/role-assignments", get(list::<roles::RoleAssignments>))
}

/// Routes of the credits group (`credits-api`).
pub fn credit_routes() -> Router<AppState> {
    Router::new()
        .route("/credit-configs/global", get(credits::global_configs))
        .route("/tenants/{tenantId}/credit-configs", get(credits::tenant_configs))
        .route("/tenants/{tenantId}/credit-configs/tenant-specific", get(credits::tenant_overrides))
        .route("/tenants/{tenantId}/entity-credits", get(paging::list::<credits::EntityCredits>))
}

/// Routes of the sync group (`sync-api`).
pub fn sync_routes() -> Router<AppState> {
    Router::new()
        .route("/data-requirements", get(requirements::data_requirements))
        .route("/tenants/{tenantId}/sync", axum::routing::post(sync::trigger))
        .route("/tenants/{tenantId}/sync/status", get(sync::status))
}

/// Serves `routes` under both base paths, with the common middleware and the 404 fallback.
pub fn serve(routes: Router<AppState>, state: AppState) -> Router {
    Router::new()
        .nest(BASE_PATH, routes.clone())
        .nest(ALIAS_PATH, routes)
        .fallback(|| async { ApiError::route_not_found() })
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}

/// Every route this build serves (the local server and tests use it).
pub fn all_routes() -> Router<AppState> {
    tenant_routes().merge(role_routes()).merge(credit_routes()).merge(sync_routes())
}
