//! `wrapper-sync serve`: every route of the API in one process on 127.0.0.1, for developing
//! against the API on a laptop. It also serves the development key's JWK set at
//! `/.well-known/jwks`, so it is its own local Kinde issuer.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use shared::auth::dev::{self, DevSigningKey};

use super::token::DEFAULT_KEY_PATH;

/// Development-only defaults, used when the variable is not set. A deployed function has
/// no defaults for these: it refuses to start without them.
pub const LOCAL_SERVICE_SECRET: &str = shared::auth::dev::DEV_SERVICE_SECRET;
/// Cursor signing key used locally when `CURSOR_SIGNING_KEY` is unset.
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
}

/// Serves every route until stopped.
pub async fn run(table: &str, endpoint: Option<&str>, args: ServeArgs) -> anyhow::Result<()> {
    shared::runtime::init_logging();
    let issuer = format!("http://127.0.0.1:{}", args.port);
    let lookup = |name: &str| -> Option<String> {
        let set = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match name {
            "TABLE_NAME" => Some(table.to_owned()),
            "DYNAMODB_ENDPOINT" => endpoint.map(str::to_owned).or(set),
            "KINDE_ISSUER_URL" => set.or_else(|| Some(issuer.clone())),
            "SERVICE_TOKEN_SECRET" => set.or_else(|| Some(LOCAL_SERVICE_SECRET.to_owned())),
            "CURSOR_SIGNING_KEY" => set.or_else(|| Some(LOCAL_CURSOR_KEY.to_owned())),
            _ => set,
        }
    };
    let store = shared::store::Store::new(&shared::config::StoreConfig::from_lookup(lookup)?);
    let auth = shared::auth::Authenticator::new(shared::auth::AuthConfig::from_lookup(lookup)?);
    let cursors = shared::pagination::CursorCodec::from_lookup(lookup)?;
    let state = shared::api::AppState::new(store, auth, cursors);

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
