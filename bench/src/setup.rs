//! What every benchmark starts from: a fresh table in DynamoDB Local with seeded data, a
//! loopback Kinde-style issuer whose key set the API verifies tokens against, and tokens.

use anyhow::Context;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use shared::auth::config::AuthConfig;
use shared::auth::dev::{self, DevServiceKeys, DevSigningKey};
use shared::auth::Authenticator;
use shared::config::StoreConfig;
use shared::secrets::{RuntimeSecrets, SecretMaterial};
use shared::seed::{ScaleSpec, SeedData, SeedOptions};
use shared::store::{bulk, table, Store};

/// A seeded table and an issuer.
pub struct Fixture {
    /// Settings of the table (endpoint from `DYNAMODB_ENDPOINT`).
    pub config: StoreConfig,
    /// The generated data that was loaded.
    pub data: SeedData,
    /// `http://127.0.0.1:<port>`, serving `/.well-known/jwks`.
    pub issuer: String,
    /// The issuer's signing key.
    pub key: DevSigningKey,
    /// The calling services' keys.
    pub service_keys: DevServiceKeys,
}

/// A store configuration for a new table named `name` at `DYNAMODB_ENDPOINT`.
pub fn table_config(name: &str) -> anyhow::Result<StoreConfig> {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").context("set DYNAMODB_ENDPOINT (scripts/bench.sh does)")?;
    Ok(StoreConfig::from_lookup(|variable| match variable {
        "DYNAMODB_ENDPOINT" => Some(endpoint.clone()),
        "TABLE_NAME" => Some(name.to_owned()),
        // DynamoDB Local answers a 1 MB page of a 200,000-item partition in seconds when
        // several streams read at once, past the deployed 3 s attempt timeout: the benches
        // measure throughput, so they wait.
        "DYNAMODB_ATTEMPT_TIMEOUT_MS" => Some("30000".to_owned()),
        "DYNAMODB_OPERATION_TIMEOUT_MS" => Some("60000".to_owned()),
        _ => None,
    })?)
}

/// Creates a new table named after `label` and the process.
pub async fn fresh_table(label: &str) -> anyhow::Result<(StoreConfig, Store)> {
    let config =
        table_config(&format!("bench-{label}-{}-{}", std::process::id(), shared::time::Timestamp::now().millis()))?;
    let store = Store::new(&config);
    table::create(&store).await?;
    Ok((config, store))
}

/// The deterministic demo data (seed 42), plus a scale tenant when `scale` is given.
pub fn generate(scale: Option<ScaleSpec>) -> SeedData {
    shared::seed::generate(&SeedOptions { seed: 42, scale })
}

/// Loads `data` into `store`.
pub async fn load(store: &Store, data: &SeedData) -> anyhow::Result<()> {
    let at = shared::seed::seed_clock();
    bulk::load_platform(store, &data.platform, at).await?;
    for tenant in &data.tenants {
        bulk::load_tenant(store, tenant, at, &|_| {}).await?;
    }
    Ok(())
}

/// A fresh table loaded with `generate(scale)`, and a running issuer.
pub async fn seeded(label: &str, scale: Option<ScaleSpec>) -> anyhow::Result<Fixture> {
    let (config, store) = fresh_table(label).await?;
    let data = generate(scale);
    load(&store, &data).await?;
    Fixture::over(config, data).await
}

/// An API Gateway HTTP API (v2) event for `GET path?query` with `token`, as API Gateway
/// hands it to a function.
pub fn http_api_event(path: &str, query: &str, token: &str) -> serde_json::Value {
    http_api_request("GET", path, query, token)
}

/// An API Gateway HTTP API (v2) event for `POST path` with `token` and the JSON `body`.
pub fn http_api_post_event(path: &str, token: &str, body: &serde_json::Value) -> serde_json::Value {
    let mut event = http_api_request("POST", path, "", token);
    event["headers"]["content-type"] = json!("application/json");
    event["body"] = json!(body.to_string());
    event
}

fn http_api_request(method: &str, path: &str, query: &str, token: &str) -> serde_json::Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": { "authorization": format!("Bearer {token}"), "host": "bench" },
        "requestContext": { "accountId": "123456789012", "apiId": "bench", "domainName": "bench",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "requestId": "bench", "routeKey": "$default", "stage": "$default", "time": "24/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795521600000_u64 },
        "isBase64Encoded": false
    })
}

