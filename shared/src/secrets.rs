//! The secrets a function needs at runtime: the cursor signing keys, the calling services'
//! keys and grants, and the deprecated shared service secret.
//!
//! Deployed, they come from one Secrets Manager secret (`APP_SYNC_SECRET_ID`), a JSON object
//! whose members have the names of the environment variables they replace
//! (`CURSOR_SIGNING_KEY`, `CURSOR_SIGNING_KEY_PREVIOUS`, `SERVICE_KEYS`, ...). Nothing secret
//! is in the function's environment, so `lambda:GetFunctionConfiguration` reveals nothing,
//! and a rotation needs no deploy: the secret is read again every `SECRETS_REFRESH_SECONDS`
//! (default 300) in the background while requests keep using the last good copy.
//!
//! The secret stays off the cold start's critical path. Its first read (client included)
//! is spawned during init and overlaps the rest of it; a request asks for the part it needs
//! only when it needs it: a service token for the service keys, a page for the cursor key
//! after its read of the store. The service keys are public, so they may also be given in
//! the environment (`SERVICE_KEYS`): they are then authoritative (the secret's member is
//! ignored) and a service token never waits for the secret; the price is that rotating a
//! service key becomes a configuration update. Locally (no `APP_SYNC_SECRET_ID`) every name
//! is read from the environment.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::auth::config::{legacy_secrets, LegacyServiceSecrets};
use crate::auth::services::{ServiceCredentials, ServiceKeySource};
use crate::auth::AuthError;
use crate::config::{ConfigError, StoreConfig};
use crate::pagination::CursorCodec;

/// Default of `SECRETS_REFRESH_SECONDS`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// How long a request waits for the first read of the secret before it answers 503.
pub const FIRST_READ_WAIT: Duration = Duration::from_secs(5);
/// Pause between attempts while the first read keeps failing.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Everything secret a request may need.
#[derive(Debug, Clone)]
pub struct SecretMaterial {
    /// Signs and checks pagination cursors.
    pub cursors: CursorCodec,
    /// The calling services' public keys and grants.
    pub services: Arc<ServiceCredentials>,
    /// The deprecated shared-secret mode, when enabled.
    pub legacy: Option<Arc<LegacyServiceSecrets>>,
}

impl SecretMaterial {
    /// Reads the material through `lookup` (the environment, or the secret's members).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let services = Arc::new(service_keys(&lookup)?.unwrap_or_default());
        Ok(Self {
            cursors: CursorCodec::from_lookup(&lookup)?,
            services,
            legacy: legacy_secrets(&lookup)?.map(Arc::new),
        })
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

/// Where the material comes from.
enum Source {
    /// Fixed at start-up (the environment, tests).
    Fixed,
    /// A Secrets Manager secret, read again every `refresh`.
    SecretsManager(SecretsManagerSource),
}

/// A Secrets Manager secret and how to reach it. The client is built by the first read, in
/// the background, not during init.
struct SecretsManagerSource {
    secret_id: String,
    refresh: Duration,
    region: String,
    credentials: aws_credential_types::Credentials,
    endpoint: Option<String>,
    client: OnceLock<aws_sdk_secretsmanager::Client>,
}

impl SecretsManagerSource {
    fn client(&self) -> &aws_sdk_secretsmanager::Client {
        self.client.get_or_init(|| {
            let mut builder = aws_sdk_secretsmanager::Config::builder()
                .http_client(crate::store::aws_http_client())
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new(self.region.clone()))
                .credentials_provider(self.credentials.clone());
            if let Some(endpoint) = &self.endpoint {
                builder = builder.endpoint_url(endpoint);
            }
            aws_sdk_secretsmanager::Client::from_conf(builder.build())
        })
    }
}

/// Why no material can be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretsError {
    /// The secret has not been read (yet): 503.
    #[error("the runtime secrets are not available")]
    Unavailable,
}

struct Inner {
    source: Source,
    environment: HashMap<String, String>,
    /// `SERVICE_KEYS` from the environment, which then wins over the secret's member.
    environment_keys: Option<Arc<ServiceCredentials>>,
    current: watch::Sender<Option<Arc<SecretMaterial>>>,
    read_at: Mutex<Option<Instant>>,
    refreshing: AtomicBool,
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
    /// Material fixed for the life of the process.
    pub fn fixed(material: SecretMaterial) -> Self {
        Self::with(Source::Fixed, HashMap::new(), None, Some(Arc::new(material)))
    }

    fn with(
        source: Source,
        environment: HashMap<String, String>,
        environment_keys: Option<Arc<ServiceCredentials>>,
        material: Option<Arc<SecretMaterial>>,
    ) -> Self {
        let read_at = material.is_some().then(Instant::now);
        let (current, _) = watch::channel(material);
        Self {
            inner: Arc::new(Inner {
                source,
                environment,
                environment_keys,
                current,
                read_at: Mutex::new(read_at),
                refreshing: AtomicBool::new(false),
            }),
        }
    }

