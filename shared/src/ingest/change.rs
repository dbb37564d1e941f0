//! The change format (`docs/ingest-format.md`, `docs/schemas/change.schema.json`): one
//! create, update or delete of one record as the platform sends it, parsed and validated.
//!
//! A plain import line (`type`, `tenantId`, `record`) is a change too: an upsert without a
//! version, which applies only where the platform has not sent the record yet.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::record::{record_of, Record};
use crate::model::id_problem;
use crate::store::writer::CreditActivity;
use crate::time::Timestamp;

/// Largest `sourceVersion`: what a JavaScript number holds exactly (2^53 - 1), since the
/// platform is a TypeScript service.
pub const MAX_SOURCE_VERSION: u64 = (1 << 53) - 1;

/// One change, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The platform's id of the change (required for versioned changes and postings).
    pub change_id: Option<String>,
    /// The record's version after the change in the platform (absent: a plain import line).
    pub source_version: Option<u64>,
    /// When the change happened in the platform (for the ingest lag).
    pub occurred_at: Option<Timestamp>,
    /// What the change does.
    pub action: Action,
}

/// What a change does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create or replace a record.
    Upsert(Box<Record>),
    /// Delete a tenant's record, named by its key.
    Delete {
        /// The tenant.
        tenant_id: String,
        /// The record.
        key: DeleteKey,
    },
    /// Post a ledger entry or usage record to an entity's credit totals, once per `changeId`.
    CreditActivity {
        /// The tenant.
        tenant_id: String,
        /// The entity whose balance it changes.
        entity_id: String,
        /// The posting.
        activity: CreditActivity,
    },
}

/// The identifying members of a deleted record: what its tombstone reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteKey {
    /// `{ "userId" }`.
    User { user_id: String },
    /// `{ "entityId" }`.
    Entity { entity_id: String },
    /// `{ "roleId" }`.
    Role { role_id: String },
    /// `{ "membershipId", "userId", "entityId" }`.
    Membership { membership_id: String, user_id: String, entity_id: String },
    /// `{ "assignmentId", "userId", "roleId" }`.
    RoleAssignment { assignment_id: String, user_id: String, role_id: String },
    /// `{ "entityId" }`.
    CreditBalance { entity_id: String },
}

impl DeleteKey {
    /// The members the record's tombstone carries (`store::item`'s identities).
    pub fn identity(&self) -> BTreeMap<String, String> {
        let pairs: Vec<(&str, &str)> = match self {
            Self::User { user_id } => vec![("userId", user_id)],
            Self::Entity { entity_id } => vec![("orgCode", entity_id)],
            Self::Role { role_id } => vec![("roleId", role_id)],
            Self::Membership { membership_id, user_id, entity_id } => {
                vec![("assignmentId", membership_id), ("userId", user_id), ("entityId", entity_id)]
            }
            Self::RoleAssignment { assignment_id, user_id, role_id } => {
                vec![("assignmentId", assignment_id), ("userId", user_id), ("roleId", role_id)]
            }
            Self::CreditBalance { entity_id } => vec![("entityId", entity_id)],
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }
}

impl Change {
    /// The change's `type`.
    pub fn kind(&self) -> &'static str {
        match &self.action {
            Action::Upsert(record) => record.kind(),
            Action::Delete { key, .. } => match key {
                DeleteKey::User { .. } => "user",
                DeleteKey::Entity { .. } => "entity",
                DeleteKey::Role { .. } => "role",
                DeleteKey::Membership { .. } => "membership",
                DeleteKey::RoleAssignment { .. } => "roleAssignment",
                DeleteKey::CreditBalance { .. } => "creditBalance",
            },
            Action::CreditActivity { .. } => "creditActivity",
        }
    }

    /// The tenant the change belongs to (`None` for platform-wide records).
    pub fn tenant_id(&self) -> Option<&str> {
        match &self.action {
            Action::Upsert(record) => record.tenant_id(),
            Action::Delete { tenant_id, .. } | Action::CreditActivity { tenant_id, .. } => Some(tenant_id),
        }
    }

    /// Whether the change is platform-wide (a catalog app, a global credit configuration, a
    /// tenant's profile): those go to `POST /changes`, every other type to its tenant's route.
    pub fn platform_wide(&self) -> bool {
        match &self.action {
            Action::Upsert(record) => {
                matches!(**record, Record::CatalogApp(_) | Record::Tenant(_)) || record.tenant_id().is_none()
            }
            Action::Delete { .. } | Action::CreditActivity { .. } => false,
        }
    }

