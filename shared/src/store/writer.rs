//! The one writer of collection items.
//!
//! Every write reads the items it affects, plans their new versions (with the derived
//! values, index keys, change times and counter deltas that follow), and commits the plan in
//! `TransactWriteItems` calls, each item conditional on the version it was planned from. A
//! condition failure means a concurrent writer got there first: the whole operation is
//! planned again from fresh reads. Counters change in the same transaction as the items
//! they count, so they are exact at every commit.
//!
//! Plans larger than one transaction (a user with hundreds of memberships being
//! deactivated) commit in several; if a later one fails for good, the items already
//! committed are consistent on their own and re-running the same write completes the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::derive;
use super::error::sdk;
use super::item::{
    attr, counted, credit_balance_sk, entity_sk, live_item, membership_sk, role_assignment_sk, role_sk, tombstone_item,
    user_sk, CollectionRecord, NoDerived, RawItem, Stored,
};
use super::keys::{
    alias_pk, app_sk, credit_config_sk, tenant_pk, Collection, ACTIVE_TENANTS_PK, ALIAS_SK, CATALOG_PK, PROFILE_SK,
    REFS_SK, STATS_SK,
};
use super::query::Filter;
use super::reader::{self, ConfigScope, Counters};
use super::{Store, StoreError};
use crate::model::{
    AppCreditTotals, CatalogApp, CreditBalance, CreditConfig, Entitlement, Entity, EntityDerived, KindeOrgAlias,
    Membership, Problem, Role, RoleAssignment, Tenant, User, Validate,
};
use crate::time::Timestamp;

/// Tombstones expire (DynamoDB TTL) this many days after the deletion; the contract
/// promises at least 30.
pub const TOMBSTONE_TTL_DAYS: i64 = 35;
const MAX_ATTEMPTS: u32 = 8;
/// Items per transaction, leaving room for the counters update (limit 100).
const TRANSACTION_ITEMS: usize = 99;

const REC_USER_ID: &[&str] = &["rec", "userId"];
const REC_ENTITY_ID: &[&str] = &["rec", "entityId"];
const REC_ROLE_ID: &[&str] = &["rec", "roleId"];
const REC_PARENT_ID: &[&str] = &["rec", "parentEntityId"];

/// Where the writer gets "now" from. Seeding uses a fixed instant so that the same seed
/// produces byte-identical items.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system clock.
    System,
    /// Always this instant.
    Fixed(Timestamp),
}

