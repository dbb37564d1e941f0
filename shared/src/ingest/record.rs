//! Records as the import format and the change format carry them: the record types, their
//! validation from JSON, and their write through the [`Writer`]. Shared by `import` (the
//! operator's files) and ingestion (the platform's changes).

use serde::de::DeserializeOwned;

use crate::model::{
    CatalogApp, CreditBalance, CreditConfig, Entitlement, Entity, Membership, Role, RoleAssignment, Tenant, User,
    Validate,
};
use crate::store::writer::{WriteOutcome, Writer};
use crate::store::StoreError;

/// One record of an import line or a change, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// An app of the catalog.
    CatalogApp(CatalogApp),
    /// A credit configuration (global when its `tenantId` is absent).
    CreditConfig(CreditConfig),
    /// A tenant.
    Tenant(Tenant),
    /// An entity of a tenant.
    Entity(String, Entity),
    /// A user of a tenant.
    User(String, User),
    /// A role of a tenant.
    Role(String, Role),
    /// A membership of a tenant.
    Membership(String, Membership),
    /// A role assignment of a tenant.
    RoleAssignment(String, RoleAssignment),
    /// A credit balance of a tenant.
    CreditBalance(String, CreditBalance),
    /// An entitlement of a tenant.
    Entitlement(String, Entitlement),
}

impl Record {
    /// The `type` name used in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CatalogApp(_) => "catalogApp",
            Self::CreditConfig(_) => "creditConfig",
            Self::Tenant(_) => "tenant",
            Self::Entity(..) => "entity",
            Self::User(..) => "user",
            Self::Role(..) => "role",
            Self::Membership(..) => "membership",
            Self::RoleAssignment(..) => "roleAssignment",
            Self::CreditBalance(..) => "creditBalance",
            Self::Entitlement(..) => "entitlement",
        }
    }

    /// The tenant a record belongs to, if it is tenant-scoped.
    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Self::CatalogApp(_) => None,
            Self::CreditConfig(config) => config.tenant_id.as_deref(),
            Self::Tenant(tenant) => Some(&tenant.tenant_id),
            Self::Entity(t, _)
            | Self::User(t, _)
            | Self::Role(t, _)
            | Self::Membership(t, _)
            | Self::RoleAssignment(t, _)
            | Self::CreditBalance(t, _)
            | Self::Entitlement(t, _) => Some(t),
        }
    }

    /// What identifies the record, for duplicate detection.
    pub fn identity(&self) -> String {
        let scope = self.tenant_id().unwrap_or("-");
        let id = match self {
            Self::CatalogApp(app) => app.app_code.clone(),
            Self::CreditConfig(config) => config.operation_code.clone(),
            Self::Tenant(tenant) => tenant.tenant_id.clone(),
            Self::Entity(_, e) => e.entity_id.clone(),
            Self::User(_, u) => u.user_id.clone(),
            Self::Role(_, r) => r.role_id.clone(),
            Self::Membership(_, m) => m.membership_id.clone(),
            Self::RoleAssignment(_, a) => a.assignment_id.clone(),
            Self::CreditBalance(_, b) => b.entity_id.clone(),
            Self::Entitlement(_, e) => e.app_code.clone(),
        };
        format!("{}\u{1f}{scope}\u{1f}{id}", self.kind())
    }

    /// Write order: platform data, tenants, then each tenant's records so that referenced
    /// records usually exist before the records that reference them (parents before
    /// children), which saves the writer follow-up updates.
    pub fn rank(&self) -> (u8, i64) {
        match self {
            Self::CatalogApp(_) => (0, 0),
            Self::CreditConfig(c) if c.tenant_id.is_none() => (1, 0),
            Self::Tenant(_) => (2, 0),
            Self::Entity(_, e) => (3, e.level()),
            Self::User(..) => (4, 0),
            Self::Role(..) => (5, 0),
            Self::Membership(..) => (6, 0),
            Self::RoleAssignment(..) => (7, 0),
            Self::CreditBalance(..) => (8, 0),
            Self::CreditConfig(_) => (9, 0),
            Self::Entitlement(..) => (10, 0),
        }
    }
}

/// The record of type `kind` (the import format's `type`) with `tenant_id` beside it,
/// validated: shape, values, and that tenant-scoped types name a tenant and platform ones
/// do not.
pub fn record_of(kind: &str, tenant_id: Option<&str>, record: serde_json::Value) -> Result<Record, String> {
    let tenant = |kind: &str| -> Result<String, String> {
        match tenant_id {
            Some(t) if !t.is_empty() => Ok(t.to_owned()),
            _ => Err(format!("{kind} needs a tenantId")),
        }
    };
    let no_tenant = |kind: &str| -> Result<(), String> {
        match tenant_id {
            Some(_) => Err(format!("{kind} takes no tenantId beside the record")),
            None => Ok(()),
        }
    };
    let parsed = match kind {
        "catalogApp" => no_tenant("catalogApp").and_then(|_| valid(record).map(Record::CatalogApp)),
        "creditConfig" => {
            no_tenant("creditConfig (put tenantId in the record)").and_then(|_| valid(record).map(Record::CreditConfig))
        }
        "tenant" => no_tenant("tenant").and_then(|_| valid(record).map(Record::Tenant)),
        "entity" => tenant("entity").and_then(|t| valid(record).map(|r| Record::Entity(t, r))),
        "user" => tenant("user").and_then(|t| valid(record).map(|r| Record::User(t, r))),
        "role" => tenant("role").and_then(|t| valid(record).map(|r| Record::Role(t, r))),
        "membership" => tenant("membership").and_then(|t| valid(record).map(|r| Record::Membership(t, r))),
        "roleAssignment" => tenant("roleAssignment").and_then(|t| valid(record).map(|r| Record::RoleAssignment(t, r))),
        "creditBalance" => tenant("creditBalance").and_then(|t| valid(record).map(|r| Record::CreditBalance(t, r))),
        "entitlement" => tenant("entitlement").and_then(|t| valid(record).map(|r| Record::Entitlement(t, r))),
        other => Err(format!("unknown type {other:?}")),
    }?;
    if let Some(tenant) = parsed.tenant_id() {
        if let Some(problem) = crate::model::id_problem(tenant) {
            return Err(format!("tenantId: {problem}"));
        }
    }
    Ok(parsed)
}

fn valid<R: DeserializeOwned + Validate>(value: serde_json::Value) -> Result<R, String> {
    let record: R = serde_json::from_value(value).map_err(|e| format!("record: {e}"))?;
    let problems = record.problems();
    if problems.is_empty() {
        Ok(record)
    } else {
        Err(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    }
}

/// Writes `record` through `writer` (versioned or not, as the writer is).
pub async fn write(writer: &Writer, record: &Record) -> Result<WriteOutcome, StoreError> {
    match record {
        Record::CatalogApp(app) => writer.put_catalog_app(app).await,
        Record::CreditConfig(config) => writer.put_credit_config(config).await,
        Record::Tenant(tenant) => writer.put_tenant(tenant).await,
        Record::Entity(t, entity) => writer.put_entity(t, entity).await,
        Record::User(t, user) => writer.put_user(t, user).await,
        Record::Role(t, role) => writer.put_role(t, role).await,
        Record::Membership(t, membership) => writer.put_membership(t, membership).await,
        Record::RoleAssignment(t, assignment) => writer.put_role_assignment(t, assignment).await,
        Record::CreditBalance(t, balance) => writer.put_credit_balance(t, balance).await,
        Record::Entitlement(t, entitlement) => writer.put_entitlement(t, entitlement).await,
    }
}
