//! Committing a plan: transactions of at most 100 items, in stage order with the record
//! itself last, each item conditional on the version it was planned from, the counters and
//! tombstone buckets updated in the same transaction as the items they count.
//!
//! Change times are stamped per transaction, just before it is sent. If a transaction takes
//! longer than [`COMMIT_BOUND`] from that stamp to DynamoDB's answer, a reader may already
//! have fixed a watermark past the stamp without seeing the change, so the writer writes the
//! same items again with a fresh stamp (and again, up to a few times, if that is slow too).
//! Together with the clock check (`store::clock`) this keeps every change time inside the
//! watermark's settle margin (`docs/api.md`, "Change times and the watermark").

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ItemCollectionMetrics, Put, ReturnItemCollectionMetrics, TransactWriteItem, Update,
};

use super::super::error::sdk;
use super::super::item::attr;
use super::super::keys::{epoch_day, tenant_pk, tomb_bucket_sk, tombstone_expiry, Collection, STATS_SK};
use super::super::reader::{Counters, COUNTERS_VERSION};
use super::super::StoreError;
use super::plan::{Action, Effect, Plan, PlannedWrite, Stage};
use super::{Clock, Writer};
use crate::metrics::{MetricLine, Unit, ITEM_COLLECTION_SIZE};
use crate::time::Timestamp;

/// Longest time from stamping a transaction to DynamoDB's answer that needs no re-stamp.
/// With both clocks within 1 s of DynamoDB's (each estimate off by at most 0.5 s for
/// `Date`'s whole seconds and 0.1 s for the round trip), this keeps every change visible
/// before a watermark 5 s behind the reader's clock can pass its stamp:
/// 1 + 1 + 1 + 0.2 + 1.8 = 5 s (`docs/api.md`, "Change times and the watermark").
pub const COMMIT_BOUND: Duration = Duration::from_millis(1_800);
/// Items DynamoDB accepts in one transaction.
const TRANSACTION_LIMIT: usize = 100;
/// Stamps a transaction gets before the writer gives up on committing it in time.
const MAX_STAMPS: usize = 4;

impl Writer {
    /// Commits a plan, one transaction per chunk, stages in order, the core stage last and
    /// in one transaction.
    pub(super) async fn commit(&self, plan: Plan) -> Result<(), StoreError> {
        self.commit_with_checks(plan, Vec::new()).await
    }

    /// [`Self::commit`], with condition checks (or conditional marker puts) that must hold
    /// in the last transaction; sent alone when the plan writes nothing.
    pub(super) async fn commit_with_checks(
        &self,
        plan: Plan,
        mut checks: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        if self.waits_for_bulk_loads && !plan.tenant_id.is_empty() && !(plan.writes.is_empty() && checks.is_empty()) {
            checks.push(crate::store::loading::not_loading(self.store.table(), &plan.tenant_id, Timestamp::now())?);
        }
        let mut chunks = chunks(plan.writes);
        let last = chunks.pop();
        for chunk in chunks {
            self.commit_chunk(&plan.tenant_id, chunk, Vec::new()).await?;
        }
        match last {
            Some(last) => self.commit_chunk(&plan.tenant_id, last, std::mem::take(&mut checks)).await?,
            None if !checks.is_empty() => self.send(checks).await?,
            None => {}
        }
        Ok(())
    }

    async fn commit_chunk(
        &self,
        tenant_id: &str,
        mut chunk: Vec<PlannedWrite>,
        mut checks: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        for _ in 0..MAX_STAMPS {
            let at = self.stamp_time()?;
            let started = Instant::now();
            let mut items = transaction(self.store.table(), tenant_id, &chunk, at)?;
            items.append(&mut checks);
            if items.is_empty() {
                return Ok(());
            }
            self.send(items).await?;
            let elapsed = started.elapsed();
            if matches!(self.clock, Clock::Fixed(_)) || elapsed <= COMMIT_BOUND {
                return Ok(());
            }
            tracing::warn!(tenant = tenant_id, elapsed_ms = elapsed.as_millis() as u64, "slow commit; re-stamping");
            chunk = restamps(&chunk, at);
            if chunk.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable("transactions kept taking longer than the commit bound".into()))
    }

    /// The change time for the next transaction: the fixed instant, or now, provided this
    /// host's clock is close enough to DynamoDB's.
    fn stamp_time(&self) -> Result<Timestamp, StoreError> {
        match self.clock {
            Clock::Fixed(at) => Ok(at),
            Clock::System => {
                self.store.check_clock()?;
                Ok(Timestamp::now())
            }
        }
    }

