//! Minting tokens for local development and tests: a development RSA key whose public half
//! is served as a JWK set on loopback, Kinde-style RS256 tokens signed by it, development
//! Ed25519 keys of the calling services (one per service, derived from one seed) with the
//! `SERVICE_KEYS` configuration that accepts them, and shared-secret tokens for the
//! deprecated mode.
//!
//! Nothing here takes part in verifying requests: a deployed function verifies every token
//! against its configured issuer's published keys and its secrets, whatever minted it.

use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The shared service-token secret of local runs of the deprecated shared-secret mode
/// (`wrapper-sync token service --hmac`); no deployment uses it.
pub const DEV_SERVICE_SECRET: &str = "local-development-service-secret-0123456789";
/// The audience of local Kinde-style tokens and of the local server.
pub const DEV_KINDE_AUDIENCE: &str = "http://127.0.0.1/app-sync";
/// The Kinde org whose platform-permission tokens are platform-wide locally.
pub const DEV_PLATFORM_ORG: &str = "org_platform";
/// The calling services of local runs and their grants (`wrapper` is the platform's own
/// service: platform-wide reads and writes).
pub const DEV_SERVICES: [(&str, &[&str]); 8] = [
    ("crm", &[]),
    ("accounting", &[]),
    ("ops", &[]),
    ("operations", &[]),
    ("hr", &[]),
    ("affiliate_connect", &[]),
    ("inventory", &[]),
    ("wrapper", &["platform", "write"]),
];
/// The cursor signing key of local runs.
pub const DEV_CURSOR_KEY: &str = "local-development-cursor-signing-key-0123456789";

/// Why a development key or token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    /// Key generation, loading or signing failed.
    #[error("development key error: {0}")]
    Crypto(String),
    /// Reading or writing the key file failed.
    #[error("development key file: {0}")]
    Io(#[from] std::io::Error),
}

/// An RSA signing key for development tokens.
pub struct DevSigningKey {
    pair: KeyPair,
    kid: String,
}

impl std::fmt::Debug for DevSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DevSigningKey({})", self.kid)
    }
}

impl DevSigningKey {
    /// A new 2048-bit key.
    pub fn generate() -> Result<Self, DevKeyError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|e| DevKeyError::Crypto(e.to_string()))?;
        Ok(Self::from_pair(pair))
    }

    /// The key stored at `path` (PKCS#8 DER), created there if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, DevKeyError> {
        if let Ok(der) = std::fs::read(path) {
            let pair = KeyPair::from_pkcs8(&der).map_err(|e| DevKeyError::Crypto(e.to_string()))?;
            return Ok(Self::from_pair(pair));
        }
        let key = Self::generate()?;
        let der = key.pair.as_der().map_err(|e| DevKeyError::Crypto(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, der.as_ref())?;
        Ok(key)
    }

    fn from_pair(pair: KeyPair) -> Self {
        let modulus = pair.public_key().modulus().big_endian_without_leading_zero().to_vec();
        let kid = format!("dev-{}", hex::encode(&Sha256::digest(&modulus)[..8]));
        Self { pair, kid }
    }

    /// The key id tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty`, `kid`, `use`, `alg`, `n`, `e`).
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// Signs `claims` as an RS256 compact JWS with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> Result<String, DevKeyError> {
        self.sign_with_header(&json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid }), claims)
    }

    /// Signs `claims` with an arbitrary header (tests use it to send odd headers).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> Result<String, DevKeyError> {
        let message = format!("{}.{}", segment(header), segment(claims));
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message.as_bytes(), &mut signature)
            .map_err(|e| DevKeyError::Crypto(e.to_string()))?;
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A JWK set document holding `keys`.
pub fn jwk_set(keys: &[&DevSigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// Signs service-token `claims` with an HMAC `secret` (`algorithm` HS256, HS384 or HS512).
pub fn sign_service_token(
    claims: &Value,
    secret: &[u8],
    algorithm: jsonwebtoken::Algorithm,
) -> Result<String, DevKeyError> {
    encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret))
        .map_err(|e| DevKeyError::Crypto(e.to_string()))
}

/// Development Ed25519 keys of the calling services: one key per service, derived from a
/// single 32-byte seed, so a local setup keeps one small file.
pub struct DevServiceKeys {
    seed: [u8; 32],
}

impl std::fmt::Debug for DevServiceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevServiceKeys(<seed>)")
    }
}

impl DevServiceKeys {
    /// Keys from a new random seed.
    pub fn generate() -> Result<Self, DevKeyError> {
        let mut seed = [0u8; 32];
        aws_lc_rs::rand::fill(&mut seed).map_err(|e| DevKeyError::Crypto(e.to_string()))?;
        Ok(Self { seed })
    }