impl Clock {
    /// The current instant of this clock.
    pub fn now(&self) -> Timestamp {
        match self {
            Self::System => Timestamp::now(),
            Self::Fixed(at) => *at,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The record did not exist (or was a tombstone) and now does.
    Created,
    /// The record changed.
    Updated,
    /// The record already had exactly this content; nothing was written.
    Unchanged,
    /// The record was replaced by a tombstone.
    Deleted,
    /// There was no live record to delete or change.
    NotFound,
}

/// A posting that changes an entity's per-app credit totals.
#[derive(Debug, Clone, PartialEq)]
pub enum CreditActivity {
    /// A ledger entry. Entries under `application_allocation:<appCode>` count towards that
    /// app's allocation (reversals are negative); others do not change app totals.
    Ledger {
        /// For example `application_allocation:crm`.
        operation_code: String,
        /// Signed amount.
        amount: Decimal,
        /// Who posted it.
        initiated_by: Option<String>,
        /// When it was posted.
        created_at: Timestamp,
    },
    /// A usage record: successful usage of `<appCode>.` operations counts as used credits.
    Usage {
        /// For example `crm.leads.create`.
        operation_code: String,
        /// Credits debited.
        credits_debited: Decimal,
        /// Whether the operation succeeded.
        success: bool,
        /// When it happened.
        created_at: Timestamp,
    },
}

enum Action {
    Put(RawItem),
    Delete,
    /// Bump `ver` only: the write read this item (or, for the `REFS` item, the absence of
    /// a referenced record), so a concurrent write of it must conflict with this one.
    Touch,
}

struct PlannedWrite {
    pk: String,
    sk: String,
    action: Action,
    expected_ver: Option<u64>,
    delta: Option<(Collection, i64, i64)>,
}

/// The item changes one write operation makes, before they are committed.
struct Plan {
    tenant_id: String,
    now: Timestamp,
    writes: Vec<PlannedWrite>,
}

impl Plan {
    fn new(tenant_id: &str, now: Timestamp) -> Self {
        Self { tenant_id: tenant_id.to_owned(), now, writes: Vec::new() }
    }

    /// Plans `rec` with `der` over `old`, unless that changes nothing.
    fn upsert<R: CollectionRecord>(
        &mut self,
        old: Option<&Stored<R, R::Derived>>,
        rec: R,
        der: R::Derived,
    ) -> Result<WriteOutcome, StoreError> {
        let was_live = old.and_then(Stored::live).is_some();
        if let Some(old) = old {
            if old.live() == Some(&rec) && old.der == der {
                return Ok(WriteOutcome::Unchanged);
            }
        }
        let new = live_item(&self.tenant_id, rec, der, self.now, old.map_or(1, |o| o.ver + 1));
        self.push(old, &new)?;
        Ok(if was_live { WriteOutcome::Updated } else { WriteOutcome::Created })
    }

    /// Plans new derived values for a live record (a no-op when they are unchanged).
    fn rederive<R: CollectionRecord>(
        &mut self,
        old: &Stored<R, R::Derived>,
        der: R::Derived,
    ) -> Result<(), StoreError> {
        if let Some(rec) = old.live() {
            self.upsert(Some(old), rec.clone(), der)?;
        }
        Ok(())
    }

    /// Plans the tombstone of a live record.
    fn tombstone<R: CollectionRecord>(&mut self, old: &Stored<R, R::Derived>) -> Result<WriteOutcome, StoreError> {
        let Some(rec) = old.live() else {
            return Ok(WriteOutcome::NotFound);
        };
        let expires = self.now.plus_millis(TOMBSTONE_TTL_DAYS * 86_400_000);
        let new = tombstone_item(&self.tenant_id, rec, self.now, expires, old.ver + 1);
        self.push(Some(old), &new)?;
        Ok(WriteOutcome::Deleted)
    }

    fn push<R: CollectionRecord>(
        &mut self,
        old: Option<&Stored<R, R::Derived>>,
        new: &Stored<R, R::Derived>,
    ) -> Result<(), StoreError> {
        let (old_listed, old_active) = counted(old);
        let (new_listed, new_active) = counted(Some(new));
        let listed = i64::from(new_listed) - i64::from(old_listed);
        let active = i64::from(new_active) - i64::from(old_active);
        self.writes.retain(|w| !(matches!(w.action, Action::Touch) && w.pk == new.pk && w.sk == new.sk));
        self.writes.push(PlannedWrite {
            pk: new.pk.clone(),
            sk: new.sk.clone(),
            action: Action::Put(new.to_item()?),
            expected_ver: old.map(|o| o.ver),
            delta: (listed != 0 || active != 0).then_some((R::COLLECTION, listed, active)),
        });
        Ok(())
    }

    fn push_plain<R: Serialize, D: Serialize>(
        &mut self,
        new: &Stored<R, D>,
        expected_ver: Option<u64>,
    ) -> Result<(), StoreError> {
        self.writes.push(PlannedWrite {
            pk: new.pk.clone(),
            sk: new.sk.clone(),
            action: Action::Put(new.to_item()?),
            expected_ver,
            delta: None,
        });
        Ok(())
    }
    /// Makes the plan conflict with any concurrent change of the item read at `ver`.
    fn touch(&mut self, pk: String, sk: String, ver: Option<u64>) {
        if self.writes.iter().any(|w| w.pk == pk && w.sk == sk) {
            return;
        }
        self.writes.push(PlannedWrite { pk, sk, action: Action::Touch, expected_ver: ver, delta: None });
    }

    /// Touches a record that was read, or the tenant's `REFS` item if it was absent.
    fn touch_read<R, D>(&mut self, read: Option<&Stored<R, D>>, refs: Option<u64>) {
        match read.filter(|stored| stored.live().is_some()) {
            Some(stored) => self.touch(stored.pk.clone(), stored.sk.clone(), Some(stored.ver)),
            None => self.touch_refs(refs),
        }
    }

    /// Touches the tenant's `REFS` item (read at version `refs`).
    fn touch_refs(&mut self, refs: Option<u64>) {
        self.touch(tenant_pk(&self.tenant_id), REFS_SK.to_owned(), refs);
    }

    fn push_delete(&mut self, pk: String, sk: String, expected_ver: u64) {
        self.writes.push(PlannedWrite {
            pk,
            sk,
            action: Action::Delete,
            expected_ver: Some(expected_ver),
            delta: None,
        });
    }
}

/// The writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    store: Store,
    clock: Clock,
}

impl Writer {
    /// A writer using `clock` for change times.
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// The store this writer writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    // ----- platform data -------------------------------------------------------------

    /// Creates or replaces an app of the catalog.
    pub async fn put_catalog_app(&self, app: &CatalogApp) -> Result<WriteOutcome, StoreError> {
        reject_problems(app.problems())?;
        self.retrying(|| self.try_put_plain(CATALOG_PK.to_owned(), app_sk(&app.app_code), app)).await
    }

    /// Creates or replaces a credit configuration: a tenant override when `tenantId` is
    /// set, a global one otherwise.
    pub async fn put_credit_config(&self, config: &CreditConfig) -> Result<WriteOutcome, StoreError> {
        reject_problems(config.problems())?;
        let scope = match &config.tenant_id {
            Some(tenant_id) => ConfigScope::Tenant(tenant_id),
            None => ConfigScope::Global,
        };
        self.retrying(|| self.try_put_plain(scope.partition(), credit_config_sk(&config.operation_code), config)).await
    }

    /// Creates or replaces a tenant's entitlement to an app.
    pub async fn put_entitlement(
        &self,
        tenant_id: &str,
        entitlement: &Entitlement,
    ) -> Result<WriteOutcome, StoreError> {
        reject_problems(entitlement.problems())?;
        self.retrying(|| self.try_put_plain(tenant_pk(tenant_id), app_sk(&entitlement.app_code), entitlement)).await
    }

