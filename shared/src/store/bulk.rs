//! Bulk loading of whole tenants (the `seed` command and benchmarks).
//!
//! Writing 50,000 users one transaction at a time would take far too long, so a whole
//! tenant's data set is derived in memory with the same [`super::derive`] functions and item
//! builders the writer uses, and written with `BatchWriteItem` (25 items a call, several
//! calls in flight, unprocessed items retried with backoff). The counters item is computed
//! from the same items. This is only correct for a tenant that has no items yet, which is
//! why [`load_tenant`] first claims the tenant through the writer (its profile and Kinde org
//! alias, in one conditional transaction with the writer's namespace checks) and refuses a
//! tenant that already exists or an org code another tenant owns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::stream::{self, TryStreamExt};

use super::derive;
use super::error::sdk;
use super::item::{counted, live_item, CollectionRecord, RawItem, Stored};
use super::keys::{
    alias_pk, app_sk, credit_config_sk, tenant_pk, Collection, ACTIVE_TENANTS_PK, ALIAS_SK, CATALOG_PK, GLOBAL_PK,
    PROFILE_SK,
};
use super::loading;
use super::reader::{self, CollectionCounts, Counters};
use super::writer::{counters_item, Clock, SourceVersion, WriteOutcome, Writer};
use super::{Store, StoreError};
use crate::model::{
    CatalogApp, CreditBalance, CreditConfig, Entitlement, Entity, EntityDerived, KindeOrgAlias, Membership, Role,
    RoleAssignment, Tenant, User,
};
use crate::time::Timestamp;

const BATCH: usize = 25;
const IN_FLIGHT: usize = 8;

/// Everything one tenant owns.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantDataset {
    /// The tenant.
    pub tenant: Tenant,
    /// Its users.
    pub users: Vec<User>,
    /// Its organization entities.
    pub entities: Vec<Entity>,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Its role assignments.
    pub role_assignments: Vec<RoleAssignment>,
    /// Its memberships.
    pub memberships: Vec<Membership>,
    /// Its credit balances.
    pub credit_balances: Vec<CreditBalance>,
    /// Its credit configuration overrides (`tenantId` set).
    pub credit_configs: Vec<CreditConfig>,
    /// Its app entitlements.
    pub entitlements: Vec<Entitlement>,
    /// The platform's source version of records that came with one (`import --bulk` of
    /// change lines), by the record's sort key (`USER#<id>`, `PROFILE`, ...): stored with the
    /// item, so a later, older change is `stale`, as if the writer had written it. Empty for
    /// generated data.
    pub source_versions: HashMap<String, u64>,
}

impl TenantDataset {
    /// A tenant that owns nothing yet, for data sets built up record by record.
    pub fn empty(tenant: Tenant) -> Self {
        Self {
            tenant,
            users: Vec::new(),
            entities: Vec::new(),
            roles: Vec::new(),
            role_assignments: Vec::new(),
            memberships: Vec::new(),
            credit_balances: Vec::new(),
            credit_configs: Vec::new(),
            entitlements: Vec::new(),
            source_versions: HashMap::new(),
        }
    }
}

/// Platform-wide data: the app catalog and the global credit configurations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlatformDataset {
    /// The catalog's apps.
    pub catalog: Vec<CatalogApp>,
    /// Global credit configurations (`tenantId` absent).
    pub global_credit_configs: Vec<CreditConfig>,
}

/// What a bulk load wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Items written.
    pub items: usize,
}

