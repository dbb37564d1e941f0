//! Credit postings: ledger entries and usage records added to a balance's per-app totals,
//! at most once per `changeId` when they come from ingestion, and kept until their balance
//! arrives when it is not stored yet.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::super::item::{attr, credit_balance_sk, NoDerived, Stored};
use super::super::keys::{
    pending_posting_prefix, pending_posting_sk, posting_marker_sk, tenant_pk, POSTING_MARKER_DAYS,
};
use super::super::{reader, StoreError};
use super::credits::{apply_credit_activity, CreditActivity};
use super::plan::Plan;
use super::{WriteOutcome, Writer};
use crate::model::CreditBalance;

/// A posting kept until its balance arrives (`PENDING#<entityId>#<changeId>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct PendingPosting {
    /// The posting.
    pub activity: CreditActivity,
}

impl Writer {
    /// Applies a ledger entry or usage record to the entity's per-app totals. The entity
    /// must have a balance (`NotFound` otherwise).
    pub async fn post_credit_activity(
        &self,
        tenant_id: &str,
        entity_id: &str,
        activity: &CreditActivity,
    ) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| self.try_post(tenant_id, entity_id, activity, None)).await
    }

    /// [`Self::post_credit_activity`] at most once per `change_id`: the transaction that
    /// changes the totals also creates a marker item for the change (kept
    /// [`POSTING_MARKER_DAYS`]), and a posting whose marker exists is `Unchanged`. A
    /// redelivered or replayed posting therefore counts once. A posting for a balance not
    /// stored (yet, or any more) is kept, with its marker, and applied by the write that
    /// stores the balance (`Created`).
    pub async fn post_credit_activity_once(
        &self,
        tenant_id: &str,
        entity_id: &str,
        activity: &CreditActivity,
        change_id: &str,
    ) -> Result<WriteOutcome, StoreError> {
        self.retrying(|| self.try_post(tenant_id, entity_id, activity, Some(change_id))).await
    }

    async fn try_post(
        &self,
        tenant_id: &str,
        entity_id: &str,
        activity: &CreditActivity,
        change_id: Option<&str>,
    ) -> Result<WriteOutcome, StoreError> {
        if let Some(change_id) = change_id {
            let marker = reader::get_item(&self.store, tenant_pk(tenant_id), &posting_marker_sk(change_id)).await?;
            if marker.is_some() {
                return Ok(WriteOutcome::Unchanged);
            }
        }
        let refs = self.refs_version(tenant_id).await?;
        let old = self.get::<CreditBalance>(tenant_id, &credit_balance_sk(entity_id)).await?;
        let mut plan = Plan::new(tenant_id, self.clock.now());
        let live = old.as_ref().and_then(|o| o.live().map(|balance| (o, balance.clone())));
        let Some((old_balance, mut balance)) = live else {
            let Some(change_id) = change_id else {
                return Ok(WriteOutcome::NotFound);
            };
            self.keep_pending(&mut plan, tenant_id, entity_id, activity, change_id);
            plan.touch_refs(refs);
            let checks = vec![
                self.posting_marker(tenant_id, change_id)?,
                self.balance_unchanged(tenant_id, entity_id, old.as_ref())?,
            ];
            self.commit_with_checks(plan, checks).await?;
            return Ok(WriteOutcome::Created);
        };
        apply_credit_activity(&mut balance.app_totals, activity);
        let outcome = plan.upsert(Some(old_balance), balance, old_balance.der.clone())?;
        let markers = match change_id {
            Some(change_id) => vec![self.posting_marker(tenant_id, change_id)?],
            None => Vec::new(),
        };
        self.commit_with_checks(plan, markers).await?;
        Ok(outcome)
    }

    /// Plans the item that keeps a posting until its balance arrives.
    fn keep_pending(
        &self,
        plan: &mut Plan,
        tenant_id: &str,
        entity_id: &str,
        activity: &CreditActivity,
        change_id: &str,
    ) {
        let sk = pending_posting_sk(entity_id, change_id);
        let mut item =
            Stored::plain(tenant_pk(tenant_id), sk, PendingPosting { activity: activity.clone() }, plan.now, 1);
        item.ttl = Some(plan.now.millis() / 1000 + POSTING_MARKER_DAYS * 86_400);
        plan.push_plain(item, None);
    }

    /// The postings kept for `entity_id`'s balance.
    pub(super) async fn pending_postings(
        &self,
        tenant_id: &str,
        entity_id: &str,
    ) -> Result<Vec<Stored<PendingPosting, NoDerived>>, StoreError> {
        let mut items = Vec::new();
        reader::stream_prefix(&self.store, &tenant_pk(tenant_id), &pending_posting_prefix(entity_id), &[], |page| {
            items.extend(page);
            Ok(())
        })
        .await?;
        items.into_iter().map(Stored::from_item).collect()
    }

    /// The marker of an applied posting, created only if it does not exist (a concurrent
    /// delivery of the same posting makes one of the two transactions fail and re-plan).
    fn posting_marker(&self, tenant_id: &str, change_id: &str) -> Result<TransactWriteItem, StoreError> {
        let expires = self.clock.now().millis() / 1000 + POSTING_MARKER_DAYS * 86_400;
        let put = Put::builder()
            .table_name(self.store.table())
            .item(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
            .item(attr::SK, AttributeValue::S(posting_marker_sk(change_id)))
            .item(attr::TTL, AttributeValue::N(expires.to_string()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .build()
            .map_err(|e| StoreError::Request(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A check that the balance is still as it was read (absent, or at its version).
    fn balance_unchanged(
        &self,
        tenant_id: &str,
        entity_id: &str,
        read: Option<&Stored<CreditBalance, crate::model::CreditBalanceDerived>>,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(self.store.table())
            .key(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
            .key(attr::SK, AttributeValue::S(credit_balance_sk(entity_id)))
            .expression_attribute_names("#pk", attr::PK);
        let check = match read {
            Some(stored) => check
                .condition_expression("#ver = :ver")
                .expression_attribute_names("#ver", "ver")
                .expression_attribute_values(":ver", AttributeValue::N(stored.ver.to_string())),
            None => check.condition_expression("attribute_not_exists(#pk)"),
        };
        let check = check.build().map_err(|e| StoreError::Request(e.to_string()))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}
