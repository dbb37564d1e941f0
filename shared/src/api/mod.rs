//! The HTTP API: routers, extractors, response shapes. Lambda functions and the local
//! server run these same routers.

pub mod error;
pub mod extract;
pub mod request_id;
pub mod respond;
pub mod tenants;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::auth::Authenticator;
use crate::store::Store;
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
}

/// Routes of the tenants group (relative to the base path).
pub fn tenant_routes() -> Router<AppState> {
    Router::new().route("/tenants/{tenantId}", get(tenants::get_tenant))
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
    tenant_routes()
}
