//! `import --bulk`: a validated file split into what can be bulk-loaded and what must go
//! through the writer.
//!
//! A tenant App Sync does not hold yet is written with `BatchWriteItem`
//! ([`crate::store::bulk::load_tenant`], which builds the same items the writer would), at
//! several times the writer's speed. Only upserts of such new tenants can be loaded this way;
//! everything else keeps the writer's guarantees: platform records (applied before the loads),
//! records of tenants already stored, deletes and credit postings (applied after, so a
//! delete or a posting finds the records it concerns). Where a file holds several versioned
//! upserts of one record, the newest is loaded with its `sourceVersion` and the others are
//! `stale`, exactly as the writer would have decided.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{ImportLine, ImportRecord};
use crate::ingest::Action;
use crate::store::bulk::TenantDataset;
use crate::store::item::CollectionRecord;
use crate::store::keys::{app_sk, credit_config_sk, PROFILE_SK};
use crate::store::writer::{admit, versioned_balance_carries_no_totals, Admission, WriteOutcome};
use crate::store::{reader, Store, StoreError};

/// What `import --bulk` does with a file.
#[derive(Debug, Default)]
pub struct BulkPlan {
    /// Platform records, applied through the writer before the loads.
    pub before: Vec<ImportLine>,
    /// The new tenants, each loaded with `store::bulk::load_tenant`.
    pub tenants: Vec<TenantDataset>,
    /// Everything else, applied through the writer after the loads.
    pub after: Vec<ImportLine>,
    /// Upserts of a new tenant's record replaced by a newer line of the same record, by
    /// record type (their outcome is `stale`).
    pub superseded: BTreeMap<String, usize>,
}

impl BulkPlan {
    /// Items the loads write: every record, plus each tenant's Kinde org alias and counters.
    pub fn items(&self) -> usize {
        self.tenants.iter().map(|t| records_of(t) + 3).sum()
    }
}

fn records_of(data: &TenantDataset) -> usize {
    data.users.len()
        + data.entities.len()
        + data.roles.len()
        + data.role_assignments.len()
        + data.memberships.len()
        + data.credit_balances.len()
        + data.credit_configs.len()
        + data.entitlements.len()
}

/// Splits validated `lines` (see the module comment). Reads only whether each tenant the
/// file defines is stored.
pub async fn plan(store: &Store, lines: Vec<ImportLine>) -> Result<BulkPlan, StoreError> {
    let mut new_tenants = HashSet::new();
    for line in &lines {
        if let Some(ImportRecord::Tenant(tenant)) = line.record() {
            let id = tenant.tenant_id.as_str();
            if !new_tenants.contains(id) && reader::tenant(store, id).await?.is_none() {
                new_tenants.insert(id.to_owned());
            }
        }
    }
    let mut plan = BulkPlan::default();
    // identity -> the newest upsert of that record so far
    let mut newest: HashMap<String, ImportLine> = HashMap::new();
    for line in lines {
        match loadable(&line, &new_tenants) {
            true => {
                let identity = line.record().map(ImportRecord::identity).unwrap_or_default();
                let kind = line.change.kind().to_owned();
                // The writer's own version rule, against the line kept so far.
                match newest.get(&identity).map(|kept| admit(kept.change.source_version, line.change.source_version)) {
                    Some(Ok(Admission::Stale)) => *plan.superseded.entry(kind).or_default() += 1,
                    Some(Ok(Admission::Apply)) => {
                        *plan.superseded.entry(kind).or_default() += 1;
                        newest.insert(identity, line);
                    }
                    // A plain line after a versioned one: the writer refuses it after the load.
                    Some(Err(_)) => plan.after.push(line),
                    None => {
                        newest.insert(identity, line);
                    }
                }
            }
            false if line.change.platform_wide() && line.record().is_some() => plan.before.push(line),
            false => plan.after.push(line),
        }
    }
    let mut kept: Vec<ImportLine> = newest.into_values().collect();
    kept.sort_by_key(|line| line.line);
    plan.tenants = datasets(kept);
    Ok(plan)
}

