//! Scheduled syncs of every active tenant, in pages (`docs/sync-worker.md`, "Scheduled
//! syncs"). The scheduled-sync state machine loops over pages of active tenants: the worker
//! takes each tenant's lease and starts its tenant-sync execution itself, the machine waits
//! until the page's runs have finished (so at most one page of tenants syncs at a time: the
//! concurrency bound), and after [`PAGES_PER_EXECUTION`] pages it hands the rest of the
//! tenants to a new execution of itself, so no execution nears Step Functions' 25,000
//! history events whatever the number of tenants.
//!
//! A schedule holds the `SCHEDULER`/`LEASE` item while it runs, so two schedules never
//! overlap: a tick that finds the previous schedule still going skips.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::events::EventPublisher;
use super::launch::StepFunctions;
use super::record::{self, Replay, RunRecord, RunStatus, StartError, SCHEDULER};
use super::run;
use crate::store::error::applied;
use crate::store::item::attr;
use crate::store::{reader, Store, StoreError};
use crate::time::Timestamp;

/// Pages one scheduled-sync execution handles before it continues in a new execution. The
/// state machine's `Continue?` choice compares with this number (a test checks they agree).
pub const PAGES_PER_EXECUTION: u32 = 100;
/// How long a schedule's lease lasts after each page step renews it.
pub const SCHEDULE_LEASE_MS: i64 = 15 * 60 * 1000;
/// The largest page (and so the most tenant syncs at once) a schedule accepts; 1,000 runs
/// keep `$.page` near 80 KB, inside the 256 KB state limit.
pub const MAX_PAGE: i32 = 1000;
/// Executions one page step starts at once (Step Functions' `StartExecution` bucket refills
/// at a few hundred per second).
const STARTS_AT_ONCE: usize = 50;
/// The first wait of a page for its runs; each later one doubles, up to [`MAX_WAIT_SECONDS`],
/// so a page of slow runs costs few history events (`docs/sync-worker.md`).
pub const FIRST_WAIT_SECONDS: u32 = 20;
/// The longest wait between two checks of a page.
pub const MAX_WAIT_SECONDS: u32 = 300;
const LEASE_PK: &str = "SCHEDULER";
const LEASE_SK: &str = "LEASE";

/// A run a page started (or found already started by this schedule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageRun {
    /// The tenant.
    pub tenant_id: String,
    /// Its run, also the tenant-sync execution's name.
    pub sync_id: String,
}

/// Where a page stands: the state machine keeps this as `$.page` and hands it back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageState {
    /// The page's runs still running.
    pub runs: Vec<PageRun>,
    /// The tenant to continue after, `null` on the last page.
    pub next: Option<String>,
    /// Whether runs of the page are still running (the machine waits and checks again).
    pub pending: bool,
    /// Pages this execution has handled, this one included.
    pub count: u32,
    /// How long the machine waits before it checks the page again.
    pub wait_seconds: u32,
    /// Runs started on this page.
    pub started: u32,
    /// Tenants skipped: inactive, held by a run whose lease has not expired, or already
    /// synced by this schedule.
    pub skipped: u32,
    /// Runs whose execution could not be started; each was recorded as failed at once and
    /// its lease freed.
    pub failed_to_start: u32,
}

/// Why a schedule step failed.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another schedule holds the schedule lease now (this one's expired).
    #[error("schedule {0} no longer holds the schedule lease")]
    Superseded(String),
    /// Step Functions refused to start the next segment.
    #[error(transparent)]
    StartExecution(#[from] super::launch::StartExecutionError),
}

/// Takes the schedule lease for `schedule_id` (the first execution's name; continuations
/// pass it on). Returns `{ scheduleId, proceed }`, `proceed: false` with a `reason` when
/// another schedule still holds it.
pub async fn begin(store: &Store, schedule_id: &str) -> Result<Value, ScheduleError> {
    if take_lease(store, schedule_id).await? {
        return Ok(json!({ "scheduleId": schedule_id, "proceed": true }));
    }
    let holder = reader::get_item(store, LEASE_PK.to_owned(), LEASE_SK)
        .await?
        .and_then(|item| item.get("holder").and_then(|v| v.as_s().ok()).cloned())
        .unwrap_or_default();
    tracing::info!(schedule_id, holder, "a scheduled sync is still running; this one skips");
    Ok(json!({ "scheduleId": schedule_id, "proceed": false, "reason": format!("schedule {holder} is still running") }))
}