    async fn try_put_plain<R>(&self, pk: String, sk: String, rec: &R) -> Result<WriteOutcome, StoreError>
    where
        R: Serialize + DeserializeOwned + PartialEq + Clone,
    {
        let old: Option<Stored<R, NoDerived>> = reader::get_stored(&self.store, pk.clone(), &sk).await?;
        if old.as_ref().and_then(Stored::live) == Some(rec) {
            return Ok(WriteOutcome::Unchanged);
        }
        let mut plan = Plan::new("", self.clock.now());
        let ver = old.as_ref().map_or(1, |o| o.ver + 1);
        plan.push_plain(&Stored::plain(pk, sk, rec.clone(), plan.now, ver), old.as_ref().map(|o| o.ver))?;
        self.commit(plan).await?;
        Ok(if old.is_some() { WriteOutcome::Updated } else { WriteOutcome::Created })
    }

    // ----- tenants ---------------------------------------------------------------------

    /// Creates or updates a tenant and its Kinde org alias in one transaction. Active
    /// tenants also carry the `activeTenants` index key.
    pub async fn put_tenant(&self, tenant: &Tenant) -> Result<WriteOutcome, StoreError> {
        reject_problems(tenant.problems())?;
        self.retrying(|| self.try_put_tenant(tenant)).await
    }

    async fn try_put_tenant(&self, tenant: &Tenant) -> Result<WriteOutcome, StoreError> {
        let old = reader::tenant(&self.store, &tenant.tenant_id).await?;
        let old_live = old.as_ref().and_then(Stored::live);
        if old_live == Some(tenant) {
            return Ok(WriteOutcome::Unchanged);
        }
        let alias: Option<Stored<KindeOrgAlias, NoDerived>> =
            reader::get_stored(&self.store, alias_pk(&tenant.kinde_org_id), ALIAS_SK).await?;
        if let Some(owner) = alias.as_ref().and_then(Stored::live) {
            if owner.tenant_id != tenant.tenant_id {
                return Err(StoreError::Rejected(format!(
                    "kindeOrgId {} already belongs to another tenant",
                    tenant.kinde_org_id
                )));
            }
        }
        let mut plan = Plan::new(&tenant.tenant_id, self.clock.now());
        let ver = old.as_ref().map_or(1, |o| o.ver + 1);
        let mut profile =
            Stored::plain(tenant_pk(&tenant.tenant_id), PROFILE_SK.to_owned(), tenant.clone(), plan.now, ver);
        if tenant.active() {
            profile.atpk = Some(ACTIVE_TENANTS_PK.to_owned());
            profile.atsk = Some(tenant.tenant_id.clone());
        }
        plan.push_plain(&profile, old.as_ref().map(|o| o.ver))?;
        if alias.is_none() {
            let rec = KindeOrgAlias { kinde_org_id: tenant.kinde_org_id.clone(), tenant_id: tenant.tenant_id.clone() };
            plan.push_plain(
                &Stored::plain(alias_pk(&tenant.kinde_org_id), ALIAS_SK.to_owned(), rec, plan.now, 1),
                None,
            )?;
        }
        if let Some(previous) = old_live.filter(|t| t.kinde_org_id != tenant.kinde_org_id) {
            let stale: Option<Stored<KindeOrgAlias, NoDerived>> =
                reader::get_stored(&self.store, alias_pk(&previous.kinde_org_id), ALIAS_SK).await?;
            if let Some(stale) = stale.filter(|a| a.live().is_some_and(|a| a.tenant_id == tenant.tenant_id)) {
                plan.push_delete(stale.pk, stale.sk, stale.ver);
            }
        }
        self.commit(plan).await?;
        Ok(if old_live.is_some() { WriteOutcome::Updated } else { WriteOutcome::Created })
    }

    // ----- users -----------------------------------------------------------------------

    /// Creates or updates a user. A new user makes its waiting memberships and role
    /// assignments listable; a change of `isActive` moves its memberships in or out of the
    /// active set (and advances their change time).
    pub async fn put_user(&self, tenant_id: &str, user: &User) -> Result<WriteOutcome, StoreError> {
        reject_problems(user.problems())?;
        self.retrying(|| self.try_put_user(tenant_id, user)).await
    }
    async fn try_put_user(&self, tenant_id: &str, user: &User) -> Result<WriteOutcome, StoreError> {
        let refs = self.refs_version(tenant_id).await?;
        let old = self.get::<User>(tenant_id, &user_sk(&user.user_id)).await?;
        let memberships = self.memberships_of_user(tenant_id, &user.user_id).await?;
        let der = derive::user(user, memberships.iter().filter_map(Stored::live));
        let previous = old.as_ref().and_then(Stored::live).cloned();
        let mut plan = Plan::new(tenant_id, self.clock.now());
        let outcome = plan.upsert(old.as_ref(), user.clone(), der)?;
        match previous {
            None => {
                plan.touch_refs(refs);
                for stored in &memberships {
                    let Some(membership) = stored.live() else {
                        continue;
                    };
                    let entity = self.live::<Entity>(tenant_id, &entity_sk(&membership.entity_id)).await?;
                    plan.rederive(stored, derive::membership(Some(user), entity.as_ref()))?;
                }
                for stored in self.role_assignments_of_user(tenant_id, &user.user_id).await? {
                    let Some(assignment) = stored.live() else {
                        continue;
                    };
                    let role = self.live::<Role>(tenant_id, &role_sk(&assignment.role_id)).await?;
                    plan.rederive(&stored, derive::role_assignment(true, role.is_some()))?;
                }
            }
            Some(previous) if previous.active() != user.active() => {
                for stored in &memberships {
                    let mut der = stored.der.clone();
                    der.user_active = user.active();
                    plan.rederive(stored, der)?;
                }
            }
            Some(_) => {}
        }
        self.commit(plan).await?;
        Ok(outcome)
    }