    /// The keys of the seed stored at `path`, created there if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, DevKeyError> {
        if let Ok(bytes) = std::fs::read(path) {
            let seed = bytes.try_into().map_err(|_| DevKeyError::Crypto("the seed file is not 32 bytes".into()))?;
            return Ok(Self { seed });
        }
        let keys = Self::generate()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, keys.seed)?;
        Ok(keys)
    }

    fn pair(&self, service: &str) -> Result<aws_lc_rs::signature::Ed25519KeyPair, DevKeyError> {
        let mut hasher = Sha256::new();
        hasher.update(self.seed);
        hasher.update(service.as_bytes());
        aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&hasher.finalize())
            .map_err(|e| DevKeyError::Crypto(e.to_string()))
    }

    /// The key id of `service`'s key.
    pub fn kid(&self, service: &str) -> Result<String, DevKeyError> {
        let pair = self.pair(service)?;
        Ok(format!("dev-{service}-{}", hex::encode(&Sha256::digest(pair.public_key().as_ref())[..4])))
    }

    /// `service`'s public key as a JWK (`OKP`, `Ed25519`).
    pub fn jwk(&self, service: &str) -> Result<Value, DevKeyError> {
        let pair = self.pair(service)?;
        Ok(json!({ "kty": "OKP", "crv": "Ed25519", "kid": self.kid(service)?,
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()) }))
    }

    /// Signs `claims` as `service` (EdDSA, with the service's `kid`).
    pub fn sign(&self, service: &str, claims: &Value) -> Result<String, DevKeyError> {
        self.sign_with_header(service, &json!({ "alg": "EdDSA", "typ": "JWT", "kid": self.kid(service)? }), claims)
    }

    /// Signs `claims` with `service`'s key and an arbitrary header (tests send odd ones).
    pub fn sign_with_header(&self, service: &str, header: &Value, claims: &Value) -> Result<String, DevKeyError> {
        let message = format!("{}.{}", segment(header), segment(claims));
        let signature = self.pair(service)?.sign(message.as_bytes());
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
    }

    /// The `SERVICE_KEYS` configuration accepting these keys for `services` (name, grants).
    pub fn config(&self, services: &[(&str, &[&str])]) -> Result<String, DevKeyError> {
        let mut entries = serde_json::Map::new();
        for (service, grants) in services {
            entries.insert((*service).to_owned(), json!({ "keys": [self.jwk(service)?], "grants": grants }));
        }
        Ok(Value::Object(entries).to_string())
    }
}

/// Seconds since the Unix epoch, for `iat` / `exp` claims.
pub fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

/// What a development service token says.
#[derive(Debug, Clone, Default)]
pub struct ServiceTokenSpec {
    /// `service` claim, for example `crm`.
    pub service: String,
    /// `tenant_id` claim (a tenant id or Kinde org code); `None` for no tenant.
    pub tenant: Option<String>,
    /// Adds `platform:all_tenants` to `permissions` (only meaningful without a tenant, and
    /// only honoured for a service granted `platform`).
    pub all_tenants: bool,
    /// Adds `platform:write` to `permissions` (only honoured for a service granted `write`).
    pub write: bool,
    /// Further `permissions`.
    pub permissions: Vec<String>,
    /// Lifetime in seconds.
    pub ttl_seconds: i64,
}

/// The claims of a service token.
pub fn service_claims(spec: &ServiceTokenSpec) -> Value {
    let now = now_seconds();
    let mut permissions = spec.permissions.clone();
    if spec.all_tenants {
        permissions.push("platform:all_tenants".to_owned());
    }
    if spec.write {
        permissions.push("platform:write".to_owned());
    }
    let mut claims =
        json!({ "type": "service_token", "service": spec.service, "iat": now, "exp": now + spec.ttl_seconds });
    if let Some(tenant) = &spec.tenant {
        claims["tenant_id"] = json!(tenant);
    }
    if !permissions.is_empty() {
        claims["permissions"] = json!(permissions);
    }
    claims
}

/// What a development Kinde-style token says.
#[derive(Debug, Clone, Default)]
pub struct KindeTokenSpec {
    /// `iss`: the issuer URL the API is configured with (`KINDE_ISSUER_URL`).
    pub issuer: String,
    /// `org_code`, if any.
    pub org_code: Option<String>,
    /// `sub`.
    pub subject: String,
    /// `aud`, if the API checks one.
    pub audience: Option<String>,
    /// `permissions`.
    pub permissions: Vec<String>,
    /// Lifetime in seconds.
    pub ttl_seconds: i64,
}

/// The claims of a Kinde-style access token.
pub fn kinde_claims(spec: &KindeTokenSpec) -> Value {
    let now = now_seconds();
    let mut claims = json!({
        "iss": spec.issuer.trim_end_matches('/'), "sub": spec.subject, "iat": now, "exp": now + spec.ttl_seconds,
        "permissions": spec.permissions,
    });
    if let Some(org) = &spec.org_code {
        claims["org_code"] = json!(org);
    }
    if let Some(audience) = &spec.audience {
        claims["aud"] = json!([audience]);
    }
    claims
}