/// Releases the schedule lease if `schedule_id` holds it.
pub async fn end(store: &Store, schedule_id: &str) -> Result<Value, ScheduleError> {
    let result = store
        .client()
        .delete_item()
        .table_name(store.table())
        .key(attr::PK, AttributeValue::S(LEASE_PK.into()))
        .key(attr::SK, AttributeValue::S(LEASE_SK.into()))
        .condition_expression("holder = :id")
        .expression_attribute_values(":id", AttributeValue::S(schedule_id.into()))
        .send()
        .await;
    Ok(json!({ "scheduleId": schedule_id, "released": applied(result)? }))
}

/// Takes or renews the lease: succeeds when it is free, expired, or already `schedule_id`'s.
async fn take_lease(store: &Store, schedule_id: &str) -> Result<bool, StoreError> {
    let now = Timestamp::now();
    let result = store
        .client()
        .put_item()
        .table_name(store.table())
        .item(attr::PK, AttributeValue::S(LEASE_PK.into()))
        .item(attr::SK, AttributeValue::S(LEASE_SK.into()))
        .item("holder", AttributeValue::S(schedule_id.into()))
        .item("expiresAt", AttributeValue::S(now.plus_millis(SCHEDULE_LEASE_MS).to_string()))
        .condition_expression("attribute_not_exists(PK) OR holder = :id OR expiresAt <= :now")
        .expression_attribute_values(":id", AttributeValue::S(schedule_id.into()))
        .expression_attribute_values(":now", AttributeValue::S(now.to_string()))
        .send()
        .await;
    applied(result)
}

async fn renew_lease(store: &Store, schedule_id: &str) -> Result<(), ScheduleError> {
    if take_lease(store, schedule_id).await? {
        Ok(())
    } else {
        Err(ScheduleError::Superseded(schedule_id.to_owned()))
    }
}

/// What one page step needs.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    /// The schedule.
    pub schedule_id: &'a str,
    /// Continue after this tenant.
    pub after: Option<&'a str>,
    /// Tenants per page, the most syncs running at once.
    pub limit: i32,
    /// The tenant-sync state machine the runs execute on.
    pub tenant_sync_arn: &'a str,
    /// Pages this execution handled before this one.
    pub count: u32,
}

/// How one tenant of a page went.
enum TenantStart {
    Started(PageRun),
    Skipped,
    FailedToStart,
}

/// Starts a run for each active tenant of the next page, all at once (at most `limit`).
pub async fn start_page(
    store: &Store,
    events: &EventPublisher,
    step_functions: &StepFunctions,
    request: PageRequest<'_>,
) -> Result<PageState, ScheduleError> {
    renew_lease(store, request.schedule_id).await?;
    let limit = request.limit.clamp(1, MAX_PAGE);
    let (tenant_ids, next) = reader::active_tenant_ids(store, request.after, limit).await?;
    let starts: Vec<_> = stream::iter(tenant_ids.into_iter().map(|tenant_id| async move {
        start_tenant(store, events, step_functions, request.tenant_sync_arn, request.schedule_id, &tenant_id).await
    }))
    .buffered(STARTS_AT_ONCE)
    .collect()
    .await;
    let mut page =
        PageState { next, count: request.count + 1, wait_seconds: FIRST_WAIT_SECONDS, ..PageState::default() };
    for start in starts {
        match start? {
            TenantStart::Started(run) => {
                page.started += 1;
                page.runs.push(run);
            }
            TenantStart::Skipped => page.skipped += 1,
            TenantStart::FailedToStart => page.failed_to_start += 1,
        }
    }
    page.pending = !page.runs.is_empty();
    Ok(page)
}

/// Takes `tenant_id`'s lease for this schedule (replacing a run whose lease expired) and
/// starts its execution. A retried page recognises the runs it started before by the
/// schedule id they are keyed by, and starts their executions again, which Step Functions
/// answers with the execution already running.
async fn start_tenant(
    store: &Store,
    events: &EventPublisher,
    step_functions: &StepFunctions,
    tenant_sync_arn: &str,
    schedule_id: &str,
    tenant_id: &str,
) -> Result<TenantStart, StoreError> {
    let active = reader::tenant(store, tenant_id).await?.and_then(|t| t.rec).is_some_and(|t| t.active());
    if !active {
        return Ok(TenantStart::Skipped);
    }
    let run = match record::replay(store, tenant_id, SCHEDULER, schedule_id, false).await? {
        Some(Replay::Run(run)) if run.status == RunStatus::Running => *run,
        Some(_) => return Ok(TenantStart::Skipped),
        None => match record::start_reclaiming(store, tenant_id, schedule_id).await {
            Ok(run) => run,
            Err(StartError::InProgress { run, .. }) if is_own(&run, schedule_id) => *run,
            Err(StartError::InProgress { .. }) => return Ok(TenantStart::Skipped),
            Err(StartError::Store(error)) => return Err(error),
        },
    };
    match step_functions.start_run(tenant_sync_arn, &run).await {
        Ok(()) => Ok(TenantStart::Started(PageRun { tenant_id: run.tenant_id, sync_id: run.sync_id })),
        Err(error) => {
            tracing::warn!(%error, tenant_id, sync_id = run.sync_id, "a scheduled run could not start; recorded as failed");
            run::finish_stopped(store, events, &run).await?;
            Ok(TenantStart::FailedToStart)
        }
    }
}