    /// Deletes a user, with the user's memberships and role assignments (each leaves its
    /// own tombstone).
    pub async fn delete_user(&self, tenant_id: &str, user_id: &str) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let Some(old) = self.get::<User>(tenant_id, &user_sk(user_id)).await? else {
                return Ok(WriteOutcome::NotFound);
            };
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let outcome = plan.tombstone(&old)?;
            plan.touch_refs(refs);
            for membership in self.memberships_of_user(tenant_id, user_id).await? {
                plan.tombstone(&membership)?;
            }
            for assignment in self.role_assignments_of_user(tenant_id, user_id).await? {
                plan.tombstone(&assignment)?;
            }
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    // ----- entities --------------------------------------------------------------------

    /// Creates or updates an entity, keeping its parents' child lists, its memberships'
    /// entity name and code, and its credit balance's allocation type in step.
    pub async fn put_entity(&self, tenant_id: &str, entity: &Entity) -> Result<WriteOutcome, StoreError> {
        reject_problems(entity.problems())?;
        self.retrying(|| self.try_put_entity(tenant_id, entity)).await
    }

    async fn try_put_entity(&self, tenant_id: &str, entity: &Entity) -> Result<WriteOutcome, StoreError> {
        let id = &entity.entity_id;
        let refs = self.refs_version(tenant_id).await?;
        let old = self.get::<Entity>(tenant_id, &entity_sk(id)).await?;
        let previous = old.as_ref().and_then(Stored::live).cloned();
        let der = match (&previous, &old) {
            (Some(_), Some(old)) => old.der.clone(),
            _ => {
                let children = self.related::<Entity>(tenant_id, "ENTITY#", REC_PARENT_ID, id).await?;
                let mut child_ids: Vec<String> =
                    children.iter().filter_map(Stored::live).map(|c| c.entity_id.clone()).collect();
                child_ids.sort();
                EntityDerived { child_ids }
            }
        };
        let mut plan = Plan::new(tenant_id, self.clock.now());
        let outcome = plan.upsert(old.as_ref(), entity.clone(), der)?;
        let old_parent = previous.as_ref().and_then(|p| p.parent_entity_id.clone());
        if previous.is_none() || old_parent != entity.parent_entity_id {
            plan.touch_refs(refs);
            if let Some(parent) = old_parent.filter(|p| Some(p) != entity.parent_entity_id.as_ref()) {
                self.plan_child_change(&mut plan, tenant_id, &parent, id, false).await?;
            }
            if let Some(parent) = &entity.parent_entity_id {
                self.plan_child_change(&mut plan, tenant_id, parent, id, true).await?;
            }
        }
        let renamed = previous
            .as_ref()
            .is_none_or(|p| p.entity_name != entity.entity_name || p.entity_code != entity.entity_code);
        if renamed {
            for stored in self.related::<Membership>(tenant_id, "MEMBER#", REC_ENTITY_ID, id).await? {
                let Some(membership) = stored.live() else {
                    continue;
                };
                let der = if previous.is_none() {
                    let user = self.live::<User>(tenant_id, &user_sk(&membership.user_id)).await?;
                    derive::membership(user.as_ref(), Some(entity))
                } else {
                    let mut der = stored.der.clone();
                    der.entity_name = Some(entity.entity_name.clone());
                    der.entity_code = entity.entity_code.clone();
                    der
                };
                plan.rederive(&stored, der)?;
            }
        }
        if previous.as_ref().is_none_or(|p| p.entity_type != entity.entity_type) {
            if let Some(balance) = self.get::<CreditBalance>(tenant_id, &credit_balance_sk(id)).await? {
                plan.rederive(&balance, derive::credit_balance(Some(entity)))?;
            }
        }
        self.commit(plan).await?;
        Ok(outcome)
    }

    async fn plan_child_change(
        &self,
        plan: &mut Plan,
        tenant_id: &str,
        parent_id: &str,
        child_id: &str,
        add: bool,
    ) -> Result<(), StoreError> {
        let Some(parent) = self.get::<Entity>(tenant_id, &entity_sk(parent_id)).await? else {
            return Ok(());
        };
        let mut children: BTreeSet<String> = parent.der.child_ids.iter().cloned().collect();
        if add {
            children.insert(child_id.to_owned());
        } else {
            children.remove(child_id);
        }
        plan.rederive(&parent, EntityDerived { child_ids: children.into_iter().collect() })
    }