    async fn send(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        #[cfg(feature = "fault-injection")]
        if let Some(faults) = &self.faults {
            faults.before_transaction()?;
        }
        let result = self
            .store
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
            .send()
            .await;
        match result {
            Ok(output) => {
                if let Some(metrics) = output.item_collection_metrics() {
                    report_collection_sizes(metrics);
                }
                Ok(())
            }
            Err(error) if is_retryable_cancel(&error) => Err(StoreError::Conflict),
            Err(error) => Err(sdk(error)),
        }
    }
}

/// One metric line per item collection the transaction touched: DynamoDB's upper estimate,
/// which the template's alarm compares with 80 % of the 10 GB limit. The tenant's partition
/// key is a property, not a dimension (docs/data-model.md, "The largest tenant").
fn report_collection_sizes(metrics: &HashMap<String, Vec<ItemCollectionMetrics>>) {
    for (collection, size_gb) in crate::store::size::collection_size_gb(metrics) {
        MetricLine::new()
            .metric(ITEM_COLLECTION_SIZE, Unit::Gigabytes, size_gb)
            .property("itemCollection", collection)
            .emit();
    }
}

/// Splits planned writes into transactions: stages in order, at most
/// [`TRANSACTION_LIMIT`] items each (counting the counters and bucket updates), and every
/// core write in the last one.
fn chunks(mut writes: Vec<PlannedWrite>) -> Vec<Vec<PlannedWrite>> {
    writes.sort_by_key(|w| w.stage);
    let split = writes.iter().position(|w| w.stage == Stage::Core).unwrap_or(writes.len());
    let core = writes.split_off(split);
    let mut chunks = Vec::new();
    let mut current: Vec<PlannedWrite> = Vec::new();
    for write in writes {
        current.push(write);
        if transaction_size(&current) > TRANSACTION_LIMIT {
            let overflow = current.pop().into_iter().collect();
            chunks.push(std::mem::replace(&mut current, overflow));
        }
    }
    let combined: Vec<PlannedWrite> = current.iter().chain(&core).cloned().collect();
    if transaction_size(&combined) <= TRANSACTION_LIMIT {
        current = combined;
    } else {
        if !current.is_empty() {
            chunks.push(current);
        }
        current = core;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Items one transaction of these writes holds: the writes, the counters update and one
/// update per tombstone bucket (the day a new tombstone is stamped on is not known yet, so
/// one is reserved for it).
fn transaction_size(writes: &[PlannedWrite]) -> usize {
    let effects: Vec<Effect> = writes.iter().filter_map(|w| w.effect).collect();
    let stats = usize::from(effects.iter().any(Effect::counts_change));
    let removed: BTreeSet<i64> = effects.iter().filter_map(|e| e.tombstone_removed).collect();
    let added = usize::from(effects.iter().any(|e| e.tombstone_added));
    writes.len() + stats + removed.len() + added
}

/// The writes that stamp a committed chunk's items again: same content, the next version,
/// conditional on the version just written. Touches and deletes need no second stamp.
fn restamps(chunk: &[PlannedWrite], stamped_at: Timestamp) -> Vec<PlannedWrite> {
    chunk
        .iter()
        .filter(|w| matches!(w.action, Action::Put(_)))
        .map(|write| {
            let mut again = write.clone();
            again.expected_ver = Some(write.new_ver);
            again.new_ver = write.new_ver + 1;
            again.effect = write.effect.filter(|e| e.tombstone_added).map(|e| Effect {
                listed: 0,
                active: 0,
                live: 0,
                tombstone_removed: Some(epoch_day(stamped_at)),
                ..e
            });
            again
        })
        .collect()
}

/// The transaction items of one chunk stamped at `at`.
fn transaction(
    table: &str,
    tenant_id: &str,
    chunk: &[PlannedWrite],
    at: Timestamp,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut items: Vec<TransactWriteItem> =
        chunk.iter().map(|write| transact_item(table, write, at)).collect::<Result<_, _>>()?;
    let effects: Vec<Effect> = chunk.iter().filter_map(|w| w.effect).collect();
    if let Some(update) = counters_update(table, tenant_id, &effects)? {
        items.push(update);
    }
    items.extend(bucket_updates(table, tenant_id, &effects, at)?);
    Ok(items)
}

fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Request(e.to_string()))
}

