//! Shared code of the Wrapper App Sync functions: configuration, the stored records, the
//! DynamoDB store with its single writer, pagination cursors, and the demo-data generator
//! and importer the CLI drives.

pub mod api;
pub mod auth;
pub mod config;
pub mod import;
pub mod model;
pub mod pagination;
pub mod runtime;
pub mod seed;
pub mod store;
pub mod sync;
pub mod time;
