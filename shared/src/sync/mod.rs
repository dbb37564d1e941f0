//! The tenant sync (contract section 10): phases that count, fingerprint and validate a
//! tenant's data, streaming it page by page so memory stays flat as a tenant grows.
//!
//! Built so far: the checksum, the essential and reference phases, and validation with
//! counter repair. The run record, lease, trigger and status routes, the Step Functions
//! worker and the completion event are still to come (see the sync issue).

pub mod checksum;
pub mod phases;
pub mod validation;
