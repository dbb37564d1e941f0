//! The largest tenant: bytes per record type with their index copies, measured on a seeded
//! tenant, and the item collection that DynamoDB Local reports (or does not) for a write.
//!
//! Every tenant is one item collection (`PK = TENANT#<id>`) and may not pass 10 GB with all
//! its local-index entries (`shared::store::size`). The bench loads the scale tenant, walks its
//! partition and sums each item's size by DynamoDB's rules, then deletes some users through
//! the writer and measures the tombstones their deletion left, so `docs/data-model.md` can
//! say how many users a tenant may have at a given churn.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnItemCollectionMetrics, TransactWriteItem};
use shared::seed::ScaleSpec;
use shared::store::item::{attr, RawItem};
use shared::store::keys::tenant_pk;
use shared::store::reader::{stream_range, SortRange};
use shared::store::size::{collection_bytes, collection_size_gb, index_bytes, item_bytes, COLLECTION_LIMIT_BYTES};
use shared::store::writer::{Clock, Writer};
use shared::store::{bulk, Store};

use crate::setup::{self, fresh_table};

/// Users deleted to measure tombstones (each takes its memberships and role assignments).
/// A hundred give the mean of one shape; each deletion's cascade queries the partition's
/// indexes, which DynamoDB Local answers slowly in a 200,000-item partition (500 did not
/// finish in the time the 50,000-user run had).
const DELETED_USERS: usize = 100;
/// Days a tombstone is kept at most (35 days after the end of its day).
const TOMBSTONE_DAYS: f64 = 36.0;

/// Sizes of one kind of item.
#[derive(Debug, Default, Clone, Copy)]
struct Kind {
    count: u64,
    base: u64,
    index: u64,
    largest: u64,
}

impl Kind {
    fn add(&mut self, item: &RawItem) {
        self.count += 1;
        self.base += item_bytes(item);
        self.index += index_bytes(item);
        self.largest = self.largest.max(collection_bytes(item));
    }

    fn mean(&self) -> f64 {
        match self.count {
            0 => 0.0,
            n => (self.base + self.index) as f64 / n as f64,
        }
    }
}

/// Loads a tenant of `scale`, measures it, and prints the tables.
pub async fn run(scale: ScaleSpec) -> anyhow::Result<()> {
    println!(
        "\n## The largest tenant\n\nTenant: {} users, {} entities, {} role assignments, {} memberships (the seed's generator).\n",
        scale.users, scale.entities, scale.role_assignments, scale.memberships
    );
    let data = setup::generate(Some(scale));
    let tenant = data.tenants.last().expect("the scale tenant").clone();
    let tenant_id = tenant.tenant.tenant_id.clone();
    let (_, store) = fresh_table("size").await?;
    let at = shared::seed::seed_clock();
    bulk::load_platform(&store, &data.platform, at).await?;
    bulk::load_tenant(&store, &tenant, at, &|_| {}).await?;

    let live = measure(&store, &tenant_id, false).await?;
    print_kinds("Live items", &live);

    let deleted: Vec<String> = tenant.users.iter().take(DELETED_USERS).map(|user| user.user_id.clone()).collect();
    let writer = Writer::new(store.clone(), Clock::System);
    let started = Instant::now();
    // One at a time: every deletion updates the tenant's counters, so parallel ones conflict.
    for user_id in &deleted {
        writer.delete_user(&tenant_id, user_id).await?;
    }
    println!("\nDeleted {} users through the writer in {:.1} s.", deleted.len(), started.elapsed().as_secs_f64());
    let tombstones = measure(&store, &tenant_id, true).await?;
    print_kinds("Tombstones their deletion left (with the day's tombstone bucket)", &tombstones);

    print_largest(&live, &tombstones, &scale);
    report_local_metrics(&store).await
}