    /// Deletes an entity, with the memberships in it and its credit balance. Its children
    /// keep their parent id (sync validation reports the dangling parent).
    pub async fn delete_entity(&self, tenant_id: &str, entity_id: &str) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let Some(old) = self.get::<Entity>(tenant_id, &entity_sk(entity_id)).await? else {
                return Ok(WriteOutcome::NotFound);
            };
            let Some(entity) = old.live().cloned() else {
                return Ok(WriteOutcome::NotFound);
            };
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let outcome = plan.tombstone(&old)?;
            plan.touch_refs(refs);
            if let Some(parent) = &entity.parent_entity_id {
                self.plan_child_change(&mut plan, tenant_id, parent, entity_id, false).await?;
            }
            let doomed = self.related::<Membership>(tenant_id, "MEMBER#", REC_ENTITY_ID, entity_id).await?;
            let doomed_ids: BTreeSet<String> =
                doomed.iter().filter_map(Stored::live).map(|m| m.membership_id.clone()).collect();
            let users: BTreeSet<String> = doomed.iter().filter_map(Stored::live).map(|m| m.user_id.clone()).collect();
            for membership in &doomed {
                plan.tombstone(membership)?;
            }
            for user_id in users {
                self.plan_employee_code(
                    &mut plan,
                    tenant_id,
                    &user_id,
                    |m| !doomed_ids.contains(&m.membership_id),
                    None,
                )
                .await?;
            }
            if let Some(balance) = self.get::<CreditBalance>(tenant_id, &credit_balance_sk(entity_id)).await? {
                plan.tombstone(&balance)?;
            }
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    // ----- roles -----------------------------------------------------------------------

