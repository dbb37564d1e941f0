//! The secrets a function needs at runtime: the cursor signing keys, the calling services'
//! keys and grants, and the deprecated shared service secret.
//!
//! Deployed, nothing secret is in the function's environment, so
//! `lambda:GetFunctionConfiguration` reveals nothing, and a rotation needs no deploy: every
//! source is read again every `SECRETS_REFRESH_SECONDS` (default 300) in the background while
//! requests keep using the last good copy ([`refresh`]).
//!
//! - The cursor keys come from `CURSOR_KEY_SOURCE`: `table` (the deployed default: one item
//!   of the table, created on first use, see `crate::store::cursor_keys` for why that is as
//!   safe as Secrets Manager and faster on a cold start), `secret` (members of the Secrets
//!   Manager secret) or `environment` (`CURSOR_SIGNING_KEY`, local runs and tests).
//! - The service keys are public: in the environment (`SERVICE_KEYS`, authoritative when
//!   set) or in the secret.
//! - The secret (`APP_SYNC_SECRET_ID`) is a JSON object whose members have the names of the
//!   environment variables they replace (`SERVICE_KEYS`, `CURSOR_SIGNING_KEY`,
//!   `SERVICE_TOKEN_SECRET`, ...).
//!
//! Every source stays off the cold start's critical path: its first read is spawned during
//! init and overlaps the rest of it, and a request asks for the part it needs only when it
//! needs it: a service token for the service keys, a page for the cursor key after its read
//! of the store (and a last page not at all).

mod manager;
pub mod refresh;

pub use refresh::FIRST_READ_WAIT;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::config::{legacy_secrets, LegacyServiceSecrets};
use crate::auth::services::{ServiceCredentials, ServiceKeySource};
use crate::auth::AuthError;
use crate::config::{ConfigError, StoreConfig};
use crate::pagination::{CursorCodec, SigningKey};
use crate::store::Store;
use refresh::{Read, Refreshing};

/// Default of `SECRETS_REFRESH_SECONDS`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

/// Everything secret a request may need, as one source gives it.
#[derive(Debug, Clone)]
pub struct SecretMaterial {
    /// Signs and checks pagination cursors, when this source holds the cursor keys.
    pub cursors: Option<CursorCodec>,
    /// The calling services' public keys and grants.
    pub services: Arc<ServiceCredentials>,
    /// The deprecated shared-secret mode, when enabled.
    pub legacy: Option<Arc<LegacyServiceSecrets>>,
}

impl SecretMaterial {
    /// Reads the material through `lookup` (the environment, or the secret's members).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let services = Arc::new(service_keys(&lookup)?.unwrap_or_default());
        let cursors = match lookup("CURSOR_SIGNING_KEY") {
            Some(_) => Some(CursorCodec::from_lookup(&lookup)?),
            None => None,
        };
        Ok(Self { cursors, services, legacy: legacy_secrets(&lookup)?.map(Arc::new) })
    }

    /// Reads the material from the secret document `json`, falling back to `fallback` (the
    /// environment) for members the document does not have. `SERVICE_KEYS` may be a JSON
    /// object in the document or a string.
    pub fn from_document(json: &str, fallback: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let document: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).map_err(|_| {
            ConfigError::Invalid { name: "APP_SYNC_SECRET_ID", reason: "the secret is not a JSON object".into() }
        })?;
        Self::from_lookup(|name| match document.get(name) {
            Some(serde_json::Value::String(text)) => Some(text.clone()).filter(|t| !t.trim().is_empty()),
            Some(serde_json::Value::Null) | None => fallback(name),
            Some(other) => Some(other.to_string()),
        })
    }
}

/// `SERVICE_KEYS` of `lookup`, parsed, when it is set.
fn service_keys(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<ServiceCredentials>, ConfigError> {
    lookup("SERVICE_KEYS")
        .map(|json| {
            ServiceCredentials::parse(&json).map_err(|reason| ConfigError::Invalid { name: "SERVICE_KEYS", reason })
        })
        .transpose()
}

/// Why no material can be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretsError {
    /// The source has not been read (yet): 503.
    #[error("the runtime secrets are not available")]
    Unavailable,
}

