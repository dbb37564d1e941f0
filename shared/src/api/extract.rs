//! Extractors that run the contract's checks in its order (section 2.6): authentication
//! first, then syntax of the path, then tenant authorization and resolution.

use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::auth::Caller;
use crate::model::id_problem;

/// The verified caller (401 otherwise).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl<S> FromRequestParts<S> for Authenticated
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = parts.headers.get(AUTHORIZATION).map(|value| value.as_bytes());
        // Only a service token asks the runtime secrets for keys (see `crate::secrets`).
        let caller = state.auth.authenticate(header, &state.secrets).await?;
        let key = format!("{:?}:{}", caller.kind, caller.principal);
        state.limits.caller(&key).map_err(ApiError::too_many_requests)?;
        Ok(Self(caller))
    }
}

/// The `{tenantId}` path parameter, percent-decoded and syntax-checked (400 otherwise).
#[derive(Debug, Clone)]
pub struct TenantPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TenantPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // By name, so routes with more parameters than `{tenantId}` take it too.
        let Path(mut params) = Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid_field("tenantId", "must be valid percent-encoded UTF-8"))?;
        let tenant = params.remove("tenantId").unwrap_or_default();
        if let Some(problem) = id_problem(&tenant) {
            return Err(ApiError::invalid_field("tenantId", problem));
        }
        Ok(Self(tenant))
    }
}
