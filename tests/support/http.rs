//! An HTTP test bench: the real router on loopback, a JWK set server the test controls,
//! two tenants in DynamoDB Local, and token minting.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use shared::api::limits::{Limit, RateLimits};
use shared::api::{self, AppState};
use shared::auth::config::AuthConfig;
use shared::auth::dev::{self, DevServiceKeys, DevSigningKey};
use shared::auth::jwks::{JwksCache, JwksTiming};
use shared::auth::Authenticator;
use shared::secrets::{RuntimeSecrets, SecretMaterial};
use shared::store::Store;

use crate::{fresh_store, tenant, writer};

/// Shared service-token secret of the bench's deprecated shared-secret mode.
pub const SECRET: &str = "bench-service-secret-0123456789abcdef";
/// A previous shared secret, accepted when the bench is built with it.
pub const PREVIOUS_SECRET: &str = "bench-previous-secret-0123456789abcdef";
/// `KINDE_AUDIENCE` of the bench; Kinde tokens carry it unless a test says otherwise.
pub const AUDIENCE: &str = "https://app-sync.bench.test";
/// `KINDE_PLATFORM_ORG_CODE` of the bench.
pub const PLATFORM_ORG: &str = "org_platform";
/// The calling services of the bench and their grants.
pub const SERVICES: [(&str, &[&str]); 3] = [("crm", &[]), ("hr", &[]), ("wrapper", &["platform", "write"])];
/// Cursor signing key of the bench.
pub const CURSOR_KEY: &str = "bench-cursor-signing-key-0123456789abcdef";
/// Tenant A: id and Kinde org code.
pub const A: (&str, &str) = ("11111111-1111-4111-8111-111111111111", "org_alpha");
/// Tenant B: id and Kinde org code.
pub const B: (&str, &str) = ("22222222-2222-4222-8222-222222222222", "org_bravo");

/// A JWK set served on loopback, whose content and availability the test controls.
#[derive(Clone)]
pub struct TestIssuer {
    /// `http://127.0.0.1:<port>`: the issuer URL tokens carry.
    pub url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl TestIssuer {
    /// Starts serving `keys` at `/.well-known/jwks`.
    pub async fn start(keys: &[&DevSigningKey]) -> Self {
        let issuer = Self {
            url: String::new(),
            keys: Arc::new(Mutex::new(dev::jwk_set(keys))),
            fetches: Arc::new(AtomicUsize::new(0)),
            down: Arc::new(AtomicBool::new(false)),
        };
        let served = issuer.clone();
        let app = Router::new().route(
            "/.well-known/jwks",
            get(move || {
                let served = served.clone();
                async move {
                    served.fetches.fetch_add(1, Ordering::SeqCst);
                    if served.down.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let keys = served.keys.lock().unwrap().clone();
                    Json(keys).into_response()
                }
            }),
        );
        let url = serve_loopback(app).await;
        Self { url, ..issuer }
    }

    /// Replaces the published keys.
    pub fn publish(&self, keys: &[&DevSigningKey]) {
        *self.keys.lock().unwrap() = dev::jwk_set(keys);
    }

    /// Publishes an arbitrary document instead of a key set.
    pub fn publish_document(&self, document: Value) {
        *self.keys.lock().unwrap() = document;
    }

    /// The size of the document served now, in bytes.
    pub fn body_len(&self) -> usize {
        self.keys.lock().unwrap().to_string().len()
    }

    /// Makes the endpoint answer 503 (`true`) or serve keys again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many times the key set was requested.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// Serves `app` on an ephemeral loopback port and returns its base URL.
pub async fn serve_loopback(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
    let address = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("test server runs");
    });
    format!("http://{address}")
}

/// How to build the bench.
#[derive(Clone, Default)]
pub struct BenchOptions {
    /// Enables the deprecated shared-secret mode with [`SECRET`].
    pub shared_secret: bool,
    /// `SERVICE_TOKEN_SECRET_PREVIOUS` (shared-secret mode).
    pub previous_secret: Option<String>,
    /// `KINDE_REQUIRED_PERMISSION`.
    pub required_permission: Option<String>,
    /// Key cache timing.
    pub timing: JwksTiming,
    /// Variables the sync launcher and event publisher are built from
    /// (`STATE_MACHINE_ARN`, `EVENT_BUS_NAME`, endpoints).
    pub sync_env: Vec<(String, String)>,
    /// Runtime secrets to use instead of the bench's fixed ones.
    pub secrets: Option<RuntimeSecrets>,
    /// Request limits per caller and per tenant (requests per second); none by default,
    /// since tests send many requests quickly.
    pub rate_limits: Option<(f64, f64)>,
}

