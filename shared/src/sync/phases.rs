//! The essential and reference phases (10.2, 10.3): for each collection, the records a
//! default pull of its route returns, with their count, checksum and watermark.

use serde::{Deserialize, Serialize};

use super::checksum::Checksum;
use crate::api::credits::configured_configs;
use crate::model::{CatalogApp, CreditBalance, Entity, Membership, Role, RoleAssignment, User};
use crate::store::item::CollectionRecord;
use crate::store::query::{self, ListMode, ListRequest};
use crate::store::{reader, Store, StoreError};
use crate::time::Timestamp;

/// Records read per page while streaming a collection.
const PAGE: usize = 500;
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
#[derive(Debug, Default)]
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

    fn finish(self) -> StepResult {
        StepResult {
            success: true,
            count: self.count,
            checksum: Some(self.checksum.hex()),
            watermark: self.watermark,
            error: None,
        }
    }
}

fn step(result: Result<Tally, StoreError>, collection: &str) -> StepResult {
    match result {
        Ok(tally) => tally.finish(),
        Err(error) => {
            tracing::warn!(%error, collection, "sync step failed");
            StepResult { success: false, count: 0, checksum: None, watermark: None, error: Some(STEP_ERROR.to_owned()) }
        }
    }
}

/// Streams a collection's default pull (active, listed records) and tallies it.
pub async fn tally_collection<R: CollectionRecord>(store: &Store, tenant_id: &str) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    let mut start_after = None;
    loop {
        let request = ListRequest { limit: PAGE, start_after, ..Default::default() };
        let page = query::list::<R>(store, tenant_id, ListMode::Active, &request).await?;
        for stored in &page.items {
            if let Some(record) = stored.live() {
                tally.add(record.id(), stored.updated_at);
            }
        }
        match page.next {
            Some(next) => start_after = Some(next),
            None => return Ok(tally),
        }
    }
}

async fn tally_tenant(store: &Store, tenant_id: &str) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    if let Some(stored) = reader::tenant(store, tenant_id).await? {
        if let Some(tenant) = stored.live() {
            tally.add(&tenant.tenant_id, stored.updated_at);
        }
    }
    Ok(tally)
}

async fn tally_credit_configs(store: &Store, tenant_id: &str, catalog: &[CatalogApp]) -> Result<Tally, StoreError> {
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
    let data = EssentialData {
        tenant: step(tenant, "tenant"),
        user_profiles: step(users, "userProfiles"),
        organizations: step(organizations, "organizations"),
    };
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
    let data = ReferenceData {
        tenant_users: Some(step(users, "tenantUsers")),
        roles: Some(step(roles, "roles")),
        credit_configs: Some(step(configs, "creditConfigs")),
        entity_credits: Some(step(credits, "entityCredits")),
        employee_assignments: Some(step(memberships, "employeeAssignments")),
        role_assignments: Some(step(assignments, "roleAssignments")),
    };
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
