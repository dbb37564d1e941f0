//! The audit trail: who did what to a tenant, when, and what came of it, for every sync
//! trigger (and, once the platform writes through App Sync, every write).
//!
//! Each entry is an item in the tenant's partition, `AUDIT#<timestamp>#<ulid>`, kept
//! `AUDIT_RETENTION_DAYS` days (default 400, a DynamoDB TTL), and the same entry as one JSON
//! log line with `audit: true`, which the function's log group keeps for its own retention.
//! Entries hold the caller's principal (a service name or a Kinde subject), never a token
//! or personal data. Writing the entry is best effort: a failure is logged, and the action
//! it records is not undone.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::store::item::attr;
use crate::store::keys::tenant_pk;
use crate::store::Store;
use crate::time::Timestamp;

/// Default of `AUDIT_RETENTION_DAYS`.
pub const DEFAULT_RETENTION_DAYS: i64 = 400;
/// Sort-key prefix of audit entries.
pub const AUDIT_PREFIX: &str = "AUDIT#";

/// One audited action.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// What was done, for example `sync.trigger`.
    pub action: &'static str,
    /// The tenant it was done to.
    pub tenant_id: String,
    /// Who did it: the token's principal.
    pub principal: String,
    /// `service` or `kinde`.
    pub caller_kind: &'static str,
    /// What came of it, for example `started`, `replayed`, `in_progress`, `inactive`.
    pub outcome: String,
    /// The sync run it concerns, if any.
    pub sync_id: Option<String>,
    /// The request it came with.
    pub request_id: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// Writes audit entries.
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Store,
    retention_days: i64,
}

impl AuditLog {
    /// An audit log in `store`, keeping entries `retention_days` days.
    pub fn new(store: Store, retention_days: i64) -> Self {
        Self { store, retention_days }
    }

    /// `AUDIT_RETENTION_DAYS` (1 to 3650), default [`DEFAULT_RETENTION_DAYS`].
    pub fn from_lookup(
        store: Store,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        let days = match lookup("AUDIT_RETENTION_DAYS") {
            None => DEFAULT_RETENTION_DAYS,
            Some(text) => text.trim().parse().ok().filter(|d| (1..=3650).contains(d)).ok_or(
                crate::config::ConfigError::Invalid {
                    name: "AUDIT_RETENTION_DAYS",
                    reason: "must be days from 1 to 3650".into(),
                },
            )?,
        };
        Ok(Self::new(store, days))
    }

    /// Records `entry`: one item and one log line.
    pub async fn record(&self, entry: AuditEntry) {
        tracing::info!(audit = true, entry = %serde_json::to_string(&entry).unwrap_or_default(), "audit");
        if let Err(error) = self.put(&entry).await {
            tracing::warn!(%error, action = entry.action, "could not store an audit entry");
        }
    }

    async fn put(&self, entry: &AuditEntry) -> Result<(), crate::store::StoreError> {
        let mut item: crate::store::item::RawItem = serde_dynamo::to_item(entry)?;
        item.insert(attr::PK.to_owned(), AttributeValue::S(tenant_pk(&entry.tenant_id)));
        let sk = format!("{AUDIT_PREFIX}{}#{}", entry.at, ulid::Ulid::generate());
        item.insert(attr::SK.to_owned(), AttributeValue::S(sk));
        let expires = entry.at.epoch_seconds() + self.retention_days * 86_400;
        item.insert(attr::TTL.to_owned(), AttributeValue::N(expires.to_string()));
        self.store
            .client()
            .put_item()
            .table_name(self.store.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(crate::store::error::sdk)?;
        Ok(())
    }
}
