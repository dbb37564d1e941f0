//! The one writer of collection items.
//!
//! Every write reads the items it affects, plans their new versions (with the derived
//! values, index keys and counter deltas that follow), and commits the plan in
//! `TransactWriteItems` calls, each item conditional on the version it was planned from. A
//! condition failure means a concurrent writer got there first: the whole operation is
//! planned again from fresh reads. Counters change in the same transaction as the items
//! they count, so they are exact at every commit.
//!
//! Cascades compare what each dependent holds with what it should hold, on every write of
//! the record they depend on, and the record itself commits last. So a write interrupted
//! between its transactions is finished by writing the same record again, and a later write
//! of the record repairs any dependent left out of step.
//!
//! The modules follow the seams of a write: [`plan`] (what changes), [`commit`]
//! (transactions, change times, counters), [`reads`] (what a plan is built from), and one
//! module per record family with its cascades.

mod commit;
mod credits;
mod entities;
#[cfg(feature = "fault-injection")]
mod faults;
mod people;
mod plan;
mod platform;
mod postings;
mod reads;
mod roles;
mod versions;

use std::future::Future;
use std::time::Duration;

pub use commit::COMMIT_BOUND;
pub use credits::{apply_credit_activity, versioned_balance_carries_no_totals, CreditActivity};
#[cfg(feature = "fault-injection")]
pub use faults::Faults;
pub use platform::counters_item;
pub use versions::{admit, Admission, SourceVersion, VERSION_REQUIRED};

use super::item::{CollectionRecord, Stored};
use super::{Store, StoreError};
use crate::model::Problem;
use crate::time::Timestamp;

const MAX_ATTEMPTS: u32 = 8;

/// Where the writer gets "now" from. Seeding uses a fixed instant so that the same seed
/// produces byte-identical items.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system clock (checked against DynamoDB's before every stamp).
    System,
    /// Always this instant.
    Fixed(Timestamp),
}

impl Clock {
    /// The current instant of this clock.
    pub fn now(&self) -> Timestamp {
        match self {
            Self::System => Timestamp::now(),
            Self::Fixed(at) => *at,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The record did not exist (or was a tombstone) and now does.
    Created,
    /// The record changed, or records that depend on it were brought up to date.
    Updated,
    /// The record and its dependents already held exactly this; nothing was written.
    Unchanged,
    /// The record was replaced by a tombstone.
    Deleted,
    /// There was no live record to delete or change (dependents a crashed earlier delete
    /// left behind are still deleted).
    NotFound,
    /// A versioned write older than (or as old as) the stored record's source version:
    /// nothing was written.
    Stale,
}

/// The writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    store: Store,
    clock: Clock,
    /// The source version the writes carry (`None`: unversioned writes).
    source: Option<SourceVersion>,
    /// Whether tenant writes wait while the tenant is bulk-loading (`store::loading`).
    waits_for_bulk_loads: bool,
    #[cfg(feature = "fault-injection")]
    faults: Option<std::sync::Arc<Faults>>,
}

impl Writer {
    /// A writer using `clock` for change times.
    pub fn new(store: Store, clock: Clock) -> Self {
        Self {
            store,
            clock,
            source: None,
            waits_for_bulk_loads: false,
            #[cfg(feature = "fault-injection")]
            faults: None,
        }
    }

    /// This writer, with its writes carrying `source`: each applies only when it is newer
    /// than the stored record's source version, and stores it (`versions`).
    pub fn versioned(&self, source: SourceVersion) -> Self {
        Self { source: Some(source), ..self.clone() }
    }

    /// This writer, with every tenant write conditional on the tenant not bulk-loading: the
    /// ingestion paths use it, so a change never races a bulk load's unconditional batches
    /// (it fails as a conflict after the writer's retries, and is delivered again).
    pub fn waiting_for_bulk_loads(&self) -> Self {
        Self { waits_for_bulk_loads: true, ..self.clone() }
    }

    /// Whether deleting a record also deletes its dependents (memberships and assignments of
    /// a user, assignments of a role, memberships and the balance of an entity). Unversioned
    /// writes do. A versioned delete does not: the platform sends each dependent's own delete
    /// with that dependent's version, and a cascaded tombstone could not be ordered against
    /// the dependent's own later changes (a re-created membership would stay deleted when the
    /// old user delete arrives after it). Its dependents are kept as dangling references,
    /// unlisted, until their own deletes (or their parent's re-creation) arrive.
    fn cascades_deletes(&self) -> bool {
        self.source.is_none()
    }

    /// The source version this writer's writes carry.
    fn source_version(&self) -> Option<u64> {
        self.source.as_ref().map(|s| s.version)
    }

    /// What the version rule says about writing over `old`.
    fn admit<R, D>(&self, old: Option<&Stored<R, D>>) -> Result<Admission, StoreError> {
        admit(old.and_then(|o| o.sv), self.source_version())
    }

    /// A plan whose own record is the one under `sk` (it gets the writer's source version).
    fn plan_for(&self, tenant_id: &str, sk: &str) -> plan::Plan {
        let mut plan = plan::Plan::new(tenant_id, self.clock.now());
        plan.source = self.source.as_ref().map(|source| plan::CoreSource {
            sk: sk.to_owned(),
            version: source.version,
            identity: source.identity.clone(),
        });
        plan
    }

    /// The store this writer writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `attempt` until it does not conflict, with jittered backoff.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        for round in 0..MAX_ATTEMPTS {
            match attempt().await {
                Err(StoreError::Conflict) => {
                    let base = 10u64 << round.min(6);
                    let jitter = rand::random::<u64>() % base;
                    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
                }
                other => return other,
            }
        }
        Err(StoreError::Conflict)
    }

    /// Deletes a record nothing else derives from (a role assignment, a credit balance).
    async fn delete_leaf<R: CollectionRecord>(&self, tenant_id: &str, sk: &str) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let old = self.get::<R>(tenant_id, sk).await?;
            if self.admit(old.as_ref())? == Admission::Stale {
                return Ok(WriteOutcome::Stale);
            }
            self.delete_absent::<R>(tenant_id, sk, old.as_ref()).await
        })
        .await
    }

    /// Deletes the record under `sk` read as `old` when nothing derives from it: its
    /// tombstone, or for a versioned delete of a record never stored a bare tombstone, or
    /// only the newer source version on a tombstone.
    async fn delete_absent<R: CollectionRecord>(
        &self,
        tenant_id: &str,
        sk: &str,
        old: Option<&Stored<R, R::Derived>>,
    ) -> Result<WriteOutcome, StoreError> {
        let mut plan = self.plan_for(tenant_id, sk);
        let outcome = plan.delete_own(old);
        self.commit(plan).await?;
        Ok(outcome)
    }
}

fn reject_problems(problems: Vec<Problem>) -> Result<(), StoreError> {
    if problems.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Err(StoreError::Rejected(text.join("; ")))
}

/// The outcome of a write whose record was `outcome` and whose plan `wrote` something: a
/// record that is unchanged but whose dependents were repaired reports `Updated`.
fn reported(outcome: WriteOutcome, wrote: bool) -> WriteOutcome {
    if outcome == WriteOutcome::Unchanged && wrote {
        WriteOutcome::Updated
    } else {
        outcome
    }
}
