//! Per-service credentials: which public keys may sign tokens for which calling service,
//! and what each service may ask for beyond its own tenant.
//!
//! Every calling service (CRM, HR, ...) holds its own Ed25519 (or P-256) private key and
//! App Sync holds only the public halves, so App Sync has no signing secret to leak, and a
//! leaked key lets its holder act as that one service only: a token verifies only under a
//! key of the service it names. Platform-wide reads (`platform:all_tenants`) and writes
//! (`platform:write`) are grants of the service's configuration, never something a token can
//! claim on its own. Several keys per service allow rotation without downtime.
//!
//! The configuration is JSON (`SERVICE_KEYS`, or the `serviceKeys` member of the runtime
//! secret):
//!
//! ```json
//! { "crm": { "keys": [ { "kty": "OKP", "crv": "Ed25519", "kid": "crm-2026-11", "x": "..." } ] },
//!   "wrapper": { "keys": [ ... ], "grants": ["platform", "write"] } }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::config::LegacyServiceSecrets;
use super::AuthError;

/// Where the verifier gets the keys service tokens are checked against (the runtime
/// secrets implement it). The verifier asks only when a token needs them, so a Kinde token
/// never waits for the runtime secret's first read, and neither does a service token when
/// the service keys come from the environment.
pub trait ServiceKeySource: Sync {
    /// The calling services' public keys and grants (for EdDSA and ES256 tokens).
    fn service_keys(&self) -> impl Future<Output = Result<Arc<ServiceCredentials>, AuthError>> + Send;
    /// The deprecated shared secrets, `None` unless that mode is on (for HS256/384/512 tokens).
    fn shared_secrets(&self) -> impl Future<Output = Result<Option<Arc<LegacyServiceSecrets>>, AuthError>> + Send;
}

/// What a service may do beyond reading its own tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    /// May read every tenant (`platform:all_tenants` in a token without `tenant_id`).
    pub platform: bool,
    /// May write (`platform:write`), for the ingestion routes.
    pub write: bool,
}

/// A verification key and the service it belongs to.
#[derive(Clone)]
pub struct ServiceKey {
    /// The service whose tokens this key signs.
    pub service: String,
    /// The algorithm tokens signed with it must declare.
    pub algorithm: Algorithm,
    /// The public key.
    pub key: DecodingKey,
}

/// Every service's keys and grants.
#[derive(Clone, Default)]
pub struct ServiceCredentials {
    by_kid: HashMap<String, ServiceKey>,
    grants: BTreeMap<String, Grants>,
}

impl std::fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCredentials")
            .field("services", &self.grants.keys().collect::<Vec<_>>())
            .field("keys", &self.by_kid.len())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceEntry {
    keys: Vec<serde_json::Value>,
    #[serde(default)]
    grants: Vec<String>,
}

impl ServiceCredentials {
    /// Parses the JSON configuration. Every key needs a `kid` unique across services and
    /// must be an Ed25519 (`OKP`) or P-256 (`EC`) public key; grants are `platform` and
    /// `write`. The error says what is wrong, never a key.
    pub fn parse(json: &str) -> Result<Self, String> {
        let entries: BTreeMap<String, ServiceEntry> =
            serde_json::from_str(json).map_err(|e| format!("not a map of services: {e}"))?;
        let mut credentials = Self::default();
        let mut kids = BTreeSet::new();
        for (service, entry) in entries {
            if service.trim().is_empty() || service.len() > 64 {
                return Err("service names must be 1 to 64 characters".into());
            }
            let mut grants = Grants::default();
            for grant in &entry.grants {
                match grant.as_str() {
                    "platform" => grants.platform = true,
                    "write" => grants.write = true,
                    other => return Err(format!("service {service}: unknown grant {other:?}")),
                }
            }
            for value in entry.keys {
                let jwk: Jwk =
                    serde_json::from_value(value).map_err(|_| format!("service {service}: a key is not a JWK"))?;
                let kid = jwk.common.key_id.clone().ok_or_else(|| format!("service {service}: a key has no kid"))?;
                if !kids.insert(kid.clone()) {
                    return Err(format!("kid {kid} is used twice"));
                }
                let algorithm = match &jwk.algorithm {
                    AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
                    AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
                    _ => return Err(format!("service {service}, kid {kid}: keys must be Ed25519 or P-256")),
                };
                let key =
                    DecodingKey::from_jwk(&jwk).map_err(|_| format!("service {service}, kid {kid}: unusable key"))?;
                credentials.by_kid.insert(kid, ServiceKey { service: service.clone(), algorithm, key });
            }
            credentials.grants.insert(service, grants);
        }
        Ok(credentials)
    }

    /// The key with this `kid`.
    pub fn key(&self, kid: &str) -> Option<&ServiceKey> {
        self.by_kid.get(kid)
    }

    /// A configured service's grants (`None`: the service is not configured).
    pub fn grants(&self, service: &str) -> Option<Grants> {
        self.grants.get(service).copied()
    }

    /// Whether no service is configured.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn key(kid: &str) -> serde_json::Value {
        serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": ED25519_X })
    }

    #[test]
    fn services_keys_and_grants_are_read() {
        let json = serde_json::json!({
            "crm": { "keys": [key("crm-1"), key("crm-2")] },
            "wrapper": { "keys": [key("w-1")], "grants": ["platform", "write"] }
        });
        let credentials = ServiceCredentials::parse(&json.to_string()).unwrap();
        assert_eq!(credentials.key("crm-2").unwrap().service, "crm");
        assert_eq!(credentials.key("crm-1").unwrap().algorithm, Algorithm::EdDSA);
        assert_eq!(credentials.grants("crm"), Some(Grants::default()));
        assert_eq!(credentials.grants("wrapper"), Some(Grants { platform: true, write: true }));
        assert!(credentials.key("w-2").is_none() && credentials.grants("hr").is_none());
    }

    #[test]
    fn bad_configurations_are_refused_without_printing_keys() {
        let twice = serde_json::json!({ "crm": { "keys": [key("k")] }, "hr": { "keys": [key("k")] } });
        assert!(ServiceCredentials::parse(&twice.to_string()).unwrap_err().contains("used twice"));
        let grant = serde_json::json!({ "crm": { "keys": [key("k")], "grants": ["admin"] } });
        assert!(ServiceCredentials::parse(&grant.to_string()).unwrap_err().contains("unknown grant"));
        let rsa = serde_json::json!({ "crm": { "keys": [{ "kty": "RSA", "kid": "r", "n": "sXch", "e": "AQAB" }] } });
        let error = ServiceCredentials::parse(&rsa.to_string()).unwrap_err();
        assert!(error.contains("Ed25519 or P-256") && !error.contains("sXch"));
        assert!(ServiceCredentials::parse("[]").is_err());
    }
}
