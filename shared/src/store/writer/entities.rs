//! Entities, with their cascades: parents' child lists, the entity part of their
//! memberships (name, code, existence), the allocation type of their credit balance, and on
//! deletion the memberships and balance themselves.

use std::collections::BTreeSet;

use super::super::item::{credit_balance_sk, entity_sk, Stored};
use super::super::StoreError;
use super::plan::{Plan, Stage};
use super::reads::RefIndex;
use super::{reject_problems, reported, Admission, WriteOutcome, Writer};
use crate::model::{CreditBalance, Entity, EntityDerived, Membership, Validate};
use crate::store::derive;

impl Writer {
    /// Creates or updates an entity. Its own child list, its parents' child lists, its
    /// memberships' entity name and code, and its credit balance's allocation type are
    /// compared with what they should be on every write and brought in step.
    pub async fn put_entity(&self, tenant_id: &str, entity: &Entity) -> Result<WriteOutcome, StoreError> {
        reject_problems(entity.problems())?;
        self.retrying(|| self.try_put_entity(tenant_id, entity)).await
    }

    async fn try_put_entity(&self, tenant_id: &str, entity: &Entity) -> Result<WriteOutcome, StoreError> {
        let id = &entity.entity_id;
        let refs = self.refs_version(tenant_id).await?;
        let old = self.get::<Entity>(tenant_id, &entity_sk(id)).await?;
        if self.admit(old.as_ref())? == Admission::Stale {
            return Ok(WriteOutcome::Stale);
        }
        let previous = old.as_ref().and_then(Stored::live).cloned();
        let mut child_ids = self.referrer_ids::<Entity>(tenant_id, RefIndex::Parent, id).await?;
        child_ids.sort();

        let mut plan = self.plan_for(tenant_id, &entity_sk(id));
        plan.stage = Stage::Dependent;
        let stale: Vec<String> = self
            .referrers::<Membership>(tenant_id, RefIndex::Parent, id)
            .await?
            .into_iter()
            .filter(|m| {
                !m.der.entity_ok
                    || m.der.entity_name.as_ref() != Some(&entity.entity_name)
                    || m.der.entity_code != entity.entity_code
            })
            .map(|m| m.sk)
            .collect();
        for stored in self.batch_get::<Membership>(tenant_id, stale).await? {
            let mut der = stored.der.clone();
            derive::membership_entity_part(&mut der, Some(entity));
            plan.rederive(&stored, der);
        }
        if let Some(balance) = self.get::<CreditBalance>(tenant_id, &credit_balance_sk(id)).await? {
            plan.rederive(&balance, derive::credit_balance(Some(entity)));
        }

        plan.stage = Stage::Core;
        let outcome = plan.upsert(old.as_ref(), entity.clone(), EntityDerived { child_ids })?;
        let old_parent = previous.as_ref().and_then(|p| p.parent_entity_id.clone());
        if previous.is_none() || old_parent != entity.parent_entity_id {
            plan.touch_refs(refs);
            if let Some(parent) = old_parent.filter(|p| Some(p) != entity.parent_entity_id.as_ref() && p != id) {
                self.plan_child_change(&mut plan, tenant_id, &parent, id, false).await?;
            }
        }
        // An entity naming itself as parent is a data problem validation reports; its own
        // write must not be replaced by a child-list update of its old version.
        if let Some(parent) = entity.parent_entity_id.as_ref().filter(|p| *p != id) {
            self.plan_child_change(&mut plan, tenant_id, parent, id, true).await?;
        }
        let wrote = plan.has_puts();
        self.commit(plan).await?;
        Ok(reported(outcome, wrote))
    }

    /// Plans `child_id` into (`add`) or out of the child list of `parent_id`, if the parent
    /// exists; nothing when the list already says so.
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
        plan.rederive(&parent, EntityDerived { child_ids: children.into_iter().collect() });
        Ok(())
    }

    /// Deletes an entity, with the memberships in it and its credit balance. Its children
    /// keep their parent id (sync validation reports the dangling parent). Deleting an
    /// entity that is already gone still deletes what an interrupted earlier delete left.
    pub async fn delete_entity(&self, tenant_id: &str, entity_id: &str) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let old = self.get::<Entity>(tenant_id, &entity_sk(entity_id)).await?;
            if self.admit(old.as_ref())? == Admission::Stale {
                return Ok(WriteOutcome::Stale);
            }
            let doomed = self.referrers_full::<Membership>(tenant_id, RefIndex::Parent, entity_id).await?;
            let balance = self.get::<CreditBalance>(tenant_id, &credit_balance_sk(entity_id)).await?;
            let leaving: BTreeSet<String> =
                doomed.iter().filter_map(Stored::live).map(|m| m.membership_id.clone()).collect();
            let users: BTreeSet<String> = doomed.iter().filter_map(Stored::live).map(|m| m.user_id.clone()).collect();

            let mut plan = self.plan_for(tenant_id, &entity_sk(entity_id));
            if self.cascades_deletes() {
                // Employee codes first: the memberships they leave out are how a rerun finds them.
                plan.stage = Stage::Early;
                self.plan_employee_codes_without(&mut plan, tenant_id, &users, &leaving).await?;
                plan.stage = Stage::Dependent;
                plan.tombstone_all(&doomed);
                plan.tombstone_all(balance.as_slice());
            } else {
                plan.stage = Stage::Dependent;
                for stored in &doomed {
                    let mut der = stored.der.clone();
                    derive::membership_entity_part(&mut der, None);
                    plan.rederive(stored, der);
                }
                if let Some(balance) = &balance {
                    plan.rederive(balance, derive::credit_balance(None));
                }
            }
            let outcome = plan.finish_delete(old.as_ref(), refs);
            let parent = old.as_ref().and_then(Stored::live).and_then(|e| e.parent_entity_id.clone());
            if let Some(parent) = parent {
                self.plan_child_change(&mut plan, tenant_id, &parent, entity_id, false).await?;
            }
            self.commit(plan).await?;
            Ok(outcome)
        })
        .await
    }
}
