//! Ingestion: the platform's changes applied through the one writer.
//!
//! A [`Change`] names one record and the platform's `sourceVersion` of it. [`apply`] writes
//! it through a versioned [`Writer`], which applies it only when it is newer than what is
//! stored and keeps the version on the item (and on a delete's tombstone), so any delivery
//! order with any duplicates ends in the platform's latest state. Credit postings are
//! additive and apply once per `changeId` instead. Each change is atomic: a failure leaves it
//! either applied or not, and sending it again is harmless.

pub mod batch;
pub mod change;
pub mod observe;
pub mod queue;
pub mod receipts;
pub mod record;

pub use change::{Action, Change, DeleteKey};

use crate::store::writer::{SourceVersion, WriteOutcome, Writer};
use crate::store::StoreError;

/// What applying one change did (the `outcome` of its log line and its HTTP result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The change was written (a record created, changed or deleted).
    Applied,
    /// The store already held what the change says (a duplicate, or a delete of a record
    /// already gone).
    Unchanged,
    /// The store holds a newer version of the record: nothing was written.
    Stale,
    /// The change cannot be applied as sent (an immutable member changed, a version missing
    /// where one is stored, totals on a versioned balance): it must not be retried.
    Rejected(String),
}

impl Outcome {
    /// The outcome's name in logs and answers.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Unchanged => "unchanged",
            Self::Stale => "stale",
            Self::Rejected(_) => "rejected",
        }
    }
}

/// Applies one change. Errors are the store's transient ones (unavailable, throttled): the
/// change was not applied, or was and comes back `unchanged` or `stale` when sent again.
pub async fn apply(writer: &Writer, change: &Change) -> Result<Outcome, StoreError> {
    match write(writer, change).await {
        Ok(WriteOutcome::Created | WriteOutcome::Updated | WriteOutcome::Deleted) => Ok(Outcome::Applied),
        Ok(WriteOutcome::Unchanged | WriteOutcome::NotFound) => Ok(Outcome::Unchanged),
        Ok(WriteOutcome::Stale) => Ok(Outcome::Stale),
        Err(StoreError::Rejected(reason)) => Ok(Outcome::Rejected(reason)),
        Err(error) => Err(error),
    }
}

/// [`apply`] with the writer's own outcome (created and updated told apart, for the
/// importer's summary); a change that cannot be applied is `StoreError::Rejected`.
/// Every write waits while its tenant is bulk-loading (`store::loading`).
pub async fn write(writer: &Writer, change: &Change) -> Result<WriteOutcome, StoreError> {
    let writer = &writer.waiting_for_bulk_loads();
    match &change.action {
        Action::Upsert(record) => record::write(&versioned(writer, change, None), record).await,
        Action::Delete { tenant_id, key } => {
            let writer = versioned(writer, change, Some(key));
            delete(&writer, tenant_id, key).await
        }
        Action::CreditActivity { tenant_id, entity_id, activity } => {
            let change_id = change.change_id.as_deref().unwrap_or_default();
            // A posting for a balance not stored yet is kept, so this is never `NotFound`.
            writer.post_credit_activity_once(tenant_id, entity_id, activity, change_id).await
        }
    }
}

/// `writer` carrying the change's source version, if it has one.
fn versioned(writer: &Writer, change: &Change, key: Option<&DeleteKey>) -> Writer {
    match change.source_version {
        Some(version) => {
            writer.versioned(SourceVersion { version, identity: key.map(DeleteKey::identity).unwrap_or_default() })
        }
        None => writer.clone(),
    }
}

async fn delete(writer: &Writer, tenant_id: &str, key: &DeleteKey) -> Result<WriteOutcome, StoreError> {
    match key {
        DeleteKey::User { user_id } => writer.delete_user(tenant_id, user_id).await,
        DeleteKey::Entity { entity_id } => writer.delete_entity(tenant_id, entity_id).await,
        DeleteKey::Role { role_id } => writer.delete_role(tenant_id, role_id).await,
        DeleteKey::Membership { membership_id, .. } => writer.delete_membership(tenant_id, membership_id).await,
        DeleteKey::RoleAssignment { assignment_id, .. } => {
            writer.delete_role_assignment(tenant_id, assignment_id).await
        }
        DeleteKey::CreditBalance { entity_id } => writer.delete_credit_balance(tenant_id, entity_id).await,
    }
}
