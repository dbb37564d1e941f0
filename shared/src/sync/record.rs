//! Run records and the per-tenant lease (contract 10.1, 9.13): one running sync per tenant,
//! taken with conditional writes, superseded only after its lease expired and only when
//! asked, and released when the run finishes.
//!
//! Items, in the tenant's partition: `SYNCSTATE` (the running run and its lease, the last
//! finished run), `SYNC#<syncId>` (one per run, with its results), and
//! `IDEM#<sha256(principal)>#<key>` (an `Idempotency-Key` and the run it started, kept 24
//! hours; the principal is hashed so the key is unambiguous and bounded in length whatever
//! the principal holds).

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::run::{SyncOptions, SyncResults};
use crate::store::error::sdk;
use crate::store::item::{attr, RawItem};
use crate::store::keys::tenant_pk;
use crate::store::{reader, Store, StoreError};
use crate::time::Timestamp;

/// How long a lease lasts after it was taken or renewed.
pub const LEASE_MS: i64 = 15 * 60 * 1000;
/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;
const STATE_SK: &str = "SYNCSTATE";

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Holding the lease.
    Running,
    /// Finished with `results.success` true.
    Succeeded,
    /// Finished with `results.success` false, or stopped by an unexpected error.
    Failed,
    /// Replaced after its lease expired, by a request with `forceSync` or by a scheduled sync.
    Superseded,
}

impl RunStatus {
    /// The lowercase name used in responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
        }
    }
}

/// The options a run was started with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOptions {
    /// `skipReferenceData`.
    pub skip_reference_data: bool,
    /// `forceSync`.
    pub force_sync: bool,
    /// `wait`.
    pub wait: bool,
}

impl RunOptions {
    /// The options the phases need.
    pub fn sync(&self) -> SyncOptions {
        SyncOptions { skip_reference_data: self.skip_reference_data }
    }
}

