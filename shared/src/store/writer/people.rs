//! Users and their memberships, with the cascades between them: a user's memberships and
//! role assignments follow the user's existence and active flag, and a user's employee code
//! follows the user's memberships (R3).

use std::collections::BTreeSet;

use super::super::item::{entity_sk, membership_sk, user_sk, Stored};
use super::super::StoreError;
use super::plan::{Plan, Stage};
use super::reads::RefIndex;
use super::{reject_problems, reported, Admission, WriteOutcome, Writer};
use crate::model::{Entity, Membership, RoleAssignment, User, Validate};
use crate::store::derive;

impl Writer {
    /// Creates or updates a user. Its memberships and role assignments are brought in step
    /// with it on every write (existence, active flag), whatever changed, so a write also
    /// finishes a cascade an earlier, interrupted write left incomplete.
    pub async fn put_user(&self, tenant_id: &str, user: &User) -> Result<WriteOutcome, StoreError> {
        reject_problems(user.problems())?;
        self.retrying(|| self.try_put_user(tenant_id, user)).await
    }

    async fn try_put_user(&self, tenant_id: &str, user: &User) -> Result<WriteOutcome, StoreError> {
        let refs = self.refs_version(tenant_id).await?;
        let old = self.get::<User>(tenant_id, &user_sk(&user.user_id)).await?;
        if self.admit(old.as_ref())? == Admission::Stale {
            return Ok(WriteOutcome::Stale);
        }
        let memberships = self.referrers_full::<Membership>(tenant_id, RefIndex::User, &user.user_id).await?;
        let assignments = self.referrers::<RoleAssignment>(tenant_id, RefIndex::User, &user.user_id).await?;
        let waiting: Vec<String> = assignments.into_iter().filter(|a| !a.der.user_ok).map(|a| a.sk).collect();
        let waiting = self.batch_get::<RoleAssignment>(tenant_id, waiting).await?;

        let mut plan = self.plan_for(tenant_id, &user_sk(&user.user_id));
        plan.stage = Stage::Dependent;
        for stored in &memberships {
            let mut der = stored.der.clone();
            derive::membership_user_part(&mut der, Some(user));
            plan.rederive(stored, der);
        }
        for stored in &waiting {
            let mut der = stored.der.clone();
            der.user_ok = true;
            plan.rederive(stored, der);
        }
        plan.stage = Stage::Core;
        let der = derive::user(user, memberships.iter().filter_map(Stored::live));
        let outcome = plan.upsert(old.as_ref(), user.clone(), der)?;
        if old.as_ref().and_then(Stored::live).is_none() {
            plan.touch_refs(refs);
        }
        let wrote = plan.has_puts();
        self.commit(plan).await?;
        Ok(reported(outcome, wrote))
    }

    /// Deletes a user, with the user's memberships and role assignments (each leaves its
    /// own tombstone). Deleting a user that is already gone still deletes what an
    /// interrupted earlier delete left of its memberships and assignments.
    pub async fn delete_user(&self, tenant_id: &str, user_id: &str) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let old = self.get::<User>(tenant_id, &user_sk(user_id)).await?;
            if self.admit(old.as_ref())? == Admission::Stale {
                return Ok(WriteOutcome::Stale);
            }
            let memberships = self.referrers_full::<Membership>(tenant_id, RefIndex::User, user_id).await?;
            let assignments = self.referrers_full::<RoleAssignment>(tenant_id, RefIndex::User, user_id).await?;
            let mut plan = self.plan_for(tenant_id, &user_sk(user_id));
            plan.stage = Stage::Dependent;
            if self.cascades_deletes() {
                plan.tombstone_all(&memberships);
                plan.tombstone_all(&assignments);
            } else {
                for stored in &memberships {
                    let mut der = stored.der.clone();
                    derive::membership_user_part(&mut der, None);
                    plan.rederive(stored, der);
                }
                for stored in &assignments {
                    plan.rederive(stored, derive::role_assignment(false, stored.der.role_ok));
                }
            }
            let outcome = plan.finish_delete(old.as_ref(), refs);
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Creates or updates a membership and, when it changes the user's employee code (R3),
    /// the user. Its user and entity never change: a write naming another one is rejected
    /// (delete the membership and create a new one instead).
    pub async fn put_membership(&self, tenant_id: &str, membership: &Membership) -> Result<WriteOutcome, StoreError> {
        reject_problems(membership.problems())?;
        self.retrying(|| async {
            let old = self.get::<Membership>(tenant_id, &membership_sk(&membership.membership_id)).await?;
            if self.admit(old.as_ref())? == Admission::Stale {
                return Ok(WriteOutcome::Stale);
            }
            if let Some(stored) = old.as_ref().and_then(Stored::live) {
                immutable("membership", "userId", &stored.user_id, &membership.user_id)?;
                immutable("membership", "entityId", &stored.entity_id, &membership.entity_id)?;
            }
            let refs = self.refs_version(tenant_id).await?;
            let user = self.get::<User>(tenant_id, &user_sk(&membership.user_id)).await?;
            let entity = self.get::<Entity>(tenant_id, &entity_sk(&membership.entity_id)).await?;
            let mut plan = self.plan_for(tenant_id, &membership_sk(&membership.membership_id));
            let der = derive::membership(user.as_ref().and_then(Stored::live), entity.as_ref().and_then(Stored::live));
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
            let wrote = plan.has_puts();
            self.commit(plan).await?;
            Ok(reported(outcome, wrote))
        })
        .await
    }

    /// Deletes a membership (and updates the user's employee code if it depended on it).
    pub async fn delete_membership(&self, tenant_id: &str, membership_id: &str) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let sk = membership_sk(membership_id);
            let old = self.get::<Membership>(tenant_id, &sk).await?;
            if self.admit(old.as_ref())? == Admission::Stale {
                return Ok(WriteOutcome::Stale);
            }
            let live = old.as_ref().and_then(|o| o.live().map(|m| (o, m.user_id.clone())));
            let Some((old, user_id)) = live else {
                return self.delete_absent::<Membership>(tenant_id, &sk, old.as_ref()).await;
            };
            let mut plan = self.plan_for(tenant_id, &sk);
            let outcome = plan.tombstone(old);
            self.plan_employee_code(&mut plan, tenant_id, &user_id, |m| m.membership_id != membership_id, None).await?;
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Plans the user's employee code over the user's stored memberships that `keep`
    /// accepts, plus `extra` (the membership being written), in the plan's current stage.
    pub(super) async fn plan_employee_code(
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
        let stored = self.referrers_full::<Membership>(tenant_id, RefIndex::User, user_id).await?;
        let memberships = stored.iter().filter_map(Stored::live).filter(|m| keep(m)).chain(extra);
        plan.rederive(&user, derive::user(record, memberships));
        Ok(())
    }

    /// Plans the employee codes of `users` without the memberships in `leaving`.
    pub(super) async fn plan_employee_codes_without(
        &self,
        plan: &mut Plan,
        tenant_id: &str,
        users: &BTreeSet<String>,
        leaving: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        for user_id in users {
            self.plan_employee_code(plan, tenant_id, user_id, |m| !leaving.contains(&m.membership_id), None).await?;
        }
        Ok(())
    }
}

/// `Rejected` when a write would change a member that never changes.
pub(super) fn immutable(record: &str, member: &str, stored: &str, written: &str) -> Result<(), StoreError> {
    if stored == written {
        return Ok(());
    }
    Err(StoreError::Rejected(format!(
        "{member} of a {record} cannot change (stored {stored:?}, written {written:?}); delete the {record} and create a new one"
    )))
}
