//! Verifying a bearer token (contract sections 3.1 to 3.4, as changed in `docs/api.md`).
//!
//! The header's `alg` picks exactly one verifier: RS256 tokens are Kinde tokens, checked
//! against the cached key set; EdDSA and ES256 tokens are service tokens, checked against
//! the public key their `kid` names, which must belong to the service they name;
//! HS256/384/512 tokens are accepted only in the deprecated shared-secret mode. Nothing is
//! ever decoded without verifying its signature, and no error says which check failed.

use std::sync::Arc;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::config::{AuthConfig, LegacyServiceSecrets, WRITE_PERMISSION};
use super::jwks::{JwksCache, KeyLookupError};
use super::services::{Grants, ServiceCredentials, ServiceKeySource};
use super::{AuthError, Caller, CallerScope, TokenKind};

/// Longest accepted `Authorization` header (contract section 2.7).
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

#[derive(Deserialize)]
struct KindeClaims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    org_code: Option<String>,
    #[serde(default)]
    permissions: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ServiceClaims {
    #[serde(rename = "type")]
    kind: String,
    service: String,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    permissions: Option<Vec<String>>,
    iat: i64,
    exp: i64,
}

/// Verifies tokens. Build one per process and share it: it holds the key cache.
#[derive(Debug)]
pub struct Authenticator {
    config: AuthConfig,
    jwks: Arc<JwksCache>,
}

impl Authenticator {
    /// An authenticator for `config`, fetching Kinde keys from its issuer.
    pub fn new(config: AuthConfig) -> Self {
        let jwks = Arc::new(JwksCache::new(config.jwks_url()));
        Self { config, jwks }
    }

    /// An authenticator with a given key cache (tests shorten its timing).
    pub fn with_jwks(config: AuthConfig, jwks: JwksCache) -> Self {
        Self { config, jwks: Arc::new(jwks) }
    }

