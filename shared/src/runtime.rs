//! Process start-up shared by every entry point: configuration read and checked once, the
//! state built once per cold start, and JSON logs.

use crate::api::AppState;
use crate::auth::{AuthConfig, Authenticator};
use crate::config::{ConfigError, StoreConfig};
use crate::store::Store;

/// Builds the API state from the process environment. A missing or invalid setting is an
/// error naming the variable (never its value); entry points stop on it.
pub fn state_from_env() -> Result<AppState, ConfigError> {
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let aws = StoreConfig::from_lookup(lookup)?;
    let store = Store::new(&aws);
    let auth = Authenticator::new(AuthConfig::from_lookup(lookup)?);
    // Remote secret sources (the secret, the cursor key item) start their first read here,
    // beside the rest of init.
    let secrets = crate::secrets::RuntimeSecrets::from_lookup(lookup, &aws, &store)?;
    let launcher = crate::sync::launch::Launcher::from_lookup(lookup, &aws);
    let events = crate::sync::events::EventPublisher::from_lookup(lookup, &aws);
    let limits = crate::api::limits::RateLimits::from_lookup(lookup)?;
    let audit = crate::audit::AuditLog::from_lookup(store.clone(), lookup)?;
    Ok(AppState::new(store, auth, secrets).with_sync(launcher, events).with_limits(limits).with_audit(audit))
}

/// JSON logs on stdout (what CloudWatch ingests), level from `RUST_LOG` (default `info`),
/// and the metric lines of `crate::metrics` beside them. Request handling adds the request id
/// to every line; tokens are never logged.
pub fn init_logging() {
    crate::metrics::enable();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws_smithy_runtime=warn,aws_sdk_dynamodb=warn"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .try_init();
}

/// Prints a start-up configuration error and exits: a function that cannot be configured
/// must not answer requests.
pub fn exit_on_config_error(error: ConfigError) -> ! {
    eprintln!("configuration error: {error}");
    std::process::exit(78)
}