    /// Creates or updates a role. A new role makes its waiting assignments listable.
    pub async fn put_role(&self, tenant_id: &str, role: &Role) -> Result<WriteOutcome, StoreError> {
        reject_problems(role.problems())?;
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let old = self.get::<Role>(tenant_id, &role_sk(&role.role_id)).await?;
            let existed = old.as_ref().and_then(Stored::live).is_some();
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let outcome = plan.upsert(old.as_ref(), role.clone(), derive::role(role))?;
            if !existed {
                plan.touch_refs(refs);
                for stored in self.related::<RoleAssignment>(tenant_id, "RA#", REC_ROLE_ID, &role.role_id).await? {
                    let Some(assignment) = stored.live() else {
                        continue;
                    };
                    let user = self.live::<User>(tenant_id, &user_sk(&assignment.user_id)).await?;
                    plan.rederive(&stored, derive::role_assignment(user.is_some(), true))?;
                }
            }
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Deletes a role and its assignments.
    pub async fn delete_role(&self, tenant_id: &str, role_id: &str) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let Some(old) = self.get::<Role>(tenant_id, &role_sk(role_id)).await? else {
                return Ok(WriteOutcome::NotFound);
            };
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let outcome = plan.tombstone(&old)?;
            plan.touch_refs(refs);
            for assignment in self.related::<RoleAssignment>(tenant_id, "RA#", REC_ROLE_ID, role_id).await? {
                plan.tombstone(&assignment)?;
            }
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Creates or updates a role assignment. Its user and role never change; an
    /// assignment whose user or role does not exist is stored but not listed.
    pub async fn put_role_assignment(
        &self,
        tenant_id: &str,
        assignment: &RoleAssignment,
    ) -> Result<WriteOutcome, StoreError> {
        reject_problems(assignment.problems())?;
        self.retrying(|| async {
            let sk = role_assignment_sk(&assignment.user_id, &assignment.assignment_id);
            let old = self.get::<RoleAssignment>(tenant_id, &sk).await?;
            if old.as_ref().and_then(Stored::live).is_some_and(|o| o.role_id != assignment.role_id) {
                return Err(StoreError::Rejected(
                    "roleId of a role assignment cannot change; delete and re-create it".into(),
                ));
            }
            let refs = self.refs_version(tenant_id).await?;
            let user = self.get::<User>(tenant_id, &user_sk(&assignment.user_id)).await?;
            let role = self.get::<Role>(tenant_id, &role_sk(&assignment.role_id)).await?;
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let der = derive::role_assignment(live_of(&user).is_some(), live_of(&role).is_some());
            let outcome = plan.upsert(old.as_ref(), assignment.clone(), der)?;
            if outcome != WriteOutcome::Unchanged {
                plan.touch_read(user.as_ref(), refs);
                plan.touch_read(role.as_ref(), refs);
            }
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Deletes a role assignment.
    pub async fn delete_role_assignment(
        &self,
        tenant_id: &str,
        user_id: &str,
        assignment_id: &str,
    ) -> Result<WriteOutcome, StoreError> {
        self.delete_leaf::<RoleAssignment>(tenant_id, &role_assignment_sk(user_id, assignment_id)).await
    }

    // ----- memberships -----------------------------------------------------------------

    /// Creates or updates a membership and, when it changes the user's employee code (R3),
    /// the user.
    pub async fn put_membership(&self, tenant_id: &str, membership: &Membership) -> Result<WriteOutcome, StoreError> {
        reject_problems(membership.problems())?;
        self.retrying(|| async {
            let sk = membership_sk(&membership.user_id, &membership.membership_id);
            let old = self.get::<Membership>(tenant_id, &sk).await?;
            if old.as_ref().and_then(Stored::live).is_some_and(|o| o.entity_id != membership.entity_id) {
                return Err(StoreError::Rejected(
                    "entityId of a membership cannot change; delete and re-create it".into(),
                ));
            }
            let refs = self.refs_version(tenant_id).await?;
            let user = self.get::<User>(tenant_id, &user_sk(&membership.user_id)).await?;
            let entity = self.get::<Entity>(tenant_id, &entity_sk(&membership.entity_id)).await?;
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let der = derive::membership(live_of(&user), live_of(&entity));
            let outcome = plan.upsert(old.as_ref(), membership.clone(), der)?;
            if outcome != WriteOutcome::Unchanged {
                plan.touch_read(user.as_ref(), refs);
                plan.touch_read(entity.as_ref(), refs);
            }
            let id = &membership.membership_id;
            self.plan_employee_code(
                &mut plan,
                tenant_id,
                &membership.user_id,
                |m| &m.membership_id != id,
                Some(membership),
            )
            .await?;
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Deletes a membership (and updates the user's employee code if it depended on it).
    pub async fn delete_membership(
        &self,
        tenant_id: &str,
        user_id: &str,
        membership_id: &str,
    ) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let Some(old) = self.get::<Membership>(tenant_id, &membership_sk(user_id, membership_id)).await? else {
                return Ok(WriteOutcome::NotFound);
            };
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let outcome = plan.tombstone(&old)?;
            self.plan_employee_code(&mut plan, tenant_id, user_id, |m| m.membership_id != membership_id, None).await?;
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Plans the user's employee code over the user's stored memberships that `keep`
    /// accepts, plus `extra` (the membership being written).
    async fn plan_employee_code(
        &self,
        plan: &mut Plan,
        tenant_id: &str,
        user_id: &str,
        keep: impl Fn(&Membership) -> bool,
        extra: Option<&Membership>,
    ) -> Result<(), StoreError> {
        let Some(user) = self.get::<User>(tenant_id, &user_sk(user_id)).await? else {
            return Ok(());
        };
        let Some(record) = user.live() else {
            return Ok(());
        };
        let stored = self.memberships_of_user(tenant_id, user_id).await?;
        let memberships = stored.iter().filter_map(Stored::live).filter(|m| keep(m)).chain(extra);
        plan.rederive(&user, derive::user(record, memberships))
    }

    // ----- credits ---------------------------------------------------------------------

    /// Creates or updates an entity's credit balance (including its per-app totals).
    pub async fn put_credit_balance(
        &self,
        tenant_id: &str,
        balance: &CreditBalance,
    ) -> Result<WriteOutcome, StoreError> {
        reject_problems(balance.problems())?;
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let old = self.get::<CreditBalance>(tenant_id, &credit_balance_sk(&balance.entity_id)).await?;
            let entity = self.get::<Entity>(tenant_id, &entity_sk(&balance.entity_id)).await?;
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let outcome = plan.upsert(old.as_ref(), balance.clone(), derive::credit_balance(live_of(&entity)))?;
            if outcome != WriteOutcome::Unchanged {
                plan.touch_read(entity.as_ref(), refs);
            }
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Deletes an entity's credit balance.
    pub async fn delete_credit_balance(&self, tenant_id: &str, entity_id: &str) -> Result<WriteOutcome, StoreError> {
        self.delete_leaf::<CreditBalance>(tenant_id, &credit_balance_sk(entity_id)).await
    }

    /// Deletes a record nothing else derives from (a role assignment, a credit balance).
    async fn delete_leaf<R: CollectionRecord>(&self, tenant_id: &str, sk: &str) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let Some(old) = self.get::<R>(tenant_id, sk).await? else {
                return Ok(WriteOutcome::NotFound);
            };
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let outcome = plan.tombstone(&old)?;
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Applies a ledger entry or usage record to the entity's per-app totals. The entity
    /// must have a balance (`NotFound` otherwise).
    pub async fn post_credit_activity(
        &self,
        tenant_id: &str,
        entity_id: &str,
        activity: &CreditActivity,
    ) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let Some(old) = self.get::<CreditBalance>(tenant_id, &credit_balance_sk(entity_id)).await? else {
                return Ok(WriteOutcome::NotFound);
            };
            let Some(mut balance) = old.live().cloned() else {
                return Ok(WriteOutcome::NotFound);
            };
            apply_credit_activity(&mut balance.app_totals, activity);
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let outcome = plan.upsert(Some(&old), balance, old.der.clone())?;
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    // ----- counters --------------------------------------------------------------------

    /// Overwrites the tenant's counters (sync validation repairs them with this when they
    /// drifted from the data).
    pub async fn replace_counters(&self, tenant_id: &str, counters: &Counters) -> Result<(), StoreError> {
        self.store
            .client()
            .put_item()
            .table_name(self.store.table())
            .set_item(Some(counters_item(tenant_id, counters)))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    // ----- plumbing --------------------------------------------------------------------

    async fn get<R: CollectionRecord>(
        &self,
        tenant_id: &str,
        sk: &str,
    ) -> Result<Option<Stored<R, R::Derived>>, StoreError> {
        reader::get_record::<R>(&self.store, tenant_id, sk).await
    }
    /// The version of the tenant's `REFS` item, read before anything it guards.
    async fn refs_version(&self, tenant_id: &str) -> Result<Option<u64>, StoreError> {
        let item = reader::get_item(&self.store, tenant_pk(tenant_id), REFS_SK).await?;
        Ok(item.and_then(|item| match item.get("ver") {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }))
    }

    async fn live<R: CollectionRecord>(&self, tenant_id: &str, sk: &str) -> Result<Option<R>, StoreError> {
        Ok(self.get::<R>(tenant_id, sk).await?.and_then(|s| s.rec.filter(|_| s.deleted != Some(true))))
    }

    /// Live records of a collection under `prefix` whose member at `path` equals `value`.
    async fn related<R: CollectionRecord>(
        &self,
        tenant_id: &str,
        prefix: &str,
        path: &'static [&'static str],
        value: &str,
    ) -> Result<Vec<Stored<R, R::Derived>>, StoreError> {
        let filters = [Filter::Equals(path, value.to_owned())];
        let items = reader::query_partition(&self.store, tenant_pk(tenant_id), prefix, &filters).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let stored: Stored<R, R::Derived> = Stored::from_item(item)?;
            if stored.live().is_some() {
                out.push(stored);
            }
        }
        Ok(out)
    }

    async fn memberships_of_user(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Vec<Stored<Membership, <Membership as CollectionRecord>::Derived>>, StoreError> {
        self.related::<Membership>(tenant_id, &format!("MEMBER#{user_id}#"), REC_USER_ID, user_id).await
    }

    async fn role_assignments_of_user(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Vec<Stored<RoleAssignment, <RoleAssignment as CollectionRecord>::Derived>>, StoreError> {
        self.related::<RoleAssignment>(tenant_id, &format!("RA#{user_id}#"), REC_USER_ID, user_id).await
    }

    /// Runs `attempt` until it does not conflict, with jittered backoff.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        for round in 0..MAX_ATTEMPTS {
            match attempt().await {
                Err(StoreError::Conflict) => {
                    let base = 10u64 << round.min(6);
                    let jitter = rand::random::<u64>() % base;
                    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
                }
                other => return other,
            }
        }
        Err(StoreError::Conflict)
    }

    /// Commits a plan, one transaction per chunk, counters updated with their items.
    async fn commit(&self, plan: Plan) -> Result<(), StoreError> {
        for chunk in plan.writes.chunks(TRANSACTION_ITEMS) {
            let mut items: Vec<TransactWriteItem> =
                chunk.iter().map(|w| self.transact_item(w)).collect::<Result<_, _>>()?;
            let mut deltas: BTreeMap<Collection, (i64, i64)> = BTreeMap::new();
            for (collection, listed, active) in chunk.iter().filter_map(|w| w.delta) {
                let entry = deltas.entry(collection).or_default();
                entry.0 += listed;
                entry.1 += active;
            }
            if let Some(update) = self.counters_update(&plan.tenant_id, &deltas)? {
                items.push(update);
            }
            if items.is_empty() {
                continue;
            }
            let result = self.store.client().transact_write_items().set_transact_items(Some(items)).send().await;
            if let Err(error) = result {
                if is_retryable_cancel(&error) {
                    return Err(StoreError::Conflict);
                }
                return Err(sdk(error));
            }
        }
        Ok(())
    }

    fn transact_item(&self, write: &PlannedWrite) -> Result<TransactWriteItem, StoreError> {
        let (condition, values) = match write.expected_ver {
            Some(ver) => ("#ver = :ver", Some(AttributeValue::N(ver.to_string()))),
            None => ("attribute_not_exists(#pk)", None),
        };
        let built = match &write.action {
            Action::Put(item) => {
                let mut put = Put::builder()
                    .table_name(self.store.table())
                    .set_item(Some(item.clone()))
                    .condition_expression(condition);
                put = if let Some(value) = values {
                    put.expression_attribute_names("#ver", "ver").expression_attribute_values(":ver", value)
                } else {
                    put.expression_attribute_names("#pk", attr::PK)
                };
                TransactWriteItem::builder().put(put.build().map_err(|e| StoreError::Request(e.to_string()))?).build()
            }
            Action::Touch => {
                let mut update = Update::builder()
                    .table_name(self.store.table())
                    .key(attr::PK, AttributeValue::S(write.pk.clone()))
                    .key(attr::SK, AttributeValue::S(write.sk.clone()))
                    .update_expression("ADD #ver :one")
                    .expression_attribute_names("#ver", "ver")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()));
                update = match write.expected_ver {
                    Some(ver) => update
                        .condition_expression("#ver = :ver")
                        .expression_attribute_values(":ver", AttributeValue::N(ver.to_string())),
                    None => update.condition_expression("attribute_not_exists(#ver)"),
                };
                let update = update.build().map_err(|e| StoreError::Request(e.to_string()))?;
                TransactWriteItem::builder().update(update).build()
            }
            Action::Delete => {
                let mut delete = Delete::builder()
                    .table_name(self.store.table())
                    .key(attr::PK, AttributeValue::S(write.pk.clone()))
                    .key(attr::SK, AttributeValue::S(write.sk.clone()))
                    .condition_expression(condition);
                delete = if let Some(value) = values {
                    delete.expression_attribute_names("#ver", "ver").expression_attribute_values(":ver", value)
                } else {
                    delete.expression_attribute_names("#pk", attr::PK)
                };
                TransactWriteItem::builder()
                    .delete(delete.build().map_err(|e| StoreError::Request(e.to_string()))?)
                    .build()
            }
        };
        Ok(built)
    }

    fn counters_update(
        &self,
        tenant_id: &str,
        deltas: &BTreeMap<Collection, (i64, i64)>,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        let mut clauses = Vec::new();
        let mut update = Update::builder()
            .table_name(self.store.table())
            .key(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
            .key(attr::SK, AttributeValue::S(STATS_SK.to_owned()));
        for (n, (collection, (listed, active))) in deltas.iter().enumerate() {
            let (listed_name, active_name) = Counters::attribute_names(*collection);
            for (m, (name, delta)) in [(listed_name, *listed), (active_name, *active)].into_iter().enumerate() {
                if delta == 0 {
                    continue;
                }
                let placeholder = format!("#c{n}_{m}");
                let value = format!(":c{n}_{m}");
                clauses.push(format!("{placeholder} {value}"));
                update = update
                    .expression_attribute_names(&placeholder, name)
                    .expression_attribute_values(&value, AttributeValue::N(delta.to_string()));
            }
        }
        if clauses.is_empty() {
            return Ok(None);
        }
        let update = update
            .update_expression(format!("ADD {}", clauses.join(", ")))
            .build()
            .map_err(|e| StoreError::Request(e.to_string()))?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }
}

/// Whether a cancelled transaction failed only on conditions or conflicts (worth planning
/// again) rather than on something a retry cannot fix.
fn is_retryable_cancel<R>(
    error: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> bool {
    let Some(service) = error.as_service_error() else {
        return false;
    };
    match service {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
            cancel,
        ) => cancel.cancellation_reasons().iter().all(|reason| {
            matches!(reason.code(), None | Some("None") | Some("ConditionalCheckFailed") | Some("TransactionConflict"))
        }),
        _ => false,
    }
}

/// The counters item with the given counts.
pub fn counters_item(tenant_id: &str, counters: &Counters) -> RawItem {
    let mut item = RawItem::new();
    item.insert(attr::PK.to_owned(), AttributeValue::S(tenant_pk(tenant_id)));
    item.insert(attr::SK.to_owned(), AttributeValue::S(STATS_SK.to_owned()));
    for collection in Collection::ALL {
        let counts = counters.get(collection);
        let (listed, active) = Counters::attribute_names(collection);
        item.insert(listed, AttributeValue::N(counts.listed.to_string()));
        item.insert(active, AttributeValue::N(counts.active.to_string()));
    }
    item
}

fn live_of<R, D>(stored: &Option<Stored<R, D>>) -> Option<&R> {
    stored.as_ref().and_then(Stored::live)
}

fn reject_problems(problems: Vec<Problem>) -> Result<(), StoreError> {
    if problems.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Err(StoreError::Rejected(text.join("; ")))
}

/// Applies one posting to per-app totals (the contract's sums, kept incrementally).
pub fn apply_credit_activity(totals: &mut BTreeMap<String, AppCreditTotals>, activity: &CreditActivity) {
    match activity {
        CreditActivity::Ledger { operation_code, amount, initiated_by, created_at } => {
            let Some(app) = operation_code.strip_prefix("application_allocation:") else {
                return;
            };
            let entry = totals.entry(app.to_owned()).or_default();
            entry.allocated += *amount;
            let later = entry.last_allocated_at.is_none_or(|last| *created_at >= last);
            if amount.is_sign_positive() && !amount.is_zero() && later {
                entry.last_allocated_at = Some(*created_at);
                entry.last_allocated_by = initiated_by.clone();
            }
        }
        CreditActivity::Usage { operation_code, credits_debited, success, .. } => {
            if !success {
                return;
            }
            let Some((app, _)) = operation_code.split_once('.') else {
                return;
            };
            totals.entry(app.to_owned()).or_default().used += *credits_debited;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[test]
    fn allocations_net_reversals_and_track_the_latest_positive_entry() {
        let mut totals = BTreeMap::new();
        let ledger = |amount: &str, by: &str, when: &str| CreditActivity::Ledger {
            operation_code: "application_allocation:crm".into(),
            amount: Decimal::from_str(amount).unwrap(),
            initiated_by: Some(by.into()),
            created_at: at(when),
        };
        apply_credit_activity(&mut totals, &ledger("100", "alice", "2026-01-02T00:00:00Z"));
        apply_credit_activity(&mut totals, &ledger("-30.5", "bob", "2026-01-03T00:00:00Z"));
        apply_credit_activity(&mut totals, &ledger("10", "carol", "2026-01-01T00:00:00Z"));
        let crm = &totals["crm"];
        assert_eq!(crm.allocated, Decimal::from_str("79.5").unwrap());
        assert_eq!(crm.last_allocated_by.as_deref(), Some("alice"));
        assert_eq!(crm.last_allocated_at, Some(at("2026-01-02T00:00:00Z")));
    }

    #[test]
    fn only_successful_usage_of_the_app_counts() {
        let mut totals = BTreeMap::new();
        let usage = |op: &str, amount: &str, success: bool| CreditActivity::Usage {
            operation_code: op.into(),
            credits_debited: Decimal::from_str(amount).unwrap(),
            success,
            created_at: at("2026-01-01T00:00:00Z"),
        };
        apply_credit_activity(&mut totals, &usage("crm.leads.create", "1.25", true));
        apply_credit_activity(&mut totals, &usage("crm.leads.create", "5", false));
        apply_credit_activity(&mut totals, &usage("hr.people.view", "0.0025", true));
        assert_eq!(totals["crm"].used, Decimal::from_str("1.25").unwrap());
        assert_eq!(totals["hr"].used, Decimal::from_str("0.0025").unwrap());
    }

    #[test]
    fn other_ledger_entries_leave_app_totals_alone() {
        let mut totals = BTreeMap::new();
        apply_credit_activity(
            &mut totals,
            &CreditActivity::Ledger {
                operation_code: "purchase".into(),
                amount: Decimal::from(500),
                initiated_by: None,
                created_at: at("2026-01-01T00:00:00Z"),
            },
        );
        assert!(totals.is_empty());
    }
}
