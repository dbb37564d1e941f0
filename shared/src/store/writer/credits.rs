//! Credit balances and the postings that change their per-app totals.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::super::item::{credit_balance_sk, entity_sk};
use super::super::StoreError;
use super::plan::Plan;
use super::{reject_problems, WriteOutcome, Writer};
use crate::model::{AppCreditTotals, CreditBalance, Entity, Validate};
use crate::store::derive;
use crate::time::Timestamp;

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

impl Writer {
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
            let live_entity = entity.as_ref().and_then(|e| e.live());
            let mut plan = Plan::new(tenant_id, self.clock.now());
            let outcome = plan.upsert(old.as_ref(), balance.clone(), derive::credit_balance(live_entity))?;
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