fn is_own(run: &RunRecord, schedule_id: &str) -> bool {
    run.principal == SCHEDULER && run.idempotency_key.as_deref() == Some(schedule_id)
}

/// The page with only its runs still running; renews the schedule lease. A run whose lease
/// expired counts as no longer running: a live run renews its lease every minute, so an
/// expired one has lost its execution (and its status event), and waiting for it would hold
/// the schedule for good; the next schedule replaces it.
pub async fn check_page(store: &Store, schedule_id: &str, mut page: PageState) -> Result<PageState, ScheduleError> {
    renew_lease(store, schedule_id).await?;
    let now = Timestamp::now();
    let records: Vec<_> = stream::iter(
        page.runs.clone().into_iter().map(|r| async move { record::run(store, &r.tenant_id, &r.sync_id).await }),
    )
    .buffered(STARTS_AT_ONCE)
    .collect()
    .await;
    let mut running = Vec::new();
    for (run, record) in page.runs.into_iter().zip(records) {
        let live = |r: &RunRecord| r.status == RunStatus::Running && r.lease_expires_at.is_some_and(|at| at > now);
        if record?.is_some_and(|r| live(&r)) {
            running.push(run);
        }
    }
    page.pending = !running.is_empty();
    page.runs = running;
    page.wait_seconds = page.wait_seconds.saturating_mul(2).clamp(FIRST_WAIT_SECONDS, MAX_WAIT_SECONDS);
    Ok(page)
}

/// Starts the next segment of the schedule: a new execution of `state_machine_arn` that
/// continues after `after`. Its name is derived from the schedule and the cursor, so a
/// retried step returns the same execution.
pub async fn continue_in_new_execution(
    store: &Store,
    step_functions: &StepFunctions,
    state_machine_arn: &str,
    schedule_id: &str,
    after: &str,
) -> Result<Value, ScheduleError> {
    renew_lease(store, schedule_id).await?;
    let name = segment_name(schedule_id, after);
    let input = json!({ "scheduleId": schedule_id, "next": after, "count": 0 });
    step_functions.start(state_machine_arn, &name, &input).await?;
    Ok(json!({ "scheduleId": schedule_id, "continuedIn": name }))
}

/// `<schedule id, at most 40 characters>-<16 hex digits of the cursor's hash>`: within the 80
/// characters and the `[A-Za-z0-9_-]` Step Functions allows, one name per (schedule, cursor).
pub fn segment_name(schedule_id: &str, after: &str) -> String {
    let prefix: String =
        schedule_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(40).collect();
    let digest = hex::encode(Sha256::digest(format!("{schedule_id}\n{after}").as_bytes()));
    format!("{prefix}-{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_are_valid_execution_names_and_differ_by_cursor() {
        let id = "d8f1c0a2-5b7e-4c1f-9a3e-2f6b8c9d0e1f-with-a-long-tail-beyond-forty";
        let a = segment_name(id, "tenant-a");
        let b = segment_name(id, "tenant-b");
        assert_ne!(a, b);
        assert_eq!(a, segment_name(id, "tenant-a"), "a retry gets the same name");
        for name in [&a, &b] {
            assert!(name.len() <= 80, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{name}");
        }
        assert!(segment_name("a:b", "x").starts_with("ab-"), "characters Step Functions refuses are dropped");
    }

    #[test]
    fn a_page_state_round_trips_through_the_machine_json() {
        let page = PageState {
            runs: vec![PageRun { tenant_id: "t".into(), sync_id: "s".into() }],
            next: Some("t".into()),
            pending: true,
            count: 3,
            wait_seconds: 40,
            started: 1,
            skipped: 2,
            failed_to_start: 0,
        };
        let value = serde_json::to_value(&page).unwrap();
        assert_eq!(value["runs"][0]["syncId"], "s");
        assert_eq!(value["failedToStart"], 0);
        assert_eq!(serde_json::from_value::<PageState>(value).unwrap(), page);
    }
}
