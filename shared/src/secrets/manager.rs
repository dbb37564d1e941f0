//! The Secrets Manager secret (`APP_SYNC_SECRET_ID`) and its reads. The client is built by
//! the first read, in the background, not during init, on the store's HTTP client.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::SecretMaterial;
use crate::auth::services::ServiceCredentials;
use crate::config::StoreConfig;
use crate::store::Store;

/// Settings read from the environment when the secret does not have them.
const FALLBACK_NAMES: [&str; 2] = ["ALLOWED_SERVICE_TOKENS", "SERVICE_TOKEN_HMAC_PLATFORM_SERVICES"];

/// The secret and how to reach it. Cheap to clone.
#[derive(Clone)]
pub(super) struct SecretsManagerSource {
    inner: Arc<Inner>,
}

struct Inner {
    secret_id: String,
    region: String,
    credentials: aws_credential_types::Credentials,
    timeouts: aws_sdk_secretsmanager::config::timeout::TimeoutConfig,
    /// The store's HTTP client, whose TLS set-up the first read then shares.
    http: aws_sdk_secretsmanager::config::SharedHttpClient,
    endpoint: Option<String>,
    /// Non-secret settings the document may leave out.
    environment: HashMap<String, String>,
    /// `SERVICE_KEYS` from the environment, which then wins over the secret's member.
    environment_keys: Option<Arc<ServiceCredentials>>,
    client: OnceLock<aws_sdk_secretsmanager::Client>,
}

impl SecretsManagerSource {
    /// The secret `secret_id`, read on `store`'s HTTP client; `SECRETS_MANAGER_ENDPOINT` of
    /// `lookup` overrides the endpoint.
    pub(super) fn new(
        lookup: &impl Fn(&str) -> Option<String>,
        aws: &StoreConfig,
        store: &Store,
        secret_id: String,
        environment_keys: Option<Arc<ServiceCredentials>>,
    ) -> Self {
        let environment = FALLBACK_NAMES.iter().filter_map(|name| Some(((*name).to_owned(), lookup(name)?))).collect();
        Self {
            inner: Arc::new(Inner {
                secret_id,
                region: aws.region.clone(),
                credentials: aws.credentials(),
                timeouts: crate::store::aws_timeouts(aws),
                http: store.http_client(),
                endpoint: lookup("SECRETS_MANAGER_ENDPOINT"),
                environment,
                environment_keys,
                client: OnceLock::new(),
            }),
        }
    }

    fn client(&self) -> &aws_sdk_secretsmanager::Client {
        let inner = &self.inner;
        inner.client.get_or_init(|| {
            let mut builder = aws_sdk_secretsmanager::Config::builder()
                .http_client(inner.http.clone())
                .timeout_config(inner.timeouts.clone())
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new(inner.region.clone()))
                .credentials_provider(inner.credentials.clone());
            if let Some(endpoint) = &inner.endpoint {
                builder = builder.endpoint_url(endpoint);
            }
            aws_sdk_secretsmanager::Client::from_conf(builder.build())
        })
    }

    /// One read of the secret; with `need_cursors`, a document without the cursor key is
    /// unusable. The error names the SDK's code or the unusable member, never a value.
    pub(super) async fn read(&self, need_cursors: bool) -> Result<SecretMaterial, String> {
        let output = self.client().get_secret_value().secret_id(&self.inner.secret_id).send().await.map_err(|e| {
            use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
            format!("GetSecretValue failed: {}", e.code().unwrap_or("no answer"))
        })?;
        let text = output.secret_string().ok_or("the secret has no string value")?;
        let mut material = SecretMaterial::from_document(text, |name| self.inner.environment.get(name).cloned())
            .map_err(|error| format!("the secret is unusable: {error}"))?;
        if need_cursors && material.cursors.is_none() {
            return Err("the secret has no CURSOR_SIGNING_KEY (CURSOR_KEY_SOURCE=secret)".into());
        }
        if let Some(keys) = &self.inner.environment_keys {
            material.services = keys.clone();
        }
        Ok(material)
    }
}