/// The API served on loopback over a fresh table with tenants A and B.
pub struct Bench {
    /// Base URL of the API.
    pub url: String,
    /// The issuer.
    pub issuer: TestIssuer,
    /// The key the issuer publishes.
    pub key: Arc<DevSigningKey>,
    /// The table.
    pub store: Store,
    /// An HTTP client.
    pub client: reqwest::Client,
}

/// One shared development key per test binary (RSA generation is not free).
pub fn bench_key() -> Arc<DevSigningKey> {
    static KEY: std::sync::OnceLock<Arc<DevSigningKey>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| Arc::new(DevSigningKey::generate().expect("key generation"))).clone()
}

/// The calling services' keys of the bench (one set per test binary).
pub fn service_keys() -> &'static DevServiceKeys {
    static KEYS: std::sync::OnceLock<DevServiceKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| DevServiceKeys::generate().expect("seed generation"))
}

impl Bench {
    /// A bench with default options.
    pub async fn start() -> Self {
        Self::with(BenchOptions::default()).await
    }

    /// A bench with `options`.
    pub async fn with(options: BenchOptions) -> Self {
        let key = bench_key();
        let issuer = TestIssuer::start(&[&key]).await;
        let store = fresh_store().await;
        let w = writer(&store);
        w.put_tenant(&tenant(A.0, A.1)).await.unwrap();
        w.put_tenant(&tenant(B.0, B.1)).await.unwrap();
        let url = Self::serve(&store, &issuer, &options).await;
        Self { url, issuer, key, store, client: reqwest::Client::new() }
    }

    /// A bench over the deterministic demo data (seed 42) instead of two bare tenants.
    pub async fn seeded() -> (Self, shared::seed::SeedData) {
        let key = bench_key();
        let issuer = TestIssuer::start(&[&key]).await;
        let (store, data) = crate::seeded_store().await;
        let url = Self::serve(&store, &issuer, &BenchOptions::default()).await;
        (Self { url, issuer, key, store, client: reqwest::Client::new() }, data)
    }

    /// Serves another API instance (its own key cache) over the same table and issuer.
    pub async fn serve(store: &Store, issuer: &TestIssuer, options: &BenchOptions) -> String {
        serve_loopback(Self::app(store, issuer, options)).await
    }

    /// The router an API instance over `store` runs (what the Lambda runtime is handed).
    pub fn app(store: &Store, issuer: &TestIssuer, options: &BenchOptions) -> Router {
        let config = auth_config(&issuer.url, options);
        let jwks = JwksCache::with_timing(config.jwks_url(), options.timing);
        let secrets = options.secrets.clone().unwrap_or_else(|| RuntimeSecrets::fixed(secret_material(options)));
        let lookup = |name: &str| options.sync_env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let aws = shared::config::StoreConfig::from_lookup(|name| match name {
            "DYNAMODB_ENDPOINT" => Some(crate::endpoint()),
            _ => None,
        })
        .expect("test AWS settings are valid");
        let launcher = shared::sync::launch::Launcher::from_lookup(lookup, &aws);
        let events = shared::sync::events::EventPublisher::from_lookup(lookup, &aws);
        let limits = match options.rate_limits {
            Some((caller, tenant)) => {
                let limit = |rate: f64| Limit { per_second: rate, burst: rate };
                RateLimits::new(Some(limit(caller)), Some(limit(tenant)))
            }
            None => RateLimits::unlimited(),
        };
        let state = AppState::new(store.clone(), Authenticator::with_jwks(config, jwks), secrets)
            .with_sync(launcher, events)
            .with_limits(limits);
        api::serve(api::all_routes(), state)
    }

    /// A Kinde token for `org_code` (or none), with `extra` claims merged over the defaults
    /// (which include the bench's audience).
    pub fn kinde(&self, org_code: Option<&str>, extra: Value) -> String {
        let mut claims =
            json!({ "iss": self.issuer.url, "aud": AUDIENCE, "sub": "kp_user_1", "exp": dev::now_seconds() + 300 });
        if let Some(org) = org_code {
            claims["org_code"] = json!(org);
        }
        merge(&mut claims, extra);
        self.key.sign(&claims).unwrap()
    }

    /// A service token of `crm` (or the `service` in `extra`), scoped by `tenant_id` when
    /// given, with `extra` claims merged over the defaults. It is signed with the key of the
    /// service it names when the bench has one, else with `crm`'s.
    pub fn service(&self, tenant_id: Option<&str>, extra: Value) -> String {
        let claims = service_claims(tenant_id, extra);
        let named = claims["service"].as_str().unwrap_or("crm");
        let signer = if SERVICES.iter().any(|(s, _)| *s == named) { named } else { "crm" };
        service_keys().sign(signer, &claims).unwrap()
    }