    /// The settings in use.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Authenticates the value of the `Authorization` header (`None` when absent). Service
    /// tokens are checked against the keys `keys` supplies (the runtime secrets); Kinde
    /// tokens never ask for them.
    pub async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        keys: &impl ServiceKeySource,
    ) -> Result<Caller, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        if header.len() > MAX_AUTHORIZATION_LEN {
            return Err(AuthError::Invalid);
        }
        let token = bearer_token(header).ok_or(AuthError::Invalid)?;
        let jws_header = decode_header(token).map_err(|_| AuthError::Invalid)?;
        match jws_header.alg {
            Algorithm::RS256 => {
                let kid = jws_header.kid.ok_or(AuthError::Invalid)?;
                self.verify_kinde(token, &kid).await
            }
            Algorithm::EdDSA | Algorithm::ES256 => {
                let kid = jws_header.kid.ok_or(AuthError::Invalid)?;
                self.verify_service(token, jws_header.alg, &kid, &*keys.service_keys().await?)
            }
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let legacy = keys.shared_secrets().await?.ok_or(AuthError::Invalid)?;
                self.verify_shared_secret(token, jws_header.alg, &legacy)
            }
            _ => Err(AuthError::Invalid),
        }
    }

    async fn verify_kinde(&self, token: &str, kid: &str) -> Result<Caller, AuthError> {
        let key = self.jwks.key(kid).await.map_err(|e| match e {
            KeyLookupError::UnknownKid => AuthError::Invalid,
            KeyLookupError::Unavailable => AuthError::Unavailable,
        })?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.kinde_issuer]);
        // jsonwebtoken checks `aud` only when present; it is required, so a token without
        // one fails too.
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_audience(&[&self.config.kinde_audience]);
        let claims = decode::<KindeClaims>(token, &key, &validation).map_err(|_| AuthError::Invalid)?.claims;
        let permissions = claims.permissions.unwrap_or_default();
        let org = claims.org_code.filter(|c| !c.is_empty());
        let platform_org = org.as_deref().is_some_and(|o| self.config.kinde_platform_org.as_deref() == Some(o));
        let member = self.config.kinde_required_permission.as_ref().is_none_or(|p| permissions.contains(p));
        let scope = match org {
            _ if platform_org && permissions.contains(&self.config.platform_permission) => CallerScope::Platform,
            Some(org) if member => CallerScope::KindeOrg(org),
            _ => CallerScope::Unscoped,
        };
        let principal = claims.sub.or(claims.azp).unwrap_or_default();
        tracing::debug!(kind = "kinde", %principal, "token verified");
        Ok(Caller { kind: TokenKind::Kinde, principal, scope, can_write: false })
    }

    /// A service token signed with the key its `kid` names; the key must belong to the
    /// service the token names, and the service's grants decide platform scope and writes.
    fn verify_service(
        &self,
        token: &str,
        algorithm: Algorithm,
        kid: &str,
        services: &ServiceCredentials,
    ) -> Result<Caller, AuthError> {
        let key = services.key(kid).filter(|k| k.algorithm == algorithm).ok_or(AuthError::Invalid)?;
        let claims = decode::<ServiceClaims>(token, &key.key, &self.service_validation(algorithm))
            .map_err(|_| AuthError::Invalid)?
            .claims;
        if claims.service != key.service {
            return Err(AuthError::Invalid);
        }
        let grants = services.grants(&key.service).unwrap_or_default();
        self.service_caller(claims, grants)
    }

    /// The deprecated shared-secret mode: one HMAC secret for every service, accepted only
    /// when enabled, with the same claim rules.
    fn verify_shared_secret(
        &self,
        token: &str,
        algorithm: Algorithm,
        legacy: &LegacyServiceSecrets,
    ) -> Result<Caller, AuthError> {
        let validation = self.service_validation(algorithm);
        let claims = std::iter::once(&legacy.secret)
            .chain(legacy.previous.as_ref())
            .find_map(|secret| {
                decode::<ServiceClaims>(token, &DecodingKey::from_secret(secret.expose()), &validation).ok()
            })
            .ok_or(AuthError::Invalid)?
            .claims;
        if !legacy.allowed_services.contains(&claims.service) {
            return Err(AuthError::Invalid);
        }
        let grants = Grants { platform: legacy.platform_services.contains(&claims.service), write: false };
        self.service_caller(claims, grants)
    }

    fn service_validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        validation
    }

    /// The caller a verified service token stands for: `type`, `iat` and the lifetime
    /// checked, scope and writes from the token's claims as far as the grants allow.
    fn service_caller(&self, claims: ServiceClaims, grants: Grants) -> Result<Caller, AuthError> {
        let now = chrono::Utc::now().timestamp();
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if claims.kind != "service_token"
            || claims.iat > now + LEEWAY_SECONDS as i64
            || lifetime < 0
            || lifetime as u64 > self.config.max_service_token_lifetime
        {
            return Err(AuthError::Invalid);
        }
        let permissions = claims.permissions.unwrap_or_default();
        let scope = match claims.tenant_id {
            Some(tenant) if tenant.is_empty() => return Err(AuthError::Invalid),
            Some(tenant) => CallerScope::ServiceTenant(tenant),
            None if grants.platform && permissions.iter().any(|p| p == "platform:all_tenants") => CallerScope::Platform,
            None => CallerScope::Unscoped,
        };
        let can_write = grants.write && permissions.iter().any(|p| p == WRITE_PERMISSION);
        tracing::debug!(kind = "service", service = %claims.service, "token verified");
        Ok(Caller { kind: TokenKind::Service, principal: claims.service, scope, can_write })
    }
}

/// The token of `Bearer <token>`: scheme case-insensitive, exactly one space, and a compact
/// JWS of three base64url segments.
fn bearer_token(header: &[u8]) -> Option<&str> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, token) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case("bearer ") {
        return None;
    }
    let segments: Vec<&str> = token.split('.').collect();
    let base64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (segments.len() == 3 && segments.iter().all(|s| !s.is_empty() && base64url(s))).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_with_one_space() {
        assert_eq!(bearer_token(b"Bearer a.b.c"), Some("a.b.c"));
        assert_eq!(bearer_token(b"bEaReR a.b.c"), Some("a.b.c"));
        assert_eq!(bearer_token(b"Bearer  a.b.c"), None);
        assert_eq!(bearer_token(b"Basic a.b.c"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Bearer a.b"), None);
        assert_eq!(bearer_token(b"Bearer a..c"), None);
        assert_eq!(bearer_token(b"Bearer a.b.c.d"), None);
        assert_eq!(bearer_token(b"Bearer a+b.c.d"), None);
        assert_eq!(bearer_token(&[0xff, 0xfe]), None);
    }
}
