//! The tenant sync (contract section 10): phases that count, fingerprint and validate a
//! tenant's data, streaming it page by page so memory stays flat as a tenant grows.
//!
//! Built so far: the checksum, the essential and reference phases, validation with counter
//! repair, and [`run::run_phases`], which runs them in process and assembles SyncResults.
//! The run record, lease, idempotency, trigger and status routes, the Step Functions worker
//! and the completion event are still to come (see the sync issue).

pub mod checksum;
pub mod events;
pub mod phases;
pub mod record;
pub mod run;
pub mod validation;
