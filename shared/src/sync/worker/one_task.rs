//! One-task runs: a tenant small enough to sync in one invocation gets every phase from its
//! `essential` task, in the single read of the tenant that an in-process run makes
//! ([`phases_in_one_read`]), instead of three tasks that each read it again (users three
//! times, everything else twice: 2.2x a plain read at 50,000 users, against 1.0x in one
//! read). Larger tenants keep one task per phase, so no invocation nears Lambda's 15 minutes;
//! the price of one task is that a retried failure repeats the whole read, not one phase.

use serde::Serialize;

use crate::config::ConfigError;
use crate::store::reader;
use crate::store::writer::Writer;
use crate::store::{Store, StoreError};
use crate::sync::phases::{EssentialPhase, ReferencePhase};
use crate::sync::run::{phases_in_one_read, SyncOptions, ValidationPhase};

/// The setting that bounds one-task runs, in live items of the tenant (its counters).
pub const ONE_TASK_MAX_ITEMS_VAR: &str = "SYNC_ONE_TASK_MAX_ITEMS";

/// The default bound: the 50,000-user benchmark tenant (205,000 items) with room to grow.
/// Its in-process run read for 148 s on DynamoDB Local and needs 6.7 s of CPU, about 45 s at
/// the worker's 256 MB share of a core, and 46 MiB: far inside 15 minutes and 256 MB.
pub const DEFAULT_ONE_TASK_MAX_ITEMS: u64 = 250_000;

/// The one-task bound from the environment: a whole number of items, 0 turning one-task runs
/// off; the default when unset.
pub fn one_task_max_items(lookup: impl Fn(&str) -> Option<String>) -> Result<u64, ConfigError> {
    match lookup(ONE_TASK_MAX_ITEMS_VAR) {
        None => Ok(DEFAULT_ONE_TASK_MAX_ITEMS),
        Some(text) => text.trim().parse().map_err(|_| ConfigError::Invalid {
            name: ONE_TASK_MAX_ITEMS_VAR,
            reason: "must be a whole number of items (0 turns one-task runs off)".into(),
        }),
    }
}

/// What the `essential` task answers when it ran every phase: the essential phase's own
/// members, so the result reads as one, and `oneTask` with the other two phases, which the
/// state machine moves to where the phase tasks would have put theirs.
#[derive(Debug, Clone, Serialize)]
pub struct OneTaskEssential {
    /// The essential phase.
    #[serde(flatten)]
    pub essential: EssentialPhase,
    /// The reference and validation phases of the same read.
    #[serde(rename = "oneTask")]
    pub one_task: OneTaskRest,
}

/// The phases after essential, from a one-task run.
#[derive(Debug, Clone, Serialize)]
pub struct OneTaskRest {
    /// The reference phase (the skipped phase when the run skips reference data).
    pub reference: ReferencePhase,
    /// The validation phase.
    pub validation: ValidationPhase,
}

/// Whether the tenant's live items, by its counters, are within `limit` (never with 0).
pub(super) async fn fits(store: &Store, tenant_id: &str, limit: u64) -> Result<bool, StoreError> {
    if limit == 0 {
        return Ok(false);
    }
    Ok(reader::counters(store, tenant_id).await?.live_items() <= limit)
}

/// Every phase of the run in one read of the tenant.
pub(super) async fn run(
    writer: &Writer,
    tenant_id: &str,
    options: SyncOptions,
) -> Result<OneTaskEssential, StoreError> {
    let catalog = reader::catalog(writer.store()).await?;
    let (essential, reference, validation) = phases_in_one_read(writer, &catalog, tenant_id, options).await;
    Ok(OneTaskEssential { essential, one_task: OneTaskRest { reference, validation } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys::Collection;
    use crate::store::reader::{CollectionCounts, Counters};

    #[test]
    fn the_bound_defaults_parses_and_refuses_what_is_not_a_count() {
        assert_eq!(one_task_max_items(|_| None).unwrap(), DEFAULT_ONE_TASK_MAX_ITEMS);
        assert_eq!(one_task_max_items(|_| Some(" 0 ".into())).unwrap(), 0);
        assert_eq!(one_task_max_items(|_| Some("1000".into())).unwrap(), 1000);
        for bad in ["-1", "ten", "1e5", ""] {
            let error = one_task_max_items(|_| Some(bad.into())).unwrap_err();
            assert!(error.to_string().contains(ONE_TASK_MAX_ITEMS_VAR), "{bad}: {error}");
        }
    }

    #[test]
    fn live_items_add_every_collection_and_ignore_a_negative_counter() {
        let mut counters = Counters::default();
        for (i, collection) in Collection::ALL.into_iter().enumerate() {
            let live = if i == 0 { -3 } else { 10 * i as i64 };
            counters.0.insert(collection, CollectionCounts { listed: 0, active: 0, live });
        }
        assert_eq!(counters.live_items(), (1..Collection::ALL.len() as u64).map(|i| 10 * i).sum::<u64>());
        assert_eq!(Counters::default().live_items(), 0);
    }
}
