//! The audit trail: who did what to a tenant, when, and what came of it, for every sync
//! trigger and every write (the HTTP change routes and the ingest queue's batches).
//!
//! Each entry is an item of its own partition, `AUDIT#<yyyy-mm>#TENANT#<tenantId>` (or
//! `AUDIT#<yyyy-mm>#PLATFORM` for platform-wide records), sort key `<timestamp>#<ulid>`, kept
//! `AUDIT_RETENTION_DAYS` days (default 400, a DynamoDB TTL), and the same entry as one JSON
//! log line with `audit: true`, which the function's log group keeps for its own retention.
//! Outside the tenant's partition so that a busy tenant's trail never counts toward the
//! 10 GB item collection its records and indexes share, and one month per partition so that
//! no trail grows without bound; reading a tenant's month is one `Query`.
//!
//! Entries hold the caller's principal (a service name, a Kinde subject, the event source of
//! a queued change), counts and the platform's change ids, never a token, a record's data or
//! other personal data. Writing the entry is best effort: a failure is logged, and the
//! action it records is not undone.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::store::item::attr;
use crate::store::Store;
use crate::time::Timestamp;

/// Default of `AUDIT_RETENTION_DAYS`.
pub const DEFAULT_RETENTION_DAYS: i64 = 400;
/// Partition-key prefix of audit entries.
pub const AUDIT_PREFIX: &str = "AUDIT#";

/// The partition of the audit entries of `tenant_id` (`None`: platform-wide records) in the
/// month of `at`. The month comes first and has a fixed width, so no tenant id can make one
/// scope's key equal another's.
pub fn audit_pk(tenant_id: Option<&str>, at: Timestamp) -> String {
    let month = at.as_datetime().format("%Y-%m");
    match tenant_id {
        Some(tenant) => format!("{AUDIT_PREFIX}{month}#TENANT#{tenant}"),
        None => format!("{AUDIT_PREFIX}{month}#PLATFORM"),
    }
}

/// One audited action.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// What was done, for example `sync.trigger`.
    pub action: &'static str,
    /// The tenant it was done to; `None` for platform-wide records (tenants' profiles, the
    /// app catalog, global credit configurations).
    pub tenant_id: Option<String>,
    /// Who did it: the token's principal.
    pub principal: String,
    /// `service`, `kinde` or `queue`.
    pub caller_kind: &'static str,
    /// What came of it, for example `started`, `replayed`, `applied`, or the error code of a
    /// refusal (`tenant_inactive`, `validation_error`, ...).
    pub outcome: String,
    /// The sync run it concerns, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_id: Option<String>,
    /// The request it came with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What a write carried and what came of each change, for writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<ChangeCounts>,
    /// When.
    pub at: Timestamp,
}

/// What a write carried: how many changes of each record type, what came of them, and the
/// platform's own ids of the changes (its change log holds the data; the trail holds none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeCounts {
    /// Changes received.
    pub received: usize,
    /// Changes per record type (`user`, `entity`, ...).
    pub kinds: std::collections::BTreeMap<&'static str, usize>,
    /// Changes per outcome (`applied`, `unchanged`, `stale`, `rejected`, `failed`); empty
    /// when the write was refused as a whole.
    pub outcomes: std::collections::BTreeMap<&'static str, usize>,
    /// The `changeId`s sent, in order (changes without one are counted, not named).
    pub change_ids: Vec<String>,
}

impl ChangeCounts {
    /// The counts of `changes` as received, before any outcome.
    pub fn received<'a>(changes: impl IntoIterator<Item = &'a crate::ingest::Change>) -> Self {
        let mut counts = Self::default();
        for change in changes {
            counts.received += 1;
            *counts.kinds.entry(change.kind()).or_default() += 1;
            counts.change_ids.extend(change.change_id.clone());
        }
        counts
    }

    /// Adds `other`'s received changes (kinds and ids) to these.
    pub fn add(&mut self, other: Self) {
        self.received += other.received;
        for (kind, count) in other.kinds {
            *self.kinds.entry(kind).or_default() += count;
        }
        for (outcome, count) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += count;
        }
        self.change_ids.extend(other.change_ids);
    }

    /// Counts one change's outcome.
    pub fn count_outcome(&mut self, outcome: &'static str) {
        *self.outcomes.entry(outcome).or_default() += 1;
    }
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
        item.insert(attr::PK.to_owned(), AttributeValue::S(audit_pk(entry.tenant_id.as_deref(), entry.at)));
        let sk = format!("{}#{}", entry.at, ulid::Ulid::generate());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_partitions_are_per_month_and_scope_and_cannot_collide() {
        let at = Timestamp::parse("2026-12-31T23:59:59.999Z").unwrap();
        assert_eq!(audit_pk(Some("t1"), at), "AUDIT#2026-12#TENANT#t1");
        assert_eq!(audit_pk(None, at), "AUDIT#2026-12#PLATFORM");
        let next = at.plus_millis(1);
        assert_eq!(audit_pk(Some("t1"), next), "AUDIT#2027-01#TENANT#t1");
        // A tenant id that looks like another scope's key stays in its own partition.
        assert_ne!(audit_pk(Some("PLATFORM"), at), audit_pk(None, at));
        assert!(!audit_pk(Some("x"), at).starts_with(&crate::store::keys::tenant_pk("")));
    }

    #[test]
    fn change_counts_name_kinds_outcomes_and_ids_only() {
        let tenant = "11111111-1111-4111-8111-111111111111";
        let user = serde_json::json!({ "changeId": "c-1", "type": "user", "op": "upsert", "tenantId": tenant,
            "sourceVersion": 1, "record": { "userId": "u1", "email": "private@example.com",
            "lastName": "B", "createdAt": "2026-01-01T00:00:00Z" } });
        let mut unnamed = user.clone();
        // A plain (unversioned) line carries no change id.
        unnamed.as_object_mut().unwrap().remove("changeId");
        unnamed.as_object_mut().unwrap().remove("sourceVersion");
        let changes: Vec<_> = [user, unnamed].into_iter().map(|c| crate::ingest::Change::parse(c).unwrap()).collect();
        let mut counts = ChangeCounts::received(&changes);
        counts.count_outcome("applied");
        counts.count_outcome("applied");
        assert_eq!(counts.received, 2);
        assert_eq!(counts.kinds.get("user"), Some(&2));
        assert_eq!(counts.outcomes.get("applied"), Some(&2));
        assert_eq!(counts.change_ids, vec!["c-1".to_owned()]);
        assert!(!serde_json::to_string(&counts).unwrap().contains("private"), "no record data");
    }
}