    /// The secrets of a process: from the Secrets Manager secret `APP_SYNC_SECRET_ID` when it
    /// is set (its first read starts now, in the background; call from within a Tokio
    /// runtime), with `SERVICE_KEYS` from `lookup` when it has them; else everything from
    /// the environment (`lookup`), checked now.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, aws: &StoreConfig) -> Result<Self, ConfigError> {
        let Some(secret_id) = lookup("APP_SYNC_SECRET_ID") else {
            return Ok(Self::fixed(SecretMaterial::from_lookup(lookup)?));
        };
        let refresh = match lookup("SECRETS_REFRESH_SECONDS") {
            None => DEFAULT_REFRESH,
            Some(text) => {
                text.trim().parse().ok().filter(|s| (1..=86_400).contains(s)).map(Duration::from_secs).ok_or(
                    ConfigError::Invalid {
                        name: "SECRETS_REFRESH_SECONDS",
                        reason: "must be seconds from 1 to 86400".into(),
                    },
                )?
            }
        };
        let source = SecretsManagerSource {
            secret_id,
            refresh,
            region: aws.region.clone(),
            credentials: aws.credentials(),
            endpoint: lookup("SECRETS_MANAGER_ENDPOINT"),
            client: OnceLock::new(),
        };
        let environment_keys = service_keys(&lookup)?.map(Arc::new);
        // Non-secret settings the document may leave out (`ALLOWED_SERVICE_TOKENS`, ...).
        let environment = FALLBACK_NAMES.iter().filter_map(|name| Some(((*name).to_owned(), lookup(name)?))).collect();
        let secrets = Self::with(Source::SecretsManager(source), environment, environment_keys, None);
        secrets.start_reading();
        Ok(secrets)
    }

    /// The current material: at once when it has been read (starting a background refresh
    /// when it is due), else after waiting up to [`FIRST_READ_WAIT`] for the first read.
    pub async fn material(&self) -> Result<Arc<SecretMaterial>, SecretsError> {
        if let Some(material) = self.inner.current.borrow().clone() {
            if self.refresh_due() {
                self.start_reading();
            }
            return Ok(material);
        }
        let mut receiver = self.inner.current.subscribe();
        let waited = tokio::time::timeout(FIRST_READ_WAIT, receiver.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(material)) => material.clone().ok_or(SecretsError::Unavailable),
            _ => Err(SecretsError::Unavailable),
        }
    }

    fn refresh_due(&self) -> bool {
        let Source::SecretsManager(source) = &self.inner.source else {
            return false;
        };
        let read_at = self.inner.read_at.lock().map(|guard| *guard).unwrap_or(None);
        read_at.is_none_or(|at| at.elapsed() >= source.refresh)
    }

    /// Starts one background read of the secret, unless one is running. Until the first
    /// read succeeds it retries every second; later failures keep the last good material.
    fn start_reading(&self) {
        if !matches!(self.inner.source, Source::SecretsManager(_)) || self.inner.refreshing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            loop {
                match read(&inner).await {
                    Ok(material) => {
                        inner.current.send_replace(Some(Arc::new(material)));
                        if let Ok(mut at) = inner.read_at.lock() {
                            *at = Some(Instant::now());
                        }
                        break;
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, "could not read the runtime secrets");
                        if inner.current.borrow().is_some() {
                            // Keep the last good copy; try again at the next refresh.
                            if let Ok(mut at) = inner.read_at.lock() {
                                *at = Some(Instant::now());
                            }
                            break;
                        }
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
            inner.refreshing.store(false, Ordering::Release);
        });
    }
}

/// Settings read from the environment when the secret does not have them.
const FALLBACK_NAMES: [&str; 2] = ["ALLOWED_SERVICE_TOKENS", "SERVICE_TOKEN_HMAC_PLATFORM_SERVICES"];

async fn read(inner: &Inner) -> Result<SecretMaterial, String> {
    let Source::SecretsManager(source) = &inner.source else {
        return Err("no secret to read".into());
    };
    let output = source.client().get_secret_value().secret_id(&source.secret_id).send().await.map_err(|e| {
        use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
        format!("GetSecretValue failed: {}", e.code().unwrap_or("no answer"))
    })?;
    let text = output.secret_string().ok_or("the secret has no string value")?;
    let mut material = SecretMaterial::from_document(text, |name| inner.environment.get(name).cloned())
        .map_err(|error| format!("the secret is unusable: {error}"))?;
    if let Some(keys) = &inner.environment_keys {
        material.services = keys.clone();
    }
    Ok(material)
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
        let missing = SecretMaterial::from_document("{}", |_| None);
        assert!(matches!(missing, Err(ConfigError::Missing("CURSOR_SIGNING_KEY"))));
        assert!(SecretMaterial::from_document("[1]", |_| None).is_err());
    }

    #[tokio::test]
    async fn fixed_material_is_ready_at_once_and_never_refreshed() {
        let secrets = RuntimeSecrets::fixed(
            SecretMaterial::from_lookup(|name| (name == "CURSOR_SIGNING_KEY").then(|| CURSOR.to_owned())).unwrap(),
        );
        assert!(secrets.material().await.is_ok());
        assert!(!secrets.refresh_due());
        assert!(!format!("{secrets:?}").contains(CURSOR));
    }
}
