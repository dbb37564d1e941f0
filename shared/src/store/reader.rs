//! Point reads and small lookups: tenants, Kinde org aliases, counters, the app catalog,
//! credit configurations and entitlements. Paged collection reads live in
//! [`super::query`].

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;

use super::error::sdk;
use super::item::{attr, CollectionRecord, NoDerived, RawItem, Stored};
use super::keys::{
    alias_pk, app_sk, epoch_day, tenant_pk, tomb_bucket_sk, Collection, ACTIVE_TENANTS_PK, ALIAS_SK, CATALOG_PK,
    GLOBAL_PK, PROFILE_SK, STATS_SK, TOMBSTONE_RETENTION_DAYS,
};
use super::query::{apply_filters, Filter};
use super::table::ACTIVE_TENANTS;
use super::{Store, StoreError};
use crate::model::{CatalogApp, CreditConfig, Entitlement, KindeOrgAlias, Tenant};
use crate::time::Timestamp;

/// A stored tenant profile.
pub type StoredTenant = Stored<Tenant, NoDerived>;

/// Per-collection record counts kept by the writer: what `pagination.total` reports for a
/// default pull (`active`), for `includeInactive=true` (`listed`), and, with the retained
/// tombstones, for the initial load (`live`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionCounts {
    /// Live records that are listed (all of them, active or not).
    pub listed: i64,
    /// Listed records that are active.
    pub active: i64,
    /// Live records, listed or not (an assignment whose user is missing is live but not
    /// listed; incremental pulls report it as a tombstone).
    pub live: i64,
}

/// The counters item of a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters(pub BTreeMap<Collection, CollectionCounts>);

/// Name of the counters item's version attribute: every write that changes what an item
/// counts for adds 1, so sync validation can tell whether the counters moved while it read.
pub const COUNTERS_VERSION: &str = "ver";

impl Counters {
    /// The counts of one collection (zero when never written).
    pub fn get(&self, collection: Collection) -> CollectionCounts {
        self.0.get(&collection).copied().unwrap_or_default()
    }

    /// Live records over every collection: the tenant's size as the sync worker's one-task
    /// limit measures it (a negative counter, never written by a correct writer, counts 0).
    pub fn live_items(&self) -> u64 {
        Collection::ALL.into_iter().map(|c| u64::try_from(self.get(c).live).unwrap_or(0)).sum()
    }

    /// Counter attribute names of a collection: `<name>Listed`, `<name>Active`, `<name>Live`.
    pub fn attribute_names(collection: Collection) -> [String; 3] {
        let name = collection.name();
        [format!("{name}Listed"), format!("{name}Active"), format!("{name}Live")]
    }

    fn from_item(item: &RawItem) -> Self {
        let counts = Collection::ALL
            .into_iter()
            .map(|collection| {
                let [listed, active, live] = Self::attribute_names(collection);
                let counts = CollectionCounts {
                    listed: number(item, &listed).unwrap_or_default(),
                    active: number(item, &active).unwrap_or_default(),
                    live: number(item, &live).unwrap_or_default(),
                };
                (collection, counts)
            })
            .collect();
        Self(counts)
    }
}

fn number(item: &RawItem, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<i64>().ok(),
        _ => None,
    }
}

