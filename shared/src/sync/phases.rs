//! The essential and reference phases (10.2, 10.3): for each collection, the records a
//! default pull of its route returns, with their count, checksum and watermark, read by id
//! from the base table ([`stream`]), the read validation shares.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::checksum::Checksum;
use crate::api::credits::configured_configs;
use crate::model::{CatalogApp, CreditBalance, Entity, Membership, Role, RoleAssignment, User};
use crate::store::item::{attr, CollectionRecord, RawItem, Stored};
use crate::store::keys::tenant_pk;
use crate::store::reader::{self, CollectionCounts};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// The error text of a failed step: generic, never internal detail.
pub const STEP_ERROR: &str = "Collection could not be read";

/// One collection's sub-result (10.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    /// The step read its whole collection.
    pub success: bool,
    /// Records covered; 0 when the step failed.
    pub count: u64,
    /// 64 hex digits; null when the step failed.
    pub checksum: Option<String>,
    /// Greatest `updatedAt` covered; null when none or failed.
    pub watermark: Option<Timestamp>,
    /// Present only on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Count, checksum and watermark of records seen so far.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    count: u64,
    checksum: Checksum,
    watermark: Option<Timestamp>,
}

impl Tally {
    /// Adds one record.
    pub fn add(&mut self, id: &str, updated_at: Timestamp) {
        self.count += 1;
        self.checksum.add(id, &updated_at.to_string());
        self.watermark = self.watermark.max(Some(updated_at));
    }

    /// The sub-result of what was tallied.
    pub fn finish(self) -> StepResult {
        StepResult {
            success: true,
            count: self.count,
            checksum: Some(self.checksum.hex()),
            watermark: self.watermark,
            error: None,
        }
    }
}

/// The sub-result of a step that read `result`; a failure is logged with `collection`.
pub fn step(result: Result<Tally, StoreError>, collection: &str) -> StepResult {
    match result {
        Ok(tally) => tally.finish(),
        Err(error) => {
            tracing::warn!(%error, collection, "sync step failed");
            failed_step()
        }
    }
}

/// The sub-result of a step whose read failed (its error is generic, never internal).
pub fn failed_step() -> StepResult {
    StepResult { success: false, count: 0, checksum: None, watermark: None, error: Some(STEP_ERROR.to_owned()) }
}

/// What streaming one collection's base-table items gave besides the visits: its counts
/// for the counters, and the tally of the records its default pull returns (the items on the
/// `byActive` index, the ones carrying `ASK`).
pub(super) struct Streamed {
    /// Listed, active and live records, for the counters.
    pub counts: CollectionCounts,
    /// The default pull's records.
    pub default_pull: Tally,
}

/// Streams the live records of a collection in base-table order (by id), counting index
/// membership for the counters and tallying the default pull, and shows each live record to
/// `visit`.
///
/// By id, not in the `byActive` index's list order: a record renamed while the stream reads
/// moves in the list order (an entity's name, a role's priority are in its key), and a walk
/// of the index could meet it twice or not at all; its base-table key never moves.
pub(super) async fn stream<R: CollectionRecord>(
    store: &Store,
    tenant_id: &str,
    mut visit: impl FnMut(&R),
) -> Result<Streamed, StoreError> {
    let mut streamed = Streamed { counts: CollectionCounts::default(), default_pull: Tally::default() };
    reader::stream_prefix(store, &tenant_pk(tenant_id), &R::COLLECTION.key_prefix(), &[], |items| {
        for item in items {
            let (listed, active) = (has(&item, attr::OSK), has(&item, attr::ASK));
            let stored: Stored<R, R::Derived> = Stored::from_attributes(&item)?;
            if let Some(record) = stored.live() {
                let counts = &mut streamed.counts;
                counts.listed += i64::from(listed);
                counts.active += i64::from(active);
                counts.live += 1;
                if active {
                    streamed.default_pull.add(record.id(), stored.updated_at);
                }
                visit(record);
            }
        }
        Ok(())
    })
    .await?;
    Ok(streamed)
}

fn has(item: &RawItem, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::S(_)))
}

/// Tallies a collection's default pull (active, listed records), read by id ([`stream`]).
pub async fn tally_collection<R: CollectionRecord>(store: &Store, tenant_id: &str) -> Result<Tally, StoreError> {
    Ok(stream::<R>(store, tenant_id, |_| {}).await?.default_pull)
}

