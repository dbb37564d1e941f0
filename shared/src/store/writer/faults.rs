//! Failure injection for the tests of interrupted writes (cargo feature `fault-injection`,
//! enabled by the integration tests only; the Lambda functions never build it).
//!
//! The tests need a transaction that fails for good in the middle of a plan, which DynamoDB
//! Local cannot be made to do on demand. A [`Faults`] attached to a writer lets a chosen
//! number of transactions through and fails the next one as if the store were unavailable.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::super::StoreError;
use super::{Clock, Writer};
use crate::store::Store;

/// Fails the transaction after the first `n` that were let through, once.
#[derive(Debug, Default)]
pub struct Faults {
    remaining: AtomicI64,
}

impl Faults {
    /// Lets `n` transactions through, fails the next one, then lets everything through.
    pub fn fail_after(n: usize) -> Arc<Self> {
        Arc::new(Self { remaining: AtomicI64::new(n as i64) })
    }

    /// Called before each transaction is sent.
    pub(super) fn before_transaction(&self) -> Result<(), StoreError> {
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 0 {
            Err(StoreError::Unavailable("injected failure".into()))
        } else {
            Ok(())
        }
    }
}

impl Writer {
    /// A writer whose transactions go through `faults` first.
    pub fn with_faults(store: Store, clock: Clock, faults: Arc<Faults>) -> Self {
        Self { store, clock, source: None, faults: Some(faults), waits_for_bulk_loads: false }
    }
}