fn transact_item(table: &str, write: &PlannedWrite, at: Timestamp) -> Result<TransactWriteItem, StoreError> {
    let condition = match write.expected_ver {
        Some(_) => "#ver = :ver",
        None => "attribute_not_exists(#pk)",
    };
    let expected = write.expected_ver.map(|ver| AttributeValue::N(ver.to_string()));
    let item = match &write.action {
        Action::Put(stamp) => {
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(stamp.item_at(at, write.new_ver)?))
                .condition_expression(condition);
            let put = match expected {
                Some(ver) => put.expression_attribute_names("#ver", "ver").expression_attribute_values(":ver", ver),
                None => put.expression_attribute_names("#pk", attr::PK),
            };
            TransactWriteItem::builder().put(built(put.build())?).build()
        }
        Action::Touch | Action::SetSource(_) => {
            let update = Update::builder()
                .table_name(table)
                .key(attr::PK, AttributeValue::S(write.pk.clone()))
                .key(attr::SK, AttributeValue::S(write.sk.clone()))
                .expression_attribute_names("#ver", "ver")
                .expression_attribute_values(":one", AttributeValue::N("1".into()));
            let update = match write.action {
                Action::SetSource(version) => update
                    .update_expression("SET #sv = :sv ADD #ver :one")
                    .expression_attribute_names("#sv", attr::SV)
                    .expression_attribute_values(":sv", AttributeValue::N(version.to_string())),
                _ => update.update_expression("ADD #ver :one"),
            };
            let update = match expected {
                Some(ver) => update.condition_expression("#ver = :ver").expression_attribute_values(":ver", ver),
                None => update.condition_expression("attribute_not_exists(#ver)"),
            };
            TransactWriteItem::builder().update(built(update.build())?).build()
        }
        Action::Delete => {
            let delete = Delete::builder()
                .table_name(table)
                .key(attr::PK, AttributeValue::S(write.pk.clone()))
                .key(attr::SK, AttributeValue::S(write.sk.clone()))
                .condition_expression(condition);
            let delete = match expected {
                Some(ver) => delete.expression_attribute_names("#ver", "ver").expression_attribute_values(":ver", ver),
                None => delete.expression_attribute_names("#pk", attr::PK),
            };
            TransactWriteItem::builder().delete(built(delete.build())?).build()
        }
    };
    Ok(item)
}