/// Builds every item of a tenant, including its counters, as the writer would have
/// written them one by one at instant `at`.
pub fn tenant_items(data: &TenantDataset, at: Timestamp) -> Result<Vec<RawItem>, StoreError> {
    let t = data.tenant.tenant_id.as_str();
    let users: HashMap<&str, &User> = data.users.iter().map(|u| (u.user_id.as_str(), u)).collect();
    let entities: HashMap<&str, &Entity> = data.entities.iter().map(|e| (e.entity_id.as_str(), e)).collect();
    let roles: HashSet<&str> = data.roles.iter().map(|r| r.role_id.as_str()).collect();
    let mut memberships_by_user: HashMap<&str, Vec<&Membership>> = HashMap::new();
    for m in &data.memberships {
        memberships_by_user.entry(m.user_id.as_str()).or_default().push(m);
    }
    let children = derive::children(&data.entities);

    let mut items = Vec::new();
    let mut counters = Counters::default();
    let mut add = |collection_items: Vec<RawItem>, collection: Collection, counts: CollectionCounts| {
        items.extend(collection_items);
        counters.0.insert(collection, counts);
    };

    let sv = &data.source_versions;
    let (built, counts) = build(t, at, sv, &data.users, |u| {
        derive::user(u, memberships_by_user.get(u.user_id.as_str()).into_iter().flatten().copied())
    })?;
    add(built, Collection::Users, counts);
    let (built, counts) = build(t, at, sv, &data.entities, |e| EntityDerived {
        child_ids: children.get(&e.entity_id).cloned().unwrap_or_default(),
    })?;
    add(built, Collection::Entities, counts);
    let (built, counts) = build(t, at, sv, &data.roles, derive::role)?;
    add(built, Collection::Roles, counts);
    let (built, counts) = build(t, at, sv, &data.role_assignments, |a| {
        derive::role_assignment(users.contains_key(a.user_id.as_str()), roles.contains(a.role_id.as_str()))
    })?;
    add(built, Collection::RoleAssignments, counts);
    let (built, counts) = build(t, at, sv, &data.memberships, |m| {
        derive::membership(users.get(m.user_id.as_str()).copied(), entities.get(m.entity_id.as_str()).copied())
    })?;
    add(built, Collection::Memberships, counts);
    let (built, counts) = build(t, at, sv, &data.credit_balances, |b| {
        derive::credit_balance(entities.get(b.entity_id.as_str()).copied())
    })?;
    add(built, Collection::CreditBalances, counts);

    items.extend(claim_items(&data.tenant, at)?);
    for config in &data.credit_configs {
        let item = Stored::plain(tenant_pk(t), credit_config_sk(&config.operation_code), config.clone(), at, 1);
        items.push(with_version(item, sv).to_item()?);
    }
    for entitlement in &data.entitlements {
        let item = Stored::plain(tenant_pk(t), app_sk(&entitlement.app_code), entitlement.clone(), at, 1);
        items.push(with_version(item, sv).to_item()?);
    }
    items.push(counters_item(t, &counters, 1));
    Ok(items)
}

/// The tenant's profile and Kinde org alias, as the writer's `put_tenant` writes them.
fn claim_items(tenant: &Tenant, at: Timestamp) -> Result<Vec<RawItem>, StoreError> {
    let t = tenant.tenant_id.as_str();
    let mut profile = Stored::plain(tenant_pk(t), PROFILE_SK.to_owned(), tenant.clone(), at, 1);
    if tenant.active() {
        profile.atpk = Some(ACTIVE_TENANTS_PK.to_owned());
        profile.atsk = Some(t.to_owned());
    }
    let alias = KindeOrgAlias { kinde_org_id: tenant.kinde_org_id.clone(), tenant_id: t.to_owned() };
    Ok(vec![
        profile.to_item()?,
        Stored::plain(alias_pk(&alias.kinde_org_id), ALIAS_SK.to_owned(), alias, at, 1).to_item()?,
    ])
}

/// `item` with the source version `versions` holds for its sort key.
fn with_version<R, D>(mut item: Stored<R, D>, versions: &HashMap<String, u64>) -> Stored<R, D> {
    item.sv = versions.get(&item.sk).copied();
    item
}

/// Builds the items of one collection and counts them as the writer's counters would.
fn build<R: CollectionRecord>(
    tenant_id: &str,
    at: Timestamp,
    versions: &HashMap<String, u64>,
    records: &[R],
    derived: impl Fn(&R) -> R::Derived,
) -> Result<(Vec<RawItem>, CollectionCounts), StoreError> {
    let mut counts = CollectionCounts::default();
    let mut items = Vec::with_capacity(records.len());
    for record in records {
        let stored = with_version(live_item(tenant_id, record.clone(), derived(record), at, 1), versions);
        let counted = counted(Some(&stored));
        counts.listed += i64::from(counted.listed);
        counts.active += i64::from(counted.active);
        counts.live += i64::from(counted.live);
        items.push(stored.to_item()?);
    }
    Ok((items, counts))
}

/// Builds the platform items: catalog apps and global credit configurations.
pub fn platform_items(data: &PlatformDataset, at: Timestamp) -> Result<Vec<RawItem>, StoreError> {
    let mut items = Vec::new();
    for app in &data.catalog {
        items.push(Stored::plain(CATALOG_PK.to_owned(), app_sk(&app.app_code), app.clone(), at, 1).to_item()?);
    }
    for config in &data.global_credit_configs {
        items.push(
            Stored::plain(GLOBAL_PK.to_owned(), credit_config_sk(&config.operation_code), config.clone(), at, 1)
                .to_item()?,
        );
    }
    Ok(items)
}

