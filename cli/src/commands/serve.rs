//! `wrapper-sync serve`: every route of the API in one process on 127.0.0.1, for developing
//! against the API on a laptop. It also serves the development key's JWK set at
//! `/.well-known/jwks`, so it is its own local Kinde issuer.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use shared::auth::dev::{self, DevServiceKeys, DevSigningKey};

use super::token::{DEFAULT_KEY_PATH, DEFAULT_SERVICE_SEED_PATH};

/// Cursor signing key used locally when `CURSOR_SIGNING_KEY` is unset. A deployed function
/// has no defaults for its secrets: it refuses to start without them.
pub const LOCAL_CURSOR_KEY: &str = shared::auth::dev::DEV_CURSOR_KEY;

/// Options of `serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// The development key whose JWK set is served.
    #[arg(long, env = "DEV_ISSUER_KEY", default_value = DEFAULT_KEY_PATH)]
    key: PathBuf,
    /// The seed of the development service keys the local services sign with.
    #[arg(long, env = "DEV_SERVICE_KEYS", default_value = DEFAULT_SERVICE_SEED_PATH)]
    service_keys: PathBuf,
}

/// Serves every route until stopped.
pub async fn run(table: &str, endpoint: Option<&str>, args: ServeArgs) -> anyhow::Result<()> {
    shared::runtime::init_logging();
    let issuer = format!("http://127.0.0.1:{}", args.port);
    let services = DevServiceKeys::load_or_create(&args.service_keys)?.config(&dev::DEV_SERVICES)?;
    let lookup = |name: &str| -> Option<String> {
        let set = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match name {
            "TABLE_NAME" => Some(table.to_owned()),
            "DYNAMODB_ENDPOINT" => endpoint.map(str::to_owned).or(set),
            "KINDE_ISSUER_URL" => set.or_else(|| Some(issuer.clone())),
            "KINDE_AUDIENCE" => set.or_else(|| Some(dev::DEV_KINDE_AUDIENCE.to_owned())),
            "KINDE_PLATFORM_ORG_CODE" => set.or_else(|| Some(dev::DEV_PLATFORM_ORG.to_owned())),
            "SERVICE_KEYS" => set.or_else(|| Some(services.clone())),
            "CURSOR_SIGNING_KEY" => set.or_else(|| Some(LOCAL_CURSOR_KEY.to_owned())),
            _ => set,
        }
    };
    let aws = shared::config::StoreConfig::from_lookup(lookup)?;
    let store = shared::store::Store::new(&aws);
    let auth = shared::auth::Authenticator::new(shared::auth::AuthConfig::from_lookup(lookup)?);
    let secrets = shared::secrets::RuntimeSecrets::from_lookup(lookup, &aws, &store)?;
    let state = shared::api::AppState::new(store, auth, secrets);

    let key = DevSigningKey::load_or_create(&args.key)?;
    let jwks = dev::jwk_set(&[&key]);
    let app = axum::Router::new()
        .route(
            "/.well-known/jwks",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        )
        .merge(shared::api::serve(shared::api::all_routes(), state));
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = tokio::net::TcpListener::bind(address).await?;
    eprintln!("App Sync API on http://{address}/api/sync (alias /api/wrapper); Kinde issuer {issuer}");
    axum::serve(listener, app).await?;
    Ok(())
}
