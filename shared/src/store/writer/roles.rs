//! Roles and role assignments: an assignment is listed once its user and role exist, and a
//! deleted role takes its assignments with it.

use super::super::item::{role_assignment_sk, role_sk, user_sk, Stored};
use super::super::StoreError;
use super::people::immutable;
use super::plan::Stage;
use super::reads::RefIndex;
use super::{reject_problems, reported, Admission, WriteOutcome, Writer};
use crate::model::{Role, RoleAssignment, User, Validate};
use crate::store::derive;

impl Writer {
    /// Creates or updates a role. Assignments waiting for it become listable, on every write
    /// of the role (so an interrupted earlier write is finished too).
    pub async fn put_role(&self, tenant_id: &str, role: &Role) -> Result<WriteOutcome, StoreError> {
        reject_problems(role.problems())?;
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let old = self.get::<Role>(tenant_id, &role_sk(&role.role_id)).await?;
            if self.admit(old.as_ref())? == Admission::Stale {
                return Ok(WriteOutcome::Stale);
            }
            let assignments = self.referrers::<RoleAssignment>(tenant_id, RefIndex::Parent, &role.role_id).await?;
            let waiting: Vec<String> = assignments.into_iter().filter(|a| !a.der.role_ok).map(|a| a.sk).collect();
            let mut plan = self.plan_for(tenant_id, &role_sk(&role.role_id));
            plan.stage = Stage::Dependent;
            for stored in self.batch_get::<RoleAssignment>(tenant_id, waiting).await? {
                let mut der = stored.der.clone();
                der.role_ok = true;
                plan.rederive(&stored, der);
            }
            plan.stage = Stage::Core;
            let outcome = plan.upsert(old.as_ref(), role.clone(), derive::role(role))?;
            if old.as_ref().and_then(Stored::live).is_none() {
                plan.touch_refs(refs);
            }
            let wrote = plan.has_puts();
            self.commit(plan).await?;
            Ok(reported(outcome, wrote))
        })
        .await
    }

    /// Deletes a role and its assignments (also those an interrupted earlier delete left).
    pub async fn delete_role(&self, tenant_id: &str, role_id: &str) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let old = self.get::<Role>(tenant_id, &role_sk(role_id)).await?;
            if self.admit(old.as_ref())? == Admission::Stale {
                return Ok(WriteOutcome::Stale);
            }
            let assignments = self.referrers_full::<RoleAssignment>(tenant_id, RefIndex::Parent, role_id).await?;
            let mut plan = self.plan_for(tenant_id, &role_sk(role_id));
            plan.stage = Stage::Dependent;
            if self.cascades_deletes() {
                plan.tombstone_all(&assignments);
            } else {
                for stored in &assignments {
                    plan.rederive(stored, derive::role_assignment(stored.der.user_ok, false));
                }
            }
            let outcome = plan.finish_delete(old.as_ref(), refs);
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }

    /// Creates or updates a role assignment. Its user and role never change (a write naming
    /// another one is rejected); an assignment whose user or role does not exist is stored
    /// but not listed.
    pub async fn put_role_assignment(
        &self,
        tenant_id: &str,
        assignment: &RoleAssignment,
    ) -> Result<WriteOutcome, StoreError> {
        reject_problems(assignment.problems())?;
        self.retrying(|| async {
            let sk = role_assignment_sk(&assignment.assignment_id);
            let old = self.get::<RoleAssignment>(tenant_id, &sk).await?;
            if self.admit(old.as_ref())? == Admission::Stale {
                return Ok(WriteOutcome::Stale);
            }
            if let Some(stored) = old.as_ref().and_then(Stored::live) {
                immutable("role assignment", "userId", &stored.user_id, &assignment.user_id)?;
                immutable("role assignment", "roleId", &stored.role_id, &assignment.role_id)?;
            }
            let refs = self.refs_version(tenant_id).await?;
            let user = self.get::<User>(tenant_id, &user_sk(&assignment.user_id)).await?;
            let role = self.get::<Role>(tenant_id, &role_sk(&assignment.role_id)).await?;
            let mut plan = self.plan_for(tenant_id, &sk);
            let exists = |read: Option<bool>| read.unwrap_or(false);
            let der = derive::role_assignment(
                exists(user.as_ref().map(|u| u.live().is_some())),
                exists(role.as_ref().map(|r| r.live().is_some())),
            );
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
        assignment_id: &str,
    ) -> Result<WriteOutcome, StoreError> {
        self.delete_leaf::<RoleAssignment>(tenant_id, &role_assignment_sk(assignment_id)).await
    }
}