/// Loads a tenant that does not exist yet. Errors with [`StoreError::Rejected`] if it
/// does: bulk loading computes counters and child lists from the data set alone.
///
/// The tenant's bulk-load marker (`store::loading`) is put before the tenant is claimed and
/// removed after the last batch, so no ingested change for it commits in between (it waits
/// and is retried) and is then overwritten by an unconditional batch write. Changes that
/// committed before the marker (records of the tenant stored before its profile) make the
/// load refuse the tenant instead of overwriting them. A load that
/// fails part-way removes the marker too and leaves the tenant partly written: complete it
/// with a plain `import` of the same file, then a sync (its validation repairs the counters).
pub async fn load_tenant(
    store: &Store,
    data: &TenantDataset,
    at: Timestamp,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<LoadReport, StoreError> {
    let tenant_id = data.tenant.tenant_id.as_str();
    if reader::tenant(store, tenant_id).await?.is_some() {
        return Err(StoreError::Rejected(format!("tenant {tenant_id} already exists")));
    }
    loading::begin(store, tenant_id).await?;
    let loaded = match loading::written_before(store, tenant_id).await {
        Ok(false) => claim_and_write(store, data, at, progress).await,
        Ok(true) => Err(StoreError::Rejected(format!(
            "tenant {tenant_id} already holds records (changes for it arrived before the load); import it without \
             --bulk, through the writer"
        ))),
        Err(error) => Err(error),
    };
    let finished = loading::finish(store, tenant_id).await;
    let report = loaded?;
    finished.map(|()| report)
}

/// Claims the tenant id and org code with the writer's checks (the claim's two items are
/// then left out of the batches), and writes the rest in batches.
async fn claim_and_write(
    store: &Store,
    data: &TenantDataset,
    at: Timestamp,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<LoadReport, StoreError> {
    let mut writer = Writer::new(store.clone(), Clock::Fixed(at));
    if let Some(version) = data.source_versions.get(PROFILE_SK) {
        writer = writer.versioned(SourceVersion { version: *version, identity: Default::default() });
    }
    let outcome = writer.put_tenant(&data.tenant).await?;
    if outcome != WriteOutcome::Created {
        return Err(StoreError::Rejected(format!("tenant {} already exists", data.tenant.tenant_id)));
    }
    let claimed: Vec<RawItem> = claim_items(&data.tenant, at)?;
    let items: Vec<RawItem> = tenant_items(data, at)?.into_iter().filter(|item| !claimed.contains(item)).collect();
    progress(claimed.len());
    write_items(store, items, progress).await.map(|report| LoadReport { items: report.items + claimed.len() })
}

/// Writes platform data (overwriting items with the same keys).
pub async fn load_platform(store: &Store, data: &PlatformDataset, at: Timestamp) -> Result<LoadReport, StoreError> {
    write_items(store, platform_items(data, at)?, &|_| {}).await
}

/// Writes items with `BatchWriteItem`, several batches in flight, calling `progress` with
/// the number of items written by each finished batch.
pub async fn write_items(
    store: &Store,
    items: Vec<RawItem>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<LoadReport, StoreError> {
    let total = items.len();
    let mut batches: Vec<Vec<RawItem>> = Vec::with_capacity(total / BATCH + 1);
    let mut iter = items.into_iter().peekable();
    while iter.peek().is_some() {
        batches.push(iter.by_ref().take(BATCH).collect());
    }
    stream::iter(batches.into_iter().map(Ok))
        .try_for_each_concurrent(IN_FLIGHT, |batch| async move {
            let count = batch.len();
            write_batch(store, batch).await?;
            progress(count);
            Ok::<(), StoreError>(())
        })
        .await?;
    Ok(LoadReport { items: total })
}

async fn write_batch(store: &Store, batch: Vec<RawItem>) -> Result<(), StoreError> {
    let mut pending: Vec<WriteRequest> = batch
        .into_iter()
        .map(|item| {
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
                .map_err(|e| StoreError::Request(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    for round in 0..10u32 {
        let output =
            store.client().batch_write_item().request_items(store.table(), pending).send().await.map_err(sdk)?;
        let mut unprocessed: BTreeMap<String, Vec<WriteRequest>> =
            output.unprocessed_items.unwrap_or_default().into_iter().collect();
        pending = unprocessed.remove(store.table()).unwrap_or_default();
        if pending.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20u64 << round.min(6))).await;
    }
    Err(StoreError::Unavailable("unprocessed items remained after 10 rounds of BatchWriteItem".into()))
}
