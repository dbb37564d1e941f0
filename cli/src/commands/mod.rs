//! The CLI's subcommands.

pub mod changes;
pub mod import;
pub mod seed;
pub mod serve;
pub mod table;
pub mod token;

use shared::config::StoreConfig;
use shared::store::Store;

/// Builds the store from the environment, with the command-line overrides applied.
pub fn store(table: &str, endpoint: Option<&str>) -> anyhow::Result<Store> {
    let mut config = StoreConfig::from_lookup(|name| match name {
        "DYNAMODB_ENDPOINT" => endpoint.map(str::to_owned),
        _ => std::env::var(name).ok().filter(|v| !v.trim().is_empty()),
    })?;
    config.table_name = table.to_owned();
    Ok(Store::new(&config))
}
