//! Authentication and tenant isolation (contract section 3).
//!
//! [`Authenticator`] turns an `Authorization` header into a verified [`Caller`];
//! [`authorize_tenant`] decides whether that caller may see the tenant named in a path and
//! resolves it. Tokens, signatures and secrets never reach a log line or an error message:
//! errors carry only which kind of failure happened.

mod access;
pub mod config;
/// The development issuer and token minting (development tools, not in the functions).
#[cfg(feature = "dev-tools")]
pub mod dev;
pub mod directory;
pub mod jwks;
pub mod services;
mod token;

pub use access::{authorize_tenant, presumed_tenant, resolve_tenant, AccessError};
pub use config::AuthConfig;
pub use directory::{TenantDirectory, TenantRef};
pub use token::{Authenticator, MAX_AUTHORIZATION_LEN};

/// Which verifier accepted the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A Kinde access token (RS256).
    Kinde,
    /// A service token (EdDSA or ES256 under the service's own key; HS256/384/512 only in
    /// the deprecated shared-secret mode).
    Service,
}

/// Which tenants a caller may see (contract section 3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerScope {
    /// Any tenant.
    Platform,
    /// The tenant whose Kinde org code is this `org_code` (if such a tenant exists).
    KindeOrg(String),
    /// The tenant whose id or Kinde org code is this `tenant_id` claim.
    ServiceTenant(String),
    /// No tenant.
    Unscoped,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Which kind of token it presented.
    pub kind: TokenKind,
    /// `sub` (or `azp`) of a Kinde token, `service` of a service token: used in logs and to
    /// scope idempotency keys.
    pub principal: String,
    /// Which tenants it may see.
    pub scope: CallerScope,
    /// A service token with `platform:write` from a service granted `write` (ingestion).
    pub can_write: bool,
}

/// Why a request is not allowed through. Maps to the contract's 401, 403, 404 and 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header (401, `WWW-Authenticate: Bearer`).
    #[error("Authentication token required")]
    Missing,
    /// Any malformed, unverifiable, expired or otherwise rejected token (401,
    /// `WWW-Authenticate: Bearer error="invalid_token"`). Deliberately says nothing more.
    #[error("Invalid or expired authentication token")]
    Invalid,
    /// A valid token that may not see the named tenant, whether or not it exists (403).
    #[error("Access to this tenant is not permitted")]
    Forbidden,
    /// The tenant does not exist, told only to callers who could see it (404).
    #[error("Tenant not found")]
    TenantNotFound,
    /// The identity provider's keys cannot be obtained (503).
    #[error("identity provider keys are unavailable")]
    Unavailable,
}