/// Sizes per sort-key family of the tenant's partition: live items, or only tombstones.
async fn measure(store: &Store, tenant_id: &str, tombstones: bool) -> anyhow::Result<BTreeMap<String, Kind>> {
    let mut kinds: BTreeMap<String, Kind> = BTreeMap::new();
    // Every sort key is printable ASCII; DynamoDB refuses an empty `begins_with` prefix. One
    // range per first character: DynamoDB Local pages a range slower the further into a
    // large partition it is, and one range over 200,000 items ran past the 30 s attempt
    // timeout, where ranges of a collection's size do not.
    for first in '!'..='~' {
        let prefix = first.to_string();
        stream_range(store, &tenant_pk(tenant_id), SortRange::Prefix(&prefix), &[], |page| {
            for item in page {
                let is_tombstone = matches!(item.get("deleted"), Some(AttributeValue::Bool(true)));
                let family = family(&item);
                let bucket = family == "TOMBS";
                if is_tombstone == tombstones || (tombstones && bucket) {
                    kinds.entry(family).or_default().add(&item);
                }
            }
            Ok(())
        })
        .await?;
    }
    Ok(kinds)
}

/// The sort key up to its first `#` (`USER`, `RA`, ...), or the whole key (`PROFILE`).
fn family(item: &RawItem) -> String {
    let sort_key = item.get(attr::SK).and_then(|value| value.as_s().ok()).map(String::as_str).unwrap_or("?");
    sort_key.split('#').next().unwrap_or(sort_key).to_owned()
}

fn print_kinds(title: &str, kinds: &BTreeMap<String, Kind>) {
    println!("\n{title}:\n");
    println!("| sort key | items | base bytes, mean | index bytes, mean | collection bytes, mean | largest item with its index entries |");
    println!("|---|---|---|---|---|---|");
    let mut total = 0;
    for (family, kind) in kinds {
        let n = kind.count.max(1) as f64;
        println!(
            "| `{family}` | {} | {:.0} | {:.0} | {:.0} | {} |",
            kind.count,
            kind.base as f64 / n,
            kind.index as f64 / n,
            kind.mean(),
            kind.largest
        );
        total += kind.base + kind.index;
    }
    println!("\nTotal: {:.1} MB.", total as f64 / 1e6);
}

/// Bytes per user of this tenant's shape, live and as tombstones, and the users that fit in
/// the limit at a few daily churn rates.
fn print_largest(live: &BTreeMap<String, Kind>, tombstones: &BTreeMap<String, Kind>, scale: &ScaleSpec) {
    let users = scale.users.max(1) as f64;
    let live_total: u64 = live.values().map(|kind| kind.base + kind.index).sum();
    let per_user = live_total as f64 / users;
    let deleted_total: u64 = tombstones.values().map(|kind| kind.base + kind.index).sum();
    let per_deleted_user = deleted_total as f64 / DELETED_USERS.min(scale.users).max(1) as f64;
    println!("\nPer user of this shape (its share of every live item): {per_user:.0} bytes.");
    println!("Per deleted user (its tombstone and its memberships' and assignments'): {per_deleted_user:.0} bytes.\n");
    println!("| users deleted per day | tombstones kept (36 days) per live user, bytes | users in 10 GB | users at the alarm (80 %) |");
    println!("|---|---|---|---|");
    let limit = COLLECTION_LIMIT_BYTES as f64;
    for churn in [0.0, 0.001, 0.01, 0.05] {
        let kept = churn * TOMBSTONE_DAYS * per_deleted_user;
        let fit = limit / (per_user + kept);
        println!("| {:.1} % | {kept:.0} | {:.0} | {:.0} |", churn * 100.0, fit, fit * 0.8);
    }
}

/// Whether DynamoDB Local answers a transactional write with `ItemCollectionMetrics`, which
/// the writer turns into the alarm's metric.
async fn report_local_metrics(store: &Store) -> anyhow::Result<()> {
    let put = Put::builder()
        .table_name(store.table())
        .item(attr::PK, AttributeValue::S("TENANT#size-probe".into()))
        .item(attr::SK, AttributeValue::S("PROBE".into()))
        .build()?;
    let output = store
        .client()
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
        .send()
        .await?;
    let sizes = output.item_collection_metrics().map(collection_size_gb).unwrap_or_default();
    match sizes.is_empty() {
        true => println!(
            "\nDynamoDB Local returns no `ItemCollectionMetrics` for a transactional write, so the sizes above are computed from the items (`shared::store::size`)."
        ),
        false => println!("\nDynamoDB Local's `ItemCollectionMetrics` for a probe write: {sizes:?}."),
    }
    Ok(())
}