/// The tenant record's tally (count 1 when it exists and is not deleted).
pub async fn tally_tenant(store: &Store, tenant_id: &str) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    if let Some(stored) = reader::tenant(store, tenant_id).await? {
        if let Some(tenant) = stored.live() {
            tally.add(&tenant.tenant_id, stored.updated_at);
        }
    }
    Ok(tally)
}

/// The tally of the tenant's and the global credit configurations over every catalog app.
pub async fn tally_credit_configs(store: &Store, tenant_id: &str, catalog: &[CatalogApp]) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    for entry in configured_configs(store, tenant_id, catalog).await? {
        if let (Some(id), Some(at)) = (&entry.config_id, entry.updated_at) {
            tally.add(id, at);
        }
    }
    Ok(tally)
}

/// `phases.essential.data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EssentialData {
    /// The tenant record (count 1 when it exists).
    pub tenant: StepResult,
    /// The `users` route.
    pub user_profiles: StepResult,
    /// The `organizations` route.
    pub organizations: StepResult,
}

/// `phases.essential`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EssentialPhase {
    /// All three steps succeeded.
    pub success: bool,
    /// The sub-results.
    pub data: EssentialData,
}

/// Runs the essential phase.
pub async fn essential(store: &Store, tenant_id: &str) -> EssentialPhase {
    let (tenant, users, organizations) = tokio::join!(
        tally_tenant(store, tenant_id),
        tally_collection::<User>(store, tenant_id),
        tally_collection::<Entity>(store, tenant_id),
    );
    essential_of(EssentialData {
        tenant: step(tenant, "tenant"),
        user_profiles: step(users, "userProfiles"),
        organizations: step(organizations, "organizations"),
    })
}

/// The essential phase of its sub-results.
pub fn essential_of(data: EssentialData) -> EssentialPhase {
    let success = data.tenant.success && data.user_profiles.success && data.organizations.success;
    EssentialPhase { success, data }
}

/// `phases.reference.data`; every member absent when the phase was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceData {
    /// The `tenant-users` route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_users: Option<StepResult>,
    /// The `roles` route without `appCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<StepResult>,
    /// Tenant and global entries of `credit-configs` over every catalog app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_configs: Option<StepResult>,
    /// The `entity-credits` route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_credits: Option<StepResult>,
    /// The `employee-assignments` route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_assignments: Option<StepResult>,
    /// The `role-assignments` route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_assignments: Option<StepResult>,
}

/// `phases.reference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferencePhase {
    /// All six steps succeeded (or the phase was skipped).
    pub success: bool,
    /// Whether `skipReferenceData` skipped it.
    pub skipped: bool,
    /// The sub-results.
    pub data: ReferenceData,
}

/// The reference phase when `skipReferenceData=true`.
pub fn reference_skipped() -> ReferencePhase {
    ReferencePhase { success: true, skipped: true, data: ReferenceData::default() }
}

/// Runs the reference phase.
pub async fn reference(store: &Store, tenant_id: &str, catalog: &[CatalogApp]) -> ReferencePhase {
    let (users, roles, configs, credits, memberships, assignments) = tokio::join!(
        tally_collection::<User>(store, tenant_id),
        tally_collection::<Role>(store, tenant_id),
        tally_credit_configs(store, tenant_id, catalog),
        tally_collection::<CreditBalance>(store, tenant_id),
        tally_collection::<Membership>(store, tenant_id),
        tally_collection::<RoleAssignment>(store, tenant_id),
    );
    reference_of(ReferenceData {
        tenant_users: Some(step(users, "tenantUsers")),
        roles: Some(step(roles, "roles")),
        credit_configs: Some(step(configs, "creditConfigs")),
        entity_credits: Some(step(credits, "entityCredits")),
        employee_assignments: Some(step(memberships, "employeeAssignments")),
        role_assignments: Some(step(assignments, "roleAssignments")),
    })
}

/// The (not skipped) reference phase of its sub-results.
pub fn reference_of(data: ReferenceData) -> ReferencePhase {
    let all = [
        &data.tenant_users,
        &data.roles,
        &data.credit_configs,
        &data.entity_credits,
        &data.employee_assignments,
        &data.role_assignments,
    ];
    let success = all.iter().all(|s| s.as_ref().is_some_and(|s| s.success));
    ReferencePhase { success, skipped: false, data }
}