    /// The record the change is about, as one string: changes with the same lane touch the
    /// same record (a posting and its balance share one), so they are applied one after the
    /// other, in the order sent, while other lanes proceed concurrently.
    pub fn lane(&self) -> String {
        let (kind, tenant, id) = match &self.action {
            Action::Upsert(record) => return record.identity(),
            Action::CreditActivity { tenant_id, entity_id, .. } => ("creditBalance", tenant_id, entity_id),
            Action::Delete { tenant_id, key } => {
                let id = match key {
                    DeleteKey::User { user_id } => user_id,
                    DeleteKey::Entity { entity_id } | DeleteKey::CreditBalance { entity_id } => entity_id,
                    DeleteKey::Role { role_id } => role_id,
                    DeleteKey::Membership { membership_id, .. } => membership_id,
                    DeleteKey::RoleAssignment { assignment_id, .. } => assignment_id,
                };
                (self.kind(), tenant_id, id)
            }
        };
        format!("{kind}\u{1f}{tenant}\u{1f}{id}")
    }

    /// Parses and validates one change (or plain import line) from its JSON.
    pub fn parse(value: serde_json::Value) -> Result<Self, String> {
        let envelope: Envelope = serde_json::from_value(value).map_err(|e| format!("not a valid change: {e}"))?;
        envelope.validate()
    }
}

/// The change as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    change_id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    op: Option<Op>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    source_version: Option<u64>,
    #[serde(default)]
    occurred_at: Option<String>,
    #[serde(default)]
    record: Option<serde_json::Value>,
    #[serde(default)]
    key: Option<serde_json::Value>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Op {
    Upsert,
    Delete,
}

impl Envelope {
    fn validate(self) -> Result<Change, String> {
        if let Some(id) = &self.change_id {
            if let Some(problem) = id_problem(id) {
                return Err(format!("changeId: {problem}"));
            }
        }
        if self.source_version.is_some_and(|v| v > MAX_SOURCE_VERSION) {
            return Err(format!("sourceVersion: at most {MAX_SOURCE_VERSION}"));
        }
        if self.source_version.is_some() && self.change_id.is_none() {
            return Err("changeId: required with a sourceVersion".into());
        }
        let occurred_at = match &self.occurred_at {
            Some(text) => Some(Timestamp::parse(text).map_err(|e| format!("occurredAt: {e}"))?),
            None => None,
        };
        if let Some(problem) = self.tenant_id.as_deref().and_then(id_problem) {
            return Err(format!("tenantId: {problem}"));
        }
        let tenant_id = self.tenant_id.clone();
        let op = self.op.unwrap_or(Op::Upsert);
        let action = match (self.kind.as_str(), op) {
            ("creditActivity", Op::Upsert) => self.credit_activity(tenant_id)?,
            ("creditActivity", Op::Delete) => {
                return Err("creditActivity: postings are not deleted; post a reversal".into())
            }
            (kind, Op::Upsert) => {
                if self.key.is_some() {
                    return Err("key: only deletes name a key; an upsert carries the record".into());
                }
                let record = self.record.clone().ok_or("record: required for an upsert")?;
                Action::Upsert(Box::new(record_of(kind, tenant_id.as_deref(), record)?))
            }
            (kind, Op::Delete) => {
                if self.record.is_some() {
                    return Err("record: a delete names its key, not the record".into());
                }
                let tenant_id = tenant_id.ok_or_else(|| format!("{kind} needs a tenantId"))?;
                let key = self.key.clone().ok_or("key: required for a delete")?;
                Action::Delete { tenant_id, key: delete_key(kind, key)? }
            }
        };
        Ok(Change { change_id: self.change_id, source_version: self.source_version, occurred_at, action })
    }