/// Reads one item by key with a strongly consistent read.
pub async fn get_item(store: &Store, pk: String, sk: &str) -> Result<Option<RawItem>, StoreError> {
    let output = store
        .client()
        .get_item()
        .table_name(store.table())
        .key(attr::PK, AttributeValue::S(pk))
        .key(attr::SK, AttributeValue::S(sk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk)?;
    Ok(output.item)
}

/// Reads and decodes one stored item.
pub async fn get_stored<R: DeserializeOwned, D: DeserializeOwned + Default>(
    store: &Store,
    pk: String,
    sk: &str,
) -> Result<Option<Stored<R, D>>, StoreError> {
    get_item(store, pk, sk).await?.map(Stored::from_item).transpose()
}

/// Reads one collection record (live or tombstone) of a tenant by its base sort key.
pub async fn get_record<R: CollectionRecord>(
    store: &Store,
    tenant_id: &str,
    sort_key: &str,
) -> Result<Option<Stored<R, R::Derived>>, StoreError> {
    get_stored(store, tenant_pk(tenant_id), sort_key).await
}

/// The tenant with this `tenantId`, if it exists.
pub async fn tenant(store: &Store, tenant_id: &str) -> Result<Option<StoredTenant>, StoreError> {
    get_stored(store, tenant_pk(tenant_id), PROFILE_SK).await
}

/// The tenant id whose Kinde org code is `kinde_org_id` (one `GetItem` on the alias).
pub async fn tenant_id_for_org(store: &Store, kinde_org_id: &str) -> Result<Option<String>, StoreError> {
    let alias: Option<Stored<KindeOrgAlias, NoDerived>> = get_stored(store, alias_pk(kinde_org_id), ALIAS_SK).await?;
    Ok(alias.and_then(|a| a.rec).map(|a| a.tenant_id))
}

/// The tenant's counters.
pub async fn counters(store: &Store, tenant_id: &str) -> Result<Counters, StoreError> {
    Ok(counters_with_version(store, tenant_id).await?.0)
}

/// The tenant's counters and their version (`None` when no counter was ever written).
pub async fn counters_with_version(store: &Store, tenant_id: &str) -> Result<(Counters, Option<u64>), StoreError> {
    let item = get_item(store, tenant_pk(tenant_id), STATS_SK).await?;
    let version = item.as_ref().and_then(|item| number(item, COUNTERS_VERSION)).map(|v| v.max(0) as u64);
    Ok((item.as_ref().map(Counters::from_item).unwrap_or_default(), version))
}

/// Tombstones still retained at `now`, per collection, from the tenant's daily tombstone
/// buckets (one `Query` over at most 37 small items). Tombstones of one day expire together
/// with their bucket, so this equals the number of tombstones an initial load returns.
pub async fn retained_tombstones(
    store: &Store,
    tenant_id: &str,
    now: Timestamp,
) -> Result<BTreeMap<Collection, i64>, StoreError> {
    let first = epoch_day(now) - TOMBSTONE_RETENTION_DAYS - 1;
    let items = query_range(store, tenant_pk(tenant_id), &tomb_bucket_sk(first), TOMB_BUCKET_END).await?;
    let mut retained = BTreeMap::new();
    for item in items {
        if number(&item, attr::TTL).is_none_or(|expiry| expiry <= now.epoch_seconds()) {
            continue;
        }
        for collection in Collection::ALL {
            *retained.entry(collection).or_default() += number(&item, collection.name()).unwrap_or_default();
        }
    }
    Ok(retained)
}

/// Upper end of the tombstone bucket range (`~` sorts above every date digit).
const TOMB_BUCKET_END: &str = "TOMBS#~";

/// Every item of a partition with `from <= SK <= to` (all pages, strongly consistent).
async fn query_range(store: &Store, pk: String, from: &str, to: &str) -> Result<Vec<RawItem>, StoreError> {
    let mut items = Vec::new();
    stream_range(store, &pk, SortRange::Between(from, to), &[], |page| {
        items.extend(page);
        Ok(())
    })
    .await?;
    Ok(items)
}

/// Every app of the catalog, by app code.
pub async fn catalog(store: &Store) -> Result<Vec<CatalogApp>, StoreError> {
    let items = query_partition(store, CATALOG_PK.to_owned(), "APP#", &[]).await?;
    decode_records(items)
}

/// One app of the catalog.
pub async fn catalog_app(store: &Store, app_code: &str) -> Result<Option<CatalogApp>, StoreError> {
    let stored: Option<Stored<CatalogApp, NoDerived>> =
        get_stored(store, CATALOG_PK.to_owned(), &app_sk(app_code)).await?;
    Ok(stored.and_then(|s| s.rec))
}

/// A tenant's entitlement to an app.
pub async fn entitlement(store: &Store, tenant_id: &str, app_code: &str) -> Result<Option<Entitlement>, StoreError> {
    let stored: Option<Stored<Entitlement, NoDerived>> =
        get_stored(store, tenant_pk(tenant_id), &app_sk(app_code)).await?;
    Ok(stored.and_then(|s| s.rec))
}

/// Where a credit configuration applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigScope<'a> {
    /// One tenant's overrides.
    Tenant(&'a str),
    /// Platform-wide configurations.
    Global,
}

impl ConfigScope<'_> {
    /// The partition holding the scope's configurations.
    pub fn partition(self) -> String {
        match self {
            Self::Tenant(tenant_id) => tenant_pk(tenant_id),
            Self::Global => GLOBAL_PK.to_owned(),
        }
    }
}