/// One run (contract 10.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The run's ULID.
    pub sync_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Where it stands.
    pub status: RunStatus,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    /// Milliseconds it took.
    #[serde(default)]
    pub duration: Option<i64>,
    /// End of the lease while running.
    #[serde(default)]
    pub lease_expires_at: Option<Timestamp>,
    /// How it was started.
    pub options: RunOptions,
    /// Who started it.
    pub principal: String,
    /// The `Idempotency-Key` it was started with.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// `results.success` once finished.
    #[serde(default)]
    pub success: Option<bool>,
    /// Number of validation issues once finished (when validation ran).
    #[serde(default)]
    pub issues_count: Option<u64>,
    /// The results once finished.
    #[serde(default)]
    pub results: Option<SyncResults>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyncState {
    #[serde(default)]
    current: Option<String>,
    #[serde(default)]
    last_run: Option<String>,
    #[serde(default)]
    last_sync: Option<Timestamp>,
    #[serde(default)]
    ver: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyRecord {
    sync_id: String,
    skip_reference_data: bool,
    created_at: Timestamp,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another run holds the tenant (`expired` tells whether its lease ran out).
    #[error("a sync run already holds the tenant")]
    InProgress {
        /// The running run.
        run: Box<RunRecord>,
        /// Its lease has expired (`forceSync=true` would replace it).
        expired: bool,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A replayed `Idempotency-Key`.
#[derive(Debug)]
pub enum Replay {
    /// The key started this run with the same options.
    Run(Box<RunRecord>),
    /// The key started a run with other options.
    OptionsDiffer(String),
}

/// What the tenant's sync state says.
#[derive(Debug, Clone, Default)]
pub struct SyncStatus {
    /// `completedAt` of the most recent run that ran to completion.
    pub last_sync: Option<Timestamp>,
    /// The most recent finished (or superseded) run.
    pub last_run: Option<RunRecord>,
    /// The running run.
    pub current_run: Option<RunRecord>,
}

fn run_sk(sync_id: &str) -> String {
    format!("SYNC#{sync_id}")
}

/// `IDEM#<64 hex digits>#<key>`: the hash has a fixed width and no `#`, so no two
/// (principal, key) pairs share an item, and the sort key stays far below 1,024 bytes.
pub fn idempotency_sk(principal: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("IDEM#{}#{key}", hex::encode(Sha256::digest(principal.as_bytes())))
}

fn with_keys<T: Serialize>(value: &T, pk: String, sk: String) -> Result<RawItem, StoreError> {
    let mut item: RawItem = serde_dynamo::to_item(value)?;
    item.insert(attr::PK.to_owned(), AttributeValue::S(pk));
    item.insert(attr::SK.to_owned(), AttributeValue::S(sk));
    Ok(item)
}

async fn get<T: serde::de::DeserializeOwned>(
    store: &Store,
    tenant_id: &str,
    sk: &str,
) -> Result<Option<T>, StoreError> {
    match reader::get_item(store, tenant_pk(tenant_id), sk).await? {
        Some(item) => Ok(Some(crate::store::decode::from_attributes(&item)?)),
        None => Ok(None),
    }
}

/// A run by id.
pub async fn run(store: &Store, tenant_id: &str, sync_id: &str) -> Result<Option<RunRecord>, StoreError> {
    get(store, tenant_id, &run_sk(sync_id)).await
}

/// The run an `Idempotency-Key` of this caller started within the last 24 hours, if any.
pub async fn replay(
    store: &Store,
    tenant_id: &str,
    principal: &str,
    key: &str,
    skip_reference_data: bool,
) -> Result<Option<Replay>, StoreError> {
    let record: Option<IdempotencyRecord> = get(store, tenant_id, &idempotency_sk(principal, key)).await?;
    let Some(record) = record.filter(|r| r.created_at.plus_millis(IDEMPOTENCY_TTL_MS) > Timestamp::now()) else {
        return Ok(None);
    };
    if record.skip_reference_data != skip_reference_data {
        return Ok(Some(Replay::OptionsDiffer(record.sync_id)));
    }
    Ok(run(store, tenant_id, &record.sync_id).await?.map(|r| Replay::Run(Box::new(r))))
}

/// Takes the tenant's lease and records a new run, atomically with its idempotency key.
pub async fn start(
    store: &Store,
    tenant_id: &str,
    principal: &str,
    options: RunOptions,
    idempotency_key: Option<&str>,
) -> Result<RunRecord, StartError> {
    start_as(store, tenant_id, &super::run::new_sync_id(), principal, options, idempotency_key).await
}

/// [`start`] with a run id chosen by the caller. The sample worker events in `events/` name a
/// fixed run; the Lambda end-to-end tests start that run so the events work as they are.
pub async fn start_as(
    store: &Store,
    tenant_id: &str,
    sync_id: &str,
    principal: &str,
    options: RunOptions,
    idempotency_key: Option<&str>,
) -> Result<RunRecord, StartError> {
    start_with(store, tenant_id, sync_id, principal, options, idempotency_key, options.force_sync).await
}

/// [`start`] for the scheduler: a run whose lease expired is replaced without `forceSync`
/// (its holder crashed, timed out or was stopped), so no tenant stays blocked for good.
/// The run is keyed by `schedule_key` like an `Idempotency-Key`, so a retried start can tell
/// its own run from another's.
pub async fn start_reclaiming(store: &Store, tenant_id: &str, schedule_key: &str) -> Result<RunRecord, StartError> {
    let sync_id = super::run::new_sync_id();
    start_with(store, tenant_id, &sync_id, SCHEDULER, RunOptions::default(), Some(schedule_key), true).await
}

/// The principal of scheduled runs.
pub const SCHEDULER: &str = "scheduler";

async fn start_with(
    store: &Store,
    tenant_id: &str,
    sync_id: &str,
    principal: &str,
    options: RunOptions,
    idempotency_key: Option<&str>,
    reclaim_expired: bool,
) -> Result<RunRecord, StartError> {
    let request = StartRequest { sync_id, principal, options, idempotency_key, reclaim_expired };
    for _ in 0..8 {
        match try_start(store, tenant_id, &request).await {
            Err(StartError::Store(StoreError::Conflict)) => continue,
            other => return other,
        }
    }
    Err(StartError::Store(StoreError::Conflict))
}

/// What [`try_start`] records.
struct StartRequest<'a> {
    sync_id: &'a str,
    principal: &'a str,
    options: RunOptions,
    idempotency_key: Option<&'a str>,
    /// Replace a running run whose lease has expired.
    reclaim_expired: bool,
}

async fn try_start(store: &Store, tenant_id: &str, request: &StartRequest<'_>) -> Result<RunRecord, StartError> {
    let StartRequest { sync_id, principal, options, idempotency_key, reclaim_expired } = *request;
    let now = Timestamp::now();
    let state: Option<SyncState> = get(store, tenant_id, STATE_SK).await?;
    let mut next = state.clone().unwrap_or_default();
    let mut items = Vec::new();
    if let Some(current) = state.as_ref().and_then(|s| s.current.clone()) {
        if let Some(running) = run(store, tenant_id, &current).await?.filter(|r| r.status == RunStatus::Running) {
            let expired = running.lease_expires_at.is_none_or(|at| at <= now);
            if !expired || !reclaim_expired {
                return Err(StartError::InProgress { run: Box::new(running), expired });
            }
            items.push(supersede(store, tenant_id, &running.sync_id, now)?);
            next.last_run = Some(running.sync_id.clone());
        }
    }
    let record = RunRecord {
        sync_id: sync_id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        status: RunStatus::Running,
        started_at: now,
        completed_at: None,
        duration: None,
        lease_expires_at: Some(now.plus_millis(LEASE_MS)),
        options,
        principal: principal.to_owned(),
        idempotency_key: idempotency_key.map(str::to_owned),
        success: None,
        issues_count: None,
        results: None,
    };
    next.current = Some(record.sync_id.clone());
    next.ver = state.as_ref().map_or(1, |s| s.ver + 1);
    let state_put = Put::builder()
        .table_name(store.table())
        .set_item(Some(with_keys(&next, tenant_pk(tenant_id), STATE_SK.to_owned())?))
        .condition_expression(if state.is_some() { "ver = :ver" } else { "attribute_not_exists(PK)" });
    let state_put = match &state {
        Some(s) => state_put.expression_attribute_values(":ver", AttributeValue::N(s.ver.to_string())),
        None => state_put,
    };
    items.push(
        TransactWriteItem::builder().put(state_put.build().map_err(|e| StoreError::Request(e.to_string()))?).build(),
    );
    items.push(put_new(store, with_keys(&record, tenant_pk(tenant_id), run_sk(&record.sync_id))?)?);
    if let Some(key) = idempotency_key {
        let idem = IdempotencyRecord {
            sync_id: record.sync_id.clone(),
            skip_reference_data: options.skip_reference_data,
            created_at: now,
        };
        let mut item = with_keys(&idem, tenant_pk(tenant_id), idempotency_sk(principal, key))?;
        item.insert(
            attr::TTL.to_owned(),
            AttributeValue::N((now.epoch_seconds() + IDEMPOTENCY_TTL_MS / 1000).to_string()),
        );
        items.push(put_new_or_expired(store, item, now)?);
    }
    transact(store, items).await?;
    Ok(record)
}

fn put_new(store: &Store, item: RawItem) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(|e| StoreError::Request(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A put of an idempotency key that succeeds when the key is new or its 24 hours are over:
/// DynamoDB's TTL sweeper may take days to remove an expired item, and until then the key
/// must be usable again.
fn put_new_or_expired(store: &Store, item: RawItem, now: Timestamp) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK) OR #ttl <= :now")
        .expression_attribute_names("#ttl", attr::TTL)
        .expression_attribute_values(":now", AttributeValue::N(now.epoch_seconds().to_string()))
        .build()
        .map_err(|e| StoreError::Request(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn supersede(store: &Store, tenant_id: &str, sync_id: &str, now: Timestamp) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(store.table())
        .key(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
        .key(attr::SK, AttributeValue::S(run_sk(sync_id)))
        .update_expression("SET #s = :superseded, completedAt = :now, success = :false REMOVE leaseExpiresAt")
        .condition_expression("#s = :running")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":superseded", AttributeValue::S("superseded".into()))
        .expression_attribute_values(":running", AttributeValue::S("running".into()))
        .expression_attribute_values(":now", AttributeValue::S(now.to_string()))
        .expression_attribute_values(":false", AttributeValue::Bool(false))
        .build()
        .map_err(|e| StoreError::Request(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

async fn transact(store: &Store, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
    match store.client().transact_write_items().set_transact_items(Some(items)).send().await {
        Ok(_) => Ok(()),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_transaction_canceled_exception()) => {
            Err(StoreError::Conflict)
        }
        Err(error) => Err(sdk(error)),
    }
}

/// Extends a running run's lease (a run renews it at least once a minute while it makes
/// progress). Returns `false` when the run no longer holds it.
pub async fn renew(store: &Store, tenant_id: &str, sync_id: &str) -> Result<bool, StoreError> {
    let result = store
        .client()
        .update_item()
        .table_name(store.table())
        .key(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
        .key(attr::SK, AttributeValue::S(run_sk(sync_id)))
        .update_expression("SET leaseExpiresAt = :until")
        .condition_expression("#s = :running")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":running", AttributeValue::S("running".into()))
        .expression_attribute_values(":until", AttributeValue::S(Timestamp::now().plus_millis(LEASE_MS).to_string()))
        .send()
        .await;
    crate::store::error::applied(result)
}

/// Records a run's end and releases the lease, atomically. Returns `None` when the run was
/// superseded meanwhile (it can no longer change its record or publish an event).
pub async fn finish(store: &Store, run: &RunRecord, results: SyncResults) -> Result<Option<RunRecord>, StoreError> {
    let mut finished = run.clone();
    finished.status = if results.success { RunStatus::Succeeded } else { RunStatus::Failed };
    finished.completed_at = Some(results.completed_at);
    finished.duration = Some(results.completed_at.millis() - run.started_at.millis());
    finished.lease_expires_at = None;
    finished.success = Some(results.success);
    finished.issues_count = Some(results.phases.validation.validation.issues.len() as u64);
    finished.results = Some(results);
    let pk = tenant_pk(&run.tenant_id);
    let record = Put::builder()
        .table_name(store.table())
        .set_item(Some(with_keys(&finished, pk.clone(), run_sk(&run.sync_id))?))
        .condition_expression("#s = :running")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":running", AttributeValue::S("running".into()))
        .build()
        .map_err(|e| StoreError::Request(e.to_string()))?;
    let state = Update::builder()
        .table_name(store.table())
        .key(attr::PK, AttributeValue::S(pk))
        .key(attr::SK, AttributeValue::S(STATE_SK.to_owned()))
        .update_expression("SET lastRun = :id, lastSync = :at, ver = ver + :one REMOVE #current")
        .condition_expression("#current = :id")
        .expression_attribute_names("#current", "current")
        .expression_attribute_values(":id", AttributeValue::S(run.sync_id.clone()))
        .expression_attribute_values(
            ":at",
            AttributeValue::S(finished.completed_at.unwrap_or(run.started_at).to_string()),
        )
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .build()
        .map_err(|e| StoreError::Request(e.to_string()))?;
    let items =
        vec![TransactWriteItem::builder().put(record).build(), TransactWriteItem::builder().update(state).build()];
    match transact(store, items).await {
        Ok(()) => Ok(Some(finished)),
        Err(StoreError::Conflict) => Ok(None),
        Err(other) => Err(other),
    }
}

/// The tenant's last completed sync, last finished run and running run.
pub async fn status(store: &Store, tenant_id: &str) -> Result<SyncStatus, StoreError> {
    let Some(state) = get::<SyncState>(store, tenant_id, STATE_SK).await? else {
        return Ok(SyncStatus::default());
    };
    let current = match &state.current {
        Some(id) => run(store, tenant_id, id).await?.filter(|r| r.status == RunStatus::Running),
        None => None,
    };
    let last_run = match &state.last_run {
        Some(id) => run(store, tenant_id, id).await?,
        None => None,
    };
    Ok(SyncStatus { last_sync: state.last_sync, last_run, current_run: current })
}