    fn credit_activity(&self, tenant_id: Option<String>) -> Result<Action, String> {
        let tenant_id = tenant_id.ok_or("creditActivity needs a tenantId")?;
        if self.change_id.is_none() {
            return Err("changeId: required for creditActivity (it applies once per changeId)".into());
        }
        let record = self.record.clone().ok_or("record: required for creditActivity")?;
        let posting: Posting = serde_json::from_value(record).map_err(|e| format!("record: {e}"))?;
        if let Some(problem) = id_problem(&posting.entity_id) {
            return Err(format!("record.entityId: {problem}"));
        }
        let created_at = Timestamp::parse(&posting.created_at).map_err(|e| format!("record.createdAt: {e}"))?;
        let amount = |value: Option<Decimal>, name: &str| -> Result<Decimal, String> {
            let value = value.ok_or_else(|| format!("record.{name}: required for a {} activity", posting.activity))?;
            if value.normalize().scale() > 4 {
                return Err(format!("record.{name}: must have at most 4 fractional digits"));
            }
            Ok(value)
        };
        let activity = match posting.activity.as_str() {
            "ledger" => CreditActivity::Ledger {
                operation_code: posting.operation_code,
                amount: amount(posting.amount, "amount")?,
                initiated_by: posting.initiated_by,
                created_at,
            },
            "usage" => CreditActivity::Usage {
                operation_code: posting.operation_code,
                credits_debited: amount(posting.credits_debited, "creditsDebited")?,
                success: posting.success.unwrap_or(true),
                created_at,
            },
            other => return Err(format!("record.activity: {other:?} is neither \"ledger\" nor \"usage\"")),
        };
        Ok(Action::CreditActivity { tenant_id, entity_id: posting.entity_id, activity })
    }
}

/// The record of a `creditActivity` change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Posting {
    entity_id: String,
    activity: String,
    operation_code: String,
    #[serde(default)]
    amount: Option<Decimal>,
    #[serde(default)]
    credits_debited: Option<Decimal>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    initiated_by: Option<String>,
    created_at: String,
}

/// The key of a delete of `kind`.
fn delete_key(kind: &str, key: serde_json::Value) -> Result<DeleteKey, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Members {
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        entity_id: Option<String>,
        #[serde(default)]
        role_id: Option<String>,
        #[serde(default)]
        membership_id: Option<String>,
        #[serde(default)]
        assignment_id: Option<String>,
    }
    let members: Members = serde_json::from_value(key).map_err(|e| format!("key: {e}"))?;
    let need = |value: &Option<String>, name: &str| -> Result<String, String> {
        let value = value.clone().ok_or_else(|| format!("key.{name}: required for a {kind} delete"))?;
        match id_problem(&value) {
            Some(problem) => Err(format!("key.{name}: {problem}")),
            None => Ok(value),
        }
    };
    let m = &members;
    let key = match kind {
        "user" => DeleteKey::User { user_id: need(&m.user_id, "userId")? },
        "entity" => DeleteKey::Entity { entity_id: need(&m.entity_id, "entityId")? },
        "role" => DeleteKey::Role { role_id: need(&m.role_id, "roleId")? },
        "membership" => DeleteKey::Membership {
            membership_id: need(&m.membership_id, "membershipId")?,
            user_id: need(&m.user_id, "userId")?,
            entity_id: need(&m.entity_id, "entityId")?,
        },
        "roleAssignment" => DeleteKey::RoleAssignment {
            assignment_id: need(&m.assignment_id, "assignmentId")?,
            user_id: need(&m.user_id, "userId")?,
            role_id: need(&m.role_id, "roleId")?,
        },
        "creditBalance" => DeleteKey::CreditBalance { entity_id: need(&m.entity_id, "entityId")? },
        "tenant" | "catalogApp" | "creditConfig" | "entitlement" => {
            return Err(format!("{kind}: cannot be deleted; send an upsert that deactivates it"))
        }
        other => return Err(format!("unknown type {other:?}")),
    };
    let expected = key.identity().len();
    let given = [&m.user_id, &m.entity_id, &m.role_id, &m.membership_id, &m.assignment_id]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if given != expected {
        return Err(format!("key: a {kind} key has exactly the members {:?}", key_members(&key)));
    }
    Ok(key)
}

/// The change-format names of a key's members.
fn key_members(key: &DeleteKey) -> Vec<&'static str> {
    match key {
        DeleteKey::User { .. } => vec!["userId"],
        DeleteKey::Entity { .. } | DeleteKey::CreditBalance { .. } => vec!["entityId"],
        DeleteKey::Role { .. } => vec!["roleId"],
        DeleteKey::Membership { .. } => vec!["membershipId", "userId", "entityId"],
        DeleteKey::RoleAssignment { .. } => vec!["assignmentId", "userId", "roleId"],
    }
}
