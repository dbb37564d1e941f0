//! `wrapper-sync token ...` and `wrapper-sync dev-issuer`: tokens for local development.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use shared::auth::dev::{self, DevServiceKeys, DevSigningKey, KindeTokenSpec, ServiceTokenSpec};

/// Where the development RSA key lives unless `--key` says otherwise.
pub const DEFAULT_KEY_PATH: &str = ".local/dev-issuer/rs256.pk8";
/// Where the seed of the development service keys lives unless `--service-keys` says otherwise.
pub const DEFAULT_SERVICE_SEED_PATH: &str = ".local/dev-issuer/service-keys.seed";
/// The local issuer URL unless `KINDE_ISSUER_URL` says otherwise.
pub const DEFAULT_LOCAL_ISSUER: &str = "http://127.0.0.1:3000";

/// Which kind of token to mint.
#[derive(Subcommand)]
pub enum TokenKind {
    /// A service token signed with the service's development Ed25519 key (or, with
    /// `--hmac`, a token of the deprecated shared-secret mode).
    Service(ServiceArgs),
    /// A Kinde-style access token signed by the local development key.
    Kinde(KindeArgs),
}

/// Options of `token service`.
#[derive(Args)]
pub struct ServiceArgs {
    /// `service` claim: `crm` by default, `wrapper` (the platform service) with
    /// `--all-tenants` or `--write`.
    #[arg(long)]
    service: Option<String>,
    /// Tenant id or Kinde org code the token is scoped to.
    #[arg(long, conflicts_with = "all_tenants")]
    tenant: Option<String>,
    /// Platform-wide token (no tenant, `platform:all_tenants`; only services granted
    /// `platform` get it).
    #[arg(long)]
    all_tenants: bool,
    /// Adds `platform:write` (only services granted `write` get it).
    #[arg(long)]
    write: bool,
    /// Lifetime in seconds (the API accepts at most SERVICE_TOKEN_MAX_LIFETIME_SECONDS).
    #[arg(long, default_value_t = 3600)]
    ttl: i64,
    /// The seed of the development service keys (created on first use; the local server
    /// reads the same file).
    #[arg(long, env = "DEV_SERVICE_KEYS", default_value = DEFAULT_SERVICE_SEED_PATH)]
    service_keys: PathBuf,
    /// Mint a token of the deprecated shared-secret mode instead, signed with `--secret`.
    #[arg(long)]
    hmac: bool,
    /// The shared secret of `--hmac` (at least 32 bytes).
    #[arg(long, env = "SERVICE_TOKEN_SECRET", hide_env_values = true, default_value = dev::DEV_SERVICE_SECRET)]
    secret: String,
}

/// Options of `token kinde`.
#[derive(Args)]
pub struct KindeArgs {
    /// `org_code` claim: the Kinde org code of the tenant (the local platform org is
    /// `org_platform`: with `--permissions platform:all_tenants` its token sees every tenant).
    #[arg(long)]
    org: Option<String>,
    /// `sub` claim.
    #[arg(long, default_value = "kp_local_developer")]
    sub: String,
    /// `permissions` claim, comma-separated (e.g. platform:all_tenants).
    #[arg(long, value_delimiter = ',')]
    permissions: Vec<String>,
    /// `aud` claim: the API's KINDE_AUDIENCE (the local server's by default).
    #[arg(long, env = "KINDE_AUDIENCE", default_value = dev::DEV_KINDE_AUDIENCE)]
    audience: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: i64,
    /// `iss` claim: must equal the API's KINDE_ISSUER_URL.
    #[arg(long, env = "KINDE_ISSUER_URL", default_value = DEFAULT_LOCAL_ISSUER)]
    issuer: String,
    /// The development key (created on first use).
    #[arg(long, env = "DEV_ISSUER_KEY", default_value = DEFAULT_KEY_PATH)]
    key: PathBuf,
}

/// Options of `dev-issuer`.
#[derive(Args)]
pub struct IssuerArgs {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 3001)]
    port: u16,
    /// The development key (created on first use).
    #[arg(long, env = "DEV_ISSUER_KEY", default_value = DEFAULT_KEY_PATH)]
    key: PathBuf,
}

/// Prints a token.
pub fn mint(kind: TokenKind) -> anyhow::Result<()> {
    let token = match kind {
        TokenKind::Service(args) => {
            let default = if args.all_tenants || args.write { "wrapper" } else { "crm" };
            let service = args.service.unwrap_or_else(|| default.to_owned());
            let spec = ServiceTokenSpec {
                service: service.clone(),
                tenant: args.tenant,
                all_tenants: args.all_tenants,
                write: args.write,
                permissions: Vec::new(),
                ttl_seconds: args.ttl,
            };
            let claims = dev::service_claims(&spec);
            if args.hmac {
                anyhow::ensure!(args.secret.len() >= 32, "SERVICE_TOKEN_SECRET must be at least 32 bytes");
                dev::sign_service_token(&claims, args.secret.as_bytes(), jsonwebtoken::Algorithm::HS256)?
            } else {
                DevServiceKeys::load_or_create(&args.service_keys)?.sign(&service, &claims)?
            }
        }
        TokenKind::Kinde(args) => {
            let key = DevSigningKey::load_or_create(&args.key)?;
            let spec = KindeTokenSpec {
                issuer: args.issuer,
                org_code: args.org,
                subject: args.sub,
                audience: Some(args.audience),
                permissions: args.permissions,
                ttl_seconds: args.ttl,
            };
            key.sign(&dev::kinde_claims(&spec))?
        }
    };
    println!("{token}");
    Ok(())
}

/// Serves the development key's JWK set at `/.well-known/jwks` on loopback until stopped.
pub async fn serve_issuer(args: IssuerArgs) -> anyhow::Result<()> {
    let key = DevSigningKey::load_or_create(&args.key)?;
    let document = dev::jwk_set(&[&key]);
    let app = axum::Router::new().route(
        "/.well-known/jwks",
        axum::routing::get(move || {
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = tokio::net::TcpListener::bind(address).await?;
    eprintln!("serving the development JWK set (kid {}) at http://{address}/.well-known/jwks", key.kid());
    axum::serve(listener, app).await?;
    Ok(())
}
