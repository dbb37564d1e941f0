//! Credit balances and the postings that change their per-app totals.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::super::item::{credit_balance_sk, entity_sk};
use super::super::StoreError;
use super::{reject_problems, Admission, WriteOutcome, Writer};
use crate::model::{AppCreditTotals, CreditBalance, Entity, Validate};
use crate::store::derive;
use crate::time::Timestamp;

/// A posting that changes an entity's per-app credit totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "activity", rename_all = "camelCase", rename_all_fields = "camelCase")]
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

/// The rule for a versioned balance write: it carries no per-app totals (they come only from
/// postings, see [`Writer::put_credit_balance`]). Public so the bulk importer refuses exactly
/// what the writer refuses.
pub fn versioned_balance_carries_no_totals(balance: &CreditBalance) -> Result<(), StoreError> {
    if balance.app_totals.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Rejected(
            "appTotals: a versioned creditBalance carries none; send creditActivity postings".into(),
        ))
    }
}

impl Writer {
    /// Creates or updates an entity's credit balance (including its per-app totals).
    ///
    /// A versioned write (ingestion) carries no totals: they come only from postings
    /// ([`Self::post_credit_activity_once`]), which add up in any order, and the write keeps
    /// the stored ones. Snapshots and postings would otherwise not converge: a late snapshot
    /// would undo postings it does not know about.
    pub async fn put_credit_balance(
        &self,
        tenant_id: &str,
        balance: &CreditBalance,
    ) -> Result<WriteOutcome, StoreError> {
        reject_problems(balance.problems())?;
        if self.source.is_some() {
            versioned_balance_carries_no_totals(balance)?;
        }
        self.retrying(|| async {
            let refs = self.refs_version(tenant_id).await?;
            let sk = credit_balance_sk(&balance.entity_id);
            let old = self.get::<CreditBalance>(tenant_id, &sk).await?;
            if self.admit(old.as_ref())? == Admission::Stale {
                return Ok(WriteOutcome::Stale);
            }
            let entity = self.get::<Entity>(tenant_id, &entity_sk(&balance.entity_id)).await?;
            let live_entity = entity.as_ref().and_then(|e| e.live());
            let mut plan = self.plan_for(tenant_id, &sk);
            let mut record = balance.clone();
            if self.source.is_some() {
                record.app_totals =
                    old.as_ref().and_then(|o| o.live()).map(|b| b.app_totals.clone()).unwrap_or_default();
            }
            // Postings that arrived before the balance are applied now, and removed with it.
            // They exist only while no live balance does: a posting finding one applies to
            // it, and the write that creates it takes the kept ones (both touch `REFS`).
            let pending = match old.as_ref().and_then(|o| o.live()) {
                Some(_) => Vec::new(),
                None => self.pending_postings(tenant_id, &balance.entity_id).await?,
            };
            for posting in &pending {
                if let Some(kept) = posting.live() {
                    apply_credit_activity(&mut record.app_totals, &kept.activity);
                }
                plan.push_delete(posting.pk.clone(), posting.sk.clone(), posting.ver);
            }
            let outcome = plan.upsert(old.as_ref(), record, derive::credit_balance(live_entity))?;
            if outcome != WriteOutcome::Unchanged || !pending.is_empty() {
                plan.touch_read(entity.as_ref(), refs);
                // A posting kept concurrently touches the same guard, so one of the two re-plans.
                plan.touch_refs(refs);
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
