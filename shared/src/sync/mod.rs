//! The tenant sync (contract section 10): phases that count, fingerprint and validate a
//! tenant's data, streaming it page by page so memory stays flat as a tenant grows.
//!
//! The phases (`phases`, `validation` with `counters`) are pure functions of (tenant, run); `run` executes
//! them in process, `record` keeps run records and the per-tenant lease, `worker` answers
//! the Step Functions tasks, `events` publishes the completion event, `launch` starts
//! Step Functions executions, `schedule` pages scheduled syncs, `stopped` frees the leases
//! of executions that stopped without their failure step, `observe` emits the runs' metrics.

pub mod checksum;
pub mod counters;
pub mod events;
pub mod launch;
pub mod observe;
pub mod phases;
pub mod record;
pub mod run;
pub mod schedule;
pub mod stopped;
pub mod validation;
pub mod worker;