/// Credit configurations (with their change time) whose operation code starts with the
/// literal `<appCode>.`, active or not, by operation code. One `Query` on a key prefix, so
/// `_` and `%` have no special meaning.
pub async fn credit_configs(
    store: &Store,
    scope: ConfigScope<'_>,
    app_code: &str,
) -> Result<Vec<Stored<CreditConfig, NoDerived>>, StoreError> {
    let items = query_partition(store, scope.partition(), &format!("CCFG#{app_code}."), &[]).await?;
    items.into_iter().map(Stored::from_item).collect()
}

/// One page of the ids of active tenants (sparse `activeTenants` index), for the scheduled
/// sync. Returns the ids and the id to continue after.
pub async fn active_tenant_ids(
    store: &Store,
    after: Option<&str>,
    limit: i32,
) -> Result<(Vec<String>, Option<String>), StoreError> {
    let start = after.map(|tenant_id| {
        HashMap::from([
            (attr::ATPK.to_owned(), AttributeValue::S(ACTIVE_TENANTS_PK.to_owned())),
            (attr::ATSK.to_owned(), AttributeValue::S(tenant_id.to_owned())),
            (attr::PK.to_owned(), AttributeValue::S(tenant_pk(tenant_id))),
            (attr::SK.to_owned(), AttributeValue::S(PROFILE_SK.to_owned())),
        ])
    });
    let output = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(ACTIVE_TENANTS)
        .key_condition_expression("#p = :p")
        .expression_attribute_names("#p", attr::ATPK)
        .expression_attribute_values(":p", AttributeValue::S(ACTIVE_TENANTS_PK.to_owned()))
        .limit(limit)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(sdk)?;
    let id_of = |item: &RawItem| match item.get(attr::ATSK) {
        Some(AttributeValue::S(id)) => Some(id.clone()),
        _ => None,
    };
    let ids: Vec<String> = output.items().iter().filter_map(id_of).collect();
    let next = output.last_evaluated_key().and_then(id_of);
    Ok((ids, next))
}

/// Every item of a partition whose sort key starts with `prefix` and that passes `filters`
/// (all pages, strongly consistent). Used on write paths and for small platform data.
pub async fn query_partition(
    store: &Store,
    pk: String,
    prefix: &str,
    filters: &[Filter],
) -> Result<Vec<RawItem>, StoreError> {
    let mut items = Vec::new();
    stream_prefix(store, &pk, prefix, filters, |page| {
        items.extend(page);
        Ok(())
    })
    .await?;
    Ok(items)
}

/// Streams every item of a partition under `prefix` that passes `filters`, one DynamoDB page
/// at a time, handing each page to `visit`: memory stays bounded by one page however large
/// the partition.
pub async fn stream_prefix(
    store: &Store,
    pk: &str,
    prefix: &str,
    filters: &[Filter],
    visit: impl FnMut(Vec<RawItem>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    stream_range(store, pk, SortRange::Prefix(prefix), filters, visit).await
}

/// Which sort keys of a partition a stream covers.
#[derive(Debug, Clone, Copy)]
pub enum SortRange<'a> {
    /// Sort keys starting with this prefix.
    Prefix(&'a str),
    /// Sort keys from the first to the second, both included.
    Between(&'a str, &'a str),
}

/// [`stream_prefix`] over any [`SortRange`].
pub async fn stream_range(
    store: &Store,
    pk: &str,
    range: SortRange<'_>,
    filters: &[Filter],
    mut visit: impl FnMut(Vec<RawItem>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut start = None;
    loop {
        let query = store
            .client()
            .query()
            .table_name(store.table())
            .consistent_read(true)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .set_exclusive_start_key(start);
        let query = match range {
            SortRange::Prefix(prefix) => query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned())),
            SortRange::Between(from, to) => query
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
                .expression_attribute_values(":to", AttributeValue::S(to.to_owned())),
        };
        let output = apply_filters(query, filters).send().await.map_err(sdk)?;
        visit(output.items.unwrap_or_default())?;
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return Ok(()),
        }
    }
}

fn decode_records<R: DeserializeOwned>(items: Vec<RawItem>) -> Result<Vec<R>, StoreError> {
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        let stored: Stored<R, NoDerived> = Stored::from_item(item)?;
        records.extend(stored.rec);
    }
    Ok(records)
}