/// `ADD` of every counter delta and of the counters' version, when any write changes what
/// an item counts for (even if the changes cancel out, so validation notices the write).
fn counters_update(table: &str, tenant_id: &str, effects: &[Effect]) -> Result<Option<TransactWriteItem>, StoreError> {
    if !effects.iter().any(Effect::counts_change) {
        return Ok(None);
    }
    let mut sums: BTreeMap<Collection, [i64; 3]> = BTreeMap::new();
    for effect in effects {
        let sum = sums.entry(effect.collection).or_default();
        sum[0] += effect.listed;
        sum[1] += effect.active;
        sum[2] += effect.live;
    }
    let mut update = Update::builder()
        .table_name(table)
        .key(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
        .key(attr::SK, AttributeValue::S(STATS_SK.to_owned()))
        .expression_attribute_names("#ver", COUNTERS_VERSION)
        .expression_attribute_values(":one", AttributeValue::N("1".into()));
    let mut clauses = vec!["#ver :one".to_owned()];
    for (n, (collection, deltas)) in sums.iter().enumerate() {
        for (m, (name, delta)) in Counters::attribute_names(*collection).into_iter().zip(deltas).enumerate() {
            if *delta == 0 {
                continue;
            }
            let (placeholder, value) = (format!("#c{n}_{m}"), format!(":c{n}_{m}"));
            clauses.push(format!("{placeholder} {value}"));
            update = update
                .expression_attribute_names(&placeholder, name)
                .expression_attribute_values(&value, AttributeValue::N(delta.to_string()));
        }
    }
    let update = built(update.update_expression(format!("ADD {}", clauses.join(", "))).build())?;
    Ok(Some(TransactWriteItem::builder().update(update).build()))
}

/// One update per tombstone bucket whose count changes: `ADD` the per-collection deltas and
/// set the bucket's expiry, which equals that of the tombstones it counts.
fn bucket_updates(
    table: &str,
    tenant_id: &str,
    effects: &[Effect],
    at: Timestamp,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut deltas: BTreeMap<i64, BTreeMap<Collection, i64>> = BTreeMap::new();
    for effect in effects {
        if let Some(day) = effect.tombstone_removed {
            *deltas.entry(day).or_default().entry(effect.collection).or_default() -= 1;
        }
        if effect.tombstone_added {
            *deltas.entry(epoch_day(at)).or_default().entry(effect.collection).or_default() += 1;
        }
    }
    let mut updates = Vec::new();
    for (day, per_collection) in deltas {
        let changed: Vec<(Collection, i64)> = per_collection.into_iter().filter(|(_, d)| *d != 0).collect();
        if changed.is_empty() {
            continue;
        }
        let mut update = Update::builder()
            .table_name(table)
            .key(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
            .key(attr::SK, AttributeValue::S(tomb_bucket_sk(day)))
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_values(":ttl", AttributeValue::N(tombstone_expiry(day).to_string()));
        let mut clauses = Vec::new();
        for (n, (collection, delta)) in changed.iter().enumerate() {
            clauses.push(format!("#b{n} :b{n}"));
            update = update
                .expression_attribute_names(format!("#b{n}"), collection.name())
                .expression_attribute_values(format!(":b{n}"), AttributeValue::N(delta.to_string()));
        }
        let expression = format!("ADD {} SET #ttl = :ttl", clauses.join(", "));
        updates.push(TransactWriteItem::builder().update(built(update.update_expression(expression).build())?).build());
    }
    Ok(updates)
}

/// Whether a cancelled transaction failed only on conditions or conflicts (worth planning
/// again) rather than on something a retry cannot fix.
fn is_retryable_cancel<R>(error: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = error.as_service_error() else {
        return false;
    };
    cancel.cancellation_reasons().iter().all(|reason| {
        matches!(reason.code(), None | Some("None") | Some("ConditionalCheckFailed") | Some("TransactionConflict"))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::writer::plan::Stamp;

    struct Nothing;
    impl Stamp for Nothing {
        fn item_at(&self, _at: Timestamp, _ver: u64) -> Result<crate::store::item::RawItem, StoreError> {
            Ok(Default::default())
        }
    }

    fn write(n: usize, stage: Stage, tombstone_removed: Option<i64>) -> PlannedWrite {
        PlannedWrite {
            pk: "TENANT#t".into(),
            sk: format!("MEMBER#{n}"),
            action: Action::Put(Arc::new(Nothing)),
            expected_ver: Some(1),
            new_ver: 2,
            effect: Some(Effect {
                collection: Collection::Memberships,
                listed: -1,
                active: -1,
                live: -1,
                tombstone_removed,
                tombstone_added: true,
            }),
            stage,
        }
    }

    #[test]
    fn the_core_stage_commits_last_and_whole() {
        let mut writes: Vec<PlannedWrite> = (0..3).map(|n| write(n, Stage::Core, None)).collect();
        writes.extend((3..300).map(|n| write(n, Stage::Dependent, None)));
        writes.push(write(300, Stage::Early, None));
        let chunks = chunks(writes);
        assert!(chunks.iter().all(|c| transaction_size(c) <= TRANSACTION_LIMIT));
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 301);
        assert_eq!(chunks[0][0].stage, Stage::Early);
        let last = chunks.last().unwrap();
        assert_eq!(last.iter().filter(|w| w.stage == Stage::Core).count(), 3);
        assert!(chunks[..chunks.len() - 1].iter().flatten().all(|w| w.stage != Stage::Core));
    }

    #[test]
    fn buckets_count_against_the_transaction_limit() {
        let writes: Vec<PlannedWrite> = (0..150).map(|n| write(n, Stage::Dependent, Some(n as i64 % 30))).collect();
        for chunk in chunks(writes) {
            assert!(transaction_size(&chunk) <= TRANSACTION_LIMIT, "{}", transaction_size(&chunk));
        }
    }

    #[test]
    fn restamps_move_tombstones_to_the_new_days_bucket_only() {
        let at = Timestamp::parse("2026-03-15T10:00:00Z").unwrap();
        let again = restamps(&[write(1, Stage::Core, Some(3))], at);
        let effect = again[0].effect.unwrap();
        assert_eq!((effect.listed, effect.active, effect.live), (0, 0, 0));
        assert_eq!(effect.tombstone_removed, Some(epoch_day(at)));
        assert_eq!((again[0].expected_ver, again[0].new_ver), (Some(2), 3));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn stage() -> impl Strategy<Value = Stage> {
            prop::sample::select(vec![Stage::Early, Stage::Dependent, Stage::Core])
        }

        proptest! {
            #[test]
            fn chunks_keep_stage_order_and_commit_the_core_last_and_whole(
                plan in prop::collection::vec((stage(), proptest::option::of(0i64..40)), 0..400)
            ) {
                let core_writes = plan.iter().filter(|(s, _)| *s == Stage::Core).count();
                prop_assume!(core_writes <= 40);
                let writes: Vec<PlannedWrite> =
                    plan.iter().enumerate().map(|(n, (stage, day))| write(n, *stage, *day)).collect();
                let chunks = chunks(writes);
                prop_assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), plan.len());
                prop_assert!(chunks.iter().all(|c| !c.is_empty() && transaction_size(c) <= TRANSACTION_LIMIT));
                let stages: Vec<Stage> = chunks.iter().flatten().map(|w| w.stage).collect();
                prop_assert!(stages.windows(2).all(|w| w[0] <= w[1]));
                if core_writes > 0 {
                    let last = chunks.last().map(|c| c.iter().filter(|w| w.stage == Stage::Core).count());
                    prop_assert_eq!(last, Some(core_writes));
                }
            }
        }
    }
}