/// Where the material (service keys, legacy secret, maybe the cursor keys) comes from.
enum MaterialSource {
    /// Fixed at start-up (the environment, tests).
    Fixed(Arc<SecretMaterial>),
    /// The Secrets Manager secret.
    Secret(Arc<Refreshing<SecretMaterial>>),
}

/// Where the cursor keys come from (`CURSOR_KEY_SOURCE`).
enum CursorSource {
    /// The material's `cursors` (the environment or the secret).
    Material,
    /// The table's cursor key item.
    Table(Arc<Refreshing<CursorCodec>>),
}

struct Inner {
    material: MaterialSource,
    cursors: CursorSource,
    /// `SERVICE_KEYS` from the environment, which then wins over the secret's member.
    environment_keys: Option<Arc<ServiceCredentials>>,
}

/// The current secret material of the process. Cheap to clone.
#[derive(Clone)]
pub struct RuntimeSecrets {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RuntimeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RuntimeSecrets(<redacted>)")
    }
}

impl RuntimeSecrets {
    /// Material fixed for the life of the process, cursor keys included.
    pub fn fixed(material: SecretMaterial) -> Self {
        let environment_keys = Some(material.services.clone());
        Self::with(MaterialSource::Fixed(Arc::new(material)), CursorSource::Material, environment_keys)
    }

    /// Material fixed for the life of the process, the cursor keys from `store`'s item
    /// (its first read starts now; call from within a Tokio runtime).
    pub fn fixed_with_table_cursor_keys(material: SecretMaterial, store: Store, refresh: Duration) -> Self {
        let environment_keys = Some(material.services.clone());
        Self::with(MaterialSource::Fixed(Arc::new(material)), table_cursor_keys(store, refresh), environment_keys)
    }

    fn with(
        material: MaterialSource,
        cursors: CursorSource,
        environment_keys: Option<Arc<ServiceCredentials>>,
    ) -> Self {
        Self { inner: Arc::new(Inner { material, cursors, environment_keys }) }
    }

    /// The secrets of a process, configured by `lookup` (see the module's documentation).
    /// Remote sources start their first read now, in the background (call from within a
    /// Tokio runtime); settings and the environment's values are checked now.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        aws: &StoreConfig,
        store: &Store,
    ) -> Result<Self, ConfigError> {
        let refresh = refresh_interval(&lookup)?;
        let secret_id = lookup("APP_SYNC_SECRET_ID");
        let configured = lookup("CURSOR_KEY_SOURCE");
        let cursor_source = match configured.as_deref().map(str::trim) {
            None if secret_id.is_some() => "secret",
            None => "environment",
            Some(source @ ("table" | "secret" | "environment")) => source,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "CURSOR_KEY_SOURCE",
                    reason: "must be table, secret or environment".into(),
                })
            }
        };
        let cursors = match cursor_source {
            "table" => table_cursor_keys(store.clone(), refresh),
            _ => CursorSource::Material,
        };
        let Some(secret_id) = secret_id else {
            let material = SecretMaterial::from_lookup(&lookup)?;
            if cursor_source == "secret" {
                return Err(ConfigError::Missing("APP_SYNC_SECRET_ID"));
            }
            if cursor_source == "environment" && material.cursors.is_none() {
                return Err(ConfigError::Missing("CURSOR_SIGNING_KEY"));
            }
            let environment_keys = Some(material.services.clone());
            return Ok(Self::with(MaterialSource::Fixed(Arc::new(material)), cursors, environment_keys));
        };
        let environment_keys = service_keys(&lookup)?.map(Arc::new);
        let manager = manager::SecretsManagerSource::new(&lookup, aws, store, secret_id, environment_keys.clone());
        let need_cursors = cursor_source == "secret";
        let read: Read<SecretMaterial> = Arc::new(move || {
            let manager = manager.clone();
            Box::pin(async move { manager.read(need_cursors).await })
        });
        let material = MaterialSource::Secret(Refreshing::start("secret", refresh, read));
        Ok(Self::with(material, cursors, environment_keys))
    }

    /// The current material of the secret or the environment.
    pub async fn material(&self) -> Result<Arc<SecretMaterial>, SecretsError> {
        match &self.inner.material {
            MaterialSource::Fixed(material) => Ok(material.clone()),
            MaterialSource::Secret(secret) => secret.get().await,
        }
    }

    /// The current cursor keys, from wherever `CURSOR_KEY_SOURCE` says.
    pub async fn cursors(&self) -> Result<CursorCodec, SecretsError> {
        match &self.inner.cursors {
            CursorSource::Table(keys) => Ok(keys.get().await?.as_ref().clone()),
            CursorSource::Material => self.material().await?.cursors.clone().ok_or(SecretsError::Unavailable),
        }
    }
}

