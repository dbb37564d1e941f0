//! `pagination.total` in time linear in a walk (contract 6.4, as changed in `docs/api.md`).
//!
//! - Unfiltered full pulls read the writer's counters on every page: one `GetItem`, exact
//!   at the time of the request.
//! - The unfiltered initial load (`updatedSince` = the epoch) is the live records plus the
//!   retained tombstones: the counters and the tombstone buckets, on the first page only.
//! - Every other total (filters, other incremental pulls) is a count on the first page of
//!   the walk, within [`COUNT_BUDGET`]; later pages carry it in the cursor. A count that
//!   cannot finish within its budget is extrapolated and reported with
//!   `totalEstimated: true`.

use crate::store::keys::Collection;
use crate::store::query::{self, ListMode, ListRequest, COUNT_BUDGET};
use crate::store::{reader, Store, StoreError};
use crate::time::Timestamp;

/// A page's `total`, and whether it travels in the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    /// The number reported.
    pub value: u64,
    /// `totalEstimated`.
    pub estimated: bool,
    /// Fixed for the walk (carried in the cursor) rather than read on every page.
    pub carried: bool,
}

/// Whether a mode is the initial load (`updatedSince=1970-01-01T00:00:00Z`).
pub fn is_initial_load(mode: ListMode) -> bool {
    matches!(mode, ListMode::ChangedSince(since) if since.millis() == 0)
}

/// The total of a list request. `fixed` is what the walk's cursor carries, if anything.
pub async fn total(
    store: &Store,
    tenant_id: &str,
    collection: Collection,
    mode: ListMode,
    request: &ListRequest,
    fixed: Option<(u64, bool)>,
    now: Timestamp,
) -> Result<Total, StoreError> {
    if let Some((value, estimated)) = fixed {
        return Ok(Total { value, estimated, carried: true });
    }
    let unfiltered = request.filters.is_empty();
    match mode {
        ListMode::Active | ListMode::All if unfiltered => {
            let counts = reader::counters(store, tenant_id).await?.get(collection);
            let value = if mode == ListMode::Active { counts.active } else { counts.listed };
            Ok(Total { value: value.max(0) as u64, estimated: false, carried: false })
        }
        _ if unfiltered && is_initial_load(mode) => {
            let value = range_bound(store, tenant_id, collection, mode, now).await?;
            Ok(Total { value, estimated: false, carried: true })
        }
        _ => {
            let count = query::count(store, tenant_id, collection, mode, request, COUNT_BUDGET).await?;
            if count.complete {
                return Ok(Total { value: count.matched, estimated: false, carried: true });
            }
            let bound = range_bound(store, tenant_id, collection, mode, now).await?;
            Ok(Total { value: extrapolate(count.matched, count.evaluated, bound), estimated: true, carried: true })
        }
    }
}

/// How many items the mode's index can hold for the collection at most: the counters for
/// full pulls; live records plus retained tombstones for incremental ones.
async fn range_bound(
    store: &Store,
    tenant_id: &str,
    collection: Collection,
    mode: ListMode,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let counts = reader::counters(store, tenant_id).await?.get(collection);
    let value = match mode {
        ListMode::Active => counts.active,
        ListMode::All => counts.listed,
        ListMode::ChangedSince(_) => {
            let tombstones = reader::retained_tombstones(store, tenant_id, now).await?;
            counts.live + tombstones.get(&collection).copied().unwrap_or_default()
        }
    };
    Ok(value.max(0) as u64)
}

/// The matches of a count that stopped after `evaluated` of at most `bound` items, scaled
/// to the whole range: never less than what was counted.
pub fn extrapolate(matched: u64, evaluated: u64, bound: u64) -> u64 {
    if evaluated == 0 {
        return matched;
    }
    let rest = bound.saturating_sub(evaluated) as u128;
    let scaled = matched as u128 + rest * matched as u128 / evaluated as u128;
    scaled.min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extrapolation_scales_the_match_rate_to_the_rest() {
        assert_eq!(extrapolate(100, 10_000, 50_000), 500);
        assert_eq!(extrapolate(0, 10_000, 50_000), 0);
        assert_eq!(extrapolate(10_000, 10_000, 30_000), 30_000);
        assert_eq!(extrapolate(7, 10_000, 5_000), 7, "a bound below the count never lowers it");
        assert_eq!(extrapolate(3, 0, 100), 3);
    }

    #[test]
    fn only_the_epoch_is_the_initial_load() {
        let epoch = Timestamp::parse("1970-01-01T00:00:00Z").unwrap();
        assert!(is_initial_load(ListMode::ChangedSince(epoch)));
        assert!(!is_initial_load(ListMode::ChangedSince(epoch.plus_millis(1))));
        assert!(!is_initial_load(ListMode::All));
    }
}
