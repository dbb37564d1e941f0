//! Shared code of the Wrapper App Sync functions: configuration, the stored records, the
//! DynamoDB store with its single writer, pagination cursors, and (with the `dev-tools`
//! feature, which no function enables) the demo-data generator, the importer and the
//! development token issuer the CLI drives.

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
/// The importer of NDJSON files (development tools: the operator CLI, not the functions).
#[cfg(feature = "dev-tools")]
pub mod import;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod pagination;
pub mod runtime;
pub mod secrets;
/// The demo-data generator (development tools).
#[cfg(feature = "dev-tools")]
pub mod seed;
pub mod store;
pub mod sync;
pub mod time;