    /// A token in the deprecated shared-secret mode (HS256 under `secret`).
    pub fn shared_secret_token(&self, tenant_id: Option<&str>, extra: Value, secret: &str) -> String {
        dev::sign_service_token(&service_claims(tenant_id, extra), secret.as_bytes(), jsonwebtoken::Algorithm::HS256)
            .unwrap()
    }

    /// A platform-wide service token (of `wrapper`, the one service granted `platform`).
    pub fn platform(&self) -> String {
        self.service(None, json!({ "service": "wrapper", "permissions": ["platform:all_tenants"] }))
    }

    /// GET `path` (relative to the canonical base path) with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.client.get(format!("{}/api/sync{path}", self.url));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        Reply::fetch(request).await
    }

    /// The status of `method` on `path` (from the server root, prefix included), with the
    /// bearer token when one is given.
    pub async fn status(&self, method: &str, path: &str, token: Option<&str>) -> u16 {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::fetch(request).await.status
    }

    /// Sends a request built by `build` from the client and the bench URL.
    pub async fn send(&self, build: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder) -> Reply {
        Reply::fetch(build(&self.client, &self.url)).await
    }
}

/// Service-token claims: `type`, `service` (`crm`), `iat` now, `exp` in 5 minutes, the
/// tenant, then `extra` (a `null` member removes the default).
fn service_claims(tenant_id: Option<&str>, extra: Value) -> Value {
    let now = dev::now_seconds();
    let mut claims = json!({ "type": "service_token", "service": "crm", "iat": now, "exp": now + 300 });
    if let Some(tenant) = tenant_id {
        claims["tenant_id"] = json!(tenant);
    }
    merge(&mut claims, extra);
    claims
}

fn merge(claims: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        for (name, value) in extra {
            if value.is_null() {
                target.remove(&name);
            } else {
                target.insert(name, value);
            }
        }
    }
}

/// The authentication settings of a bench.
pub fn auth_config(issuer: &str, options: &BenchOptions) -> AuthConfig {
    let issuer = issuer.to_owned();
    let options = options.clone();
    AuthConfig::from_lookup(move |name| match name {
        "KINDE_ISSUER_URL" => Some(issuer.clone()),
        "KINDE_AUDIENCE" => Some(AUDIENCE.to_owned()),
        "KINDE_PLATFORM_ORG_CODE" => Some(PLATFORM_ORG.to_owned()),
        "KINDE_REQUIRED_PERMISSION" => options.required_permission.clone(),
        _ => None,
    })
    .expect("bench auth config is valid")
}

/// The runtime secrets of a bench: its services' keys, its cursor key and, when asked for,
/// the deprecated shared secret.
pub fn secret_material(options: &BenchOptions) -> SecretMaterial {
    let services = service_keys().config(&SERVICES).expect("service keys");
    SecretMaterial::from_lookup(|name| match name {
        "CURSOR_SIGNING_KEY" => Some(CURSOR_KEY.to_owned()),
        "SERVICE_KEYS" => Some(services.clone()),
        "SERVICE_TOKEN_HMAC_COMPAT" => options.shared_secret.then(|| "true".to_owned()),
        "SERVICE_TOKEN_SECRET" => options.shared_secret.then(|| SECRET.to_owned()),
        "SERVICE_TOKEN_SECRET_PREVIOUS" => options.previous_secret.clone(),
        _ => None,
    })
    .expect("bench secrets are valid")
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body parsed as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The body exactly as sent.
    pub text: String,
}

impl Reply {
    /// Sends `request`, reads the whole response, and checks it against `docs/openapi.yaml`
    /// (documented status, required headers, body schema): every test that goes through here
    /// is also a contract test.
    pub async fn fetch(request: reqwest::RequestBuilder) -> Self {
        let (client, request) = request.build_split();
        let request = request.expect("a well-formed request");
        let (method, path) = (request.method().as_str().to_owned(), request.url().path().to_owned());
        let response = client.execute(request).await.expect("request reaches the bench");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        crate::contract::check(&method, &path, status, &headers, &bytes);
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Self { status, headers, body, text }
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body without the members that differ per request (`requestId`, `timestamp`).
    pub fn stable_body(&self) -> Value {
        let mut body = self.body.clone();
        if let Some(object) = body.as_object_mut() {
            object.remove("requestId");
            object.remove("timestamp");
        }
        body
    }
}

/// Waits `millis` milliseconds.
pub async fn pause(millis: u64) {
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