/// Whether `line` is an upsert of a record of a tenant the file creates, and one the writer
/// would accept as it stands (a versioned balance with totals goes to the writer, which
/// refuses it).
fn loadable(line: &ImportLine, new_tenants: &HashSet<String>) -> bool {
    let Action::Upsert(record) = &line.change.action else { return false };
    if let (ImportRecord::CreditBalance(_, balance), Some(_)) = (record.as_ref(), line.change.source_version) {
        if versioned_balance_carries_no_totals(balance).is_err() {
            return false;
        }
    }
    record.tenant_id().is_some_and(|tenant| new_tenants.contains(tenant))
}

/// The data sets of the new tenants, from the kept upserts (in file order).
fn datasets(kept: Vec<ImportLine>) -> Vec<TenantDataset> {
    let mut tenants: Vec<TenantDataset> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for line in &kept {
        if let Some(ImportRecord::Tenant(tenant)) = line.record() {
            index.insert(tenant.tenant_id.clone(), tenants.len());
            tenants.push(TenantDataset::empty(tenant.clone()));
        }
    }
    for line in kept {
        let version = line.change.source_version;
        let Some(record) = line.record().cloned() else { continue };
        let Some(&at) = record.tenant_id().and_then(|t| index.get(t)) else { continue };
        let data = &mut tenants[at];
        let sort_key = match record {
            ImportRecord::Tenant(_) => PROFILE_SK.to_owned(),
            ImportRecord::User(_, user) => push(&mut data.users, user),
            ImportRecord::Entity(_, entity) => push(&mut data.entities, entity),
            ImportRecord::Role(_, role) => push(&mut data.roles, role),
            ImportRecord::Membership(_, membership) => push(&mut data.memberships, membership),
            ImportRecord::RoleAssignment(_, assignment) => push(&mut data.role_assignments, assignment),
            ImportRecord::CreditBalance(_, balance) => push(&mut data.credit_balances, balance),
            ImportRecord::CreditConfig(config) => {
                let key = credit_config_sk(&config.operation_code);
                data.credit_configs.push(config);
                key
            }
            ImportRecord::Entitlement(_, entitlement) => {
                let key = app_sk(&entitlement.app_code);
                data.entitlements.push(entitlement);
                key
            }
            ImportRecord::CatalogApp(_) => continue,
        };
        if let Some(version) = version {
            data.source_versions.insert(sort_key, version);
        }
    }
    tenants
}

/// Adds `record` to `records` and returns its sort key.
fn push<R: CollectionRecord>(records: &mut Vec<R>, record: R) -> String {
    let key = record.sort_key();
    records.push(record);
    key
}

/// What `import --bulk` wrote.
#[derive(Debug, Default)]
pub struct BulkReport {
    /// Tenants bulk-loaded.
    pub tenants: usize,
    /// Items the loads wrote.
    pub items: usize,
    /// What the writer did with the other lines.
    pub through_writer: super::ImportReport,
}

/// Carries out `plan`: its platform records through `writer`, then each new tenant with
/// `BatchWriteItem` at instant `at`, then the remaining lines through `writer`. `progress` is
/// called with a number of items (a load's batches) or 1 (a line the writer applied).
pub async fn load(
    store: &Store,
    writer: &crate::store::writer::Writer,
    plan: BulkPlan,
    at: crate::time::Timestamp,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<BulkReport, StoreError> {
    let mut report = BulkReport {
        through_writer: super::apply(writer, plan.before, &|| progress(1)).await?,
        ..BulkReport::default()
    };
    for tenant in &plan.tenants {
        report.items += crate::store::bulk::load_tenant(store, tenant, at, progress).await?.items;
        report.tenants += 1;
    }
    let after = super::apply(writer, plan.after, &|| progress(1)).await?;
    report.through_writer.merge(after);
    for (kind, count) in plan.superseded {
        *report.through_writer.outcomes.entry((kind, format!("{:?}", WriteOutcome::Stale))).or_default() += count;
    }
    Ok(report)
}