async fn serve_jwks(key: &DevSigningKey) -> anyhow::Result<String> {
    let keys = dev::jwk_set(&[key]);
    let app = Router::new().route("/.well-known/jwks", get(move || std::future::ready(Json(keys.clone()))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{address}"))
}

impl Fixture {
    /// A fixture over a table already loaded with `data`, with a new running issuer.
    pub async fn over(config: StoreConfig, data: SeedData) -> anyhow::Result<Self> {
        let key = DevSigningKey::generate()?;
        let issuer = serve_jwks(&key).await?;
        Ok(Fixture { config, data, issuer, key, service_keys: DevServiceKeys::generate()? })
    }

    /// The tenant the scale flags added, or the first demo tenant.
    pub fn tenant(&self) -> &shared::store::bulk::TenantDataset {
        self.data.tenants.last().expect("at least one tenant")
    }

    /// A service token of `crm` for the tenant, signed with crm's development key.
    pub fn service_token(&self) -> anyhow::Result<String> {
        let now = dev::now_seconds();
        let claims = json!({ "type": "service_token", "service": "crm",
            "tenant_id": self.tenant().tenant.tenant_id, "iat": now, "exp": now + 3600 });
        Ok(self.service_keys.sign("crm", &claims)?)
    }

    /// The service token of a build from before per-service keys: the deprecated shared
    /// secret's HS256 token, which such a build takes (for `COLD_BEFORE_DIR`).
    pub fn shared_secret_service_token(&self) -> anyhow::Result<String> {
        let claims = json!({ "type": "service_token", "service": "crm",
            "tenant_id": self.tenant().tenant.tenant_id, "exp": dev::now_seconds() + 3600 });
        Ok(dev::sign_service_token(&claims, dev::DEV_SERVICE_SECRET.as_bytes(), jsonwebtoken::Algorithm::HS256)?)
    }

    /// The environment of a build from before per-service keys: [`Fixture::function_env`] with
    /// the shared service secret in place of `SERVICE_KEYS`, every secret in the environment.
    pub fn shared_secret_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> =
            self.function_env().into_iter().filter(|(name, _)| name != "SERVICE_KEYS").collect();
        env.push(("SERVICE_TOKEN_SECRET".into(), dev::DEV_SERVICE_SECRET.into()));
        env
    }

    /// A Kinde-style token for the tenant's org, signed by the issuer's key.
    pub fn kinde_token(&self) -> anyhow::Result<String> {
        let claims = json!({ "iss": self.issuer, "aud": dev::DEV_KINDE_AUDIENCE, "sub": "kp_bench",
            "org_code": self.tenant().tenant.kinde_org_id, "exp": dev::now_seconds() + 3600 });
        Ok(self.key.sign(&claims)?)
    }

    /// What a function's process would read from its environment, as pairs.
    pub fn function_env(&self) -> Vec<(String, String)> {
        [
            ("TABLE_NAME", self.config.table_name.clone()),
            ("DYNAMODB_ENDPOINT", self.config.endpoint.clone().unwrap_or_default()),
            ("AWS_REGION", self.config.region.clone()),
            ("AWS_ACCESS_KEY_ID", "bench".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "bench".to_owned()),
            ("KINDE_ISSUER_URL", self.issuer.clone()),
            ("KINDE_AUDIENCE", dev::DEV_KINDE_AUDIENCE.to_owned()),
            ("SERVICE_KEYS", self.service_keys.config(&dev::DEV_SERVICES).unwrap_or_default()),
            ("CURSOR_SIGNING_KEY", dev::DEV_CURSOR_KEY.to_owned()),
            ("RATE_LIMIT_CALLER_PER_SECOND", "0".to_owned()),
            ("RATE_LIMIT_TENANT_PER_SECOND", "0".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// [`Fixture::function_env`] with the variables `secret_names` taken out and put into a
    /// new Secrets Manager secret at `MOTO_ENDPOINT` instead (`APP_SYNC_SECRET_ID`), when moto
    /// runs. The rest stays in the environment (`SERVICE_KEYS` may, and then wins).
    pub async fn runtime_secret_env(&self, secret_names: &[&str]) -> anyhow::Result<Option<Vec<(String, String)>>> {
        let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") else {
            return Ok(None);
        };
        let env = self.function_env();
        let document: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .filter(|(name, _)| secret_names.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
            .collect();
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "bench", "bench", None, None, "bench",
            ))
            .endpoint_url(&endpoint)
            .build();
        let name = format!("bench-{}-{}", std::process::id(), shared::time::Timestamp::now().millis());
        aws_sdk_secretsmanager::Client::from_conf(config)
            .create_secret()
            .name(&name)
            .secret_string(serde_json::Value::Object(document).to_string())
            .send()
            .await?;
        let mut env: Vec<(String, String)> =
            env.into_iter().filter(|(name, _)| !secret_names.contains(&name.as_str())).collect();
        env.push(("APP_SYNC_SECRET_ID".into(), name));
        env.push(("SECRETS_MANAGER_ENDPOINT".into(), endpoint));
        Ok(Some(env))
    }

    /// Authentication settings and runtime secrets from [`Fixture::function_env`].
    pub fn auth(&self) -> anyhow::Result<(Authenticator, RuntimeSecrets)> {
        let env = self.function_env();
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let secrets = RuntimeSecrets::fixed(SecretMaterial::from_lookup(lookup)?);
        Ok((Authenticator::new(AuthConfig::from_lookup(lookup)?), secrets))
    }
}