/// `SECRETS_REFRESH_SECONDS` of `lookup`, or [`DEFAULT_REFRESH`].
fn refresh_interval(lookup: &impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    let Some(text) = lookup("SECRETS_REFRESH_SECONDS") else {
        return Ok(DEFAULT_REFRESH);
    };
    text.trim().parse().ok().filter(|s| (1..=86_400).contains(s)).map(Duration::from_secs).ok_or(ConfigError::Invalid {
        name: "SECRETS_REFRESH_SECONDS",
        reason: "must be seconds from 1 to 86400".into(),
    })
}

/// The cursor keys of `store`'s item, created on first use, read in the background.
fn table_cursor_keys(store: Store, refresh: Duration) -> CursorSource {
    let read: Read<CursorCodec> = Arc::new(move || {
        let store = store.clone();
        Box::pin(async move {
            let keys = store.cursor_keys_or_create().await.map_err(|error| format!("cursor key item: {error}"))?;
            let key =
                |text: &str| SigningKey::new(text.as_bytes()).map_err(|reason| format!("cursor key item: {reason}"));
            Ok(CursorCodec::new(key(&keys.current)?, keys.previous.as_deref().map(key).transpose()?))
        })
    });
    CursorSource::Table(Refreshing::start("cursor keys", refresh, read))
}

impl ServiceKeySource for RuntimeSecrets {
    async fn service_keys(&self) -> Result<Arc<ServiceCredentials>, AuthError> {
        if let Some(keys) = &self.inner.environment_keys {
            return Ok(keys.clone());
        }
        Ok(self.material().await.map_err(|_| AuthError::Unavailable)?.services.clone())
    }

    async fn shared_secrets(&self) -> Result<Option<Arc<LegacyServiceSecrets>>, AuthError> {
        Ok(self.material().await.map_err(|_| AuthError::Unavailable)?.legacy.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURSOR: &str = "a-cursor-signing-key-of-at-least-32-bytes";

    #[test]
    fn a_document_names_its_members_like_the_environment() {
        let document = serde_json::json!({
            "CURSOR_SIGNING_KEY": CURSOR,
            "CURSOR_SIGNING_KEY_PREVIOUS": "",
            "SERVICE_KEYS": { "crm": { "keys": [] } },
        });
        let material = SecretMaterial::from_document(&document.to_string(), |_| None).unwrap();
        assert!(material.services.grants("crm").is_some());
        assert!(material.legacy.is_none());
        assert!(material.cursors.is_some());
        let without_cursor_key = SecretMaterial::from_document("{}", |_| None).unwrap();
        assert!(without_cursor_key.cursors.is_none());
        let previous_alone = serde_json::json!({ "CURSOR_SIGNING_KEY_PREVIOUS": CURSOR }).to_string();
        assert!(SecretMaterial::from_document(&previous_alone, |_| None).unwrap().cursors.is_none());
        assert!(SecretMaterial::from_document("[1]", |_| None).is_err());
    }

    #[tokio::test]
    async fn fixed_material_is_ready_at_once() {
        let secrets = RuntimeSecrets::fixed(
            SecretMaterial::from_lookup(|name| (name == "CURSOR_SIGNING_KEY").then(|| CURSOR.to_owned())).unwrap(),
        );
        assert!(secrets.material().await.is_ok());
        assert!(secrets.cursors().await.is_ok());
        assert!(!format!("{secrets:?}").contains(CURSOR));
    }
}
