//! The item envelope every stored record lives in, and how each collection's records map
//! to keys.
//!
//! An item holds its keys and index keys at the top level, the record itself under `rec`
//! (exactly as written), the values the store derives under `der`, and bookkeeping:
//! `updatedAt` (the change time), `ver` (optimistic concurrency), and for tombstones
//! `deleted`, `deletedAt`, `ttl` and the identifying members under `ids`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::{index_key, sortable_int, sortable_text, tenant_pk, Collection};
use super::StoreError;
use crate::model::{
    CreditBalance, CreditBalanceDerived, Entity, EntityDerived, Membership, MembershipDerived, Role, RoleAssignment,
    RoleAssignmentDerived, RoleDerived, User, UserDerived,
};
use crate::time::Timestamp;

/// A raw DynamoDB item.
pub type RawItem = HashMap<String, AttributeValue>;

/// Base-table and index key attribute names.
pub mod attr {
    /// Partition key.
    pub const PK: &str = "PK";
    /// Sort key.
    pub const SK: &str = "SK";
    /// Sort key of the `byOrder` index.
    pub const OSK: &str = "OSK";
    /// Sort key of the `byActive` index.
    pub const ASK: &str = "ASK";
    /// Sort key of the `byChange` index.
    pub const CSK: &str = "CSK";
    /// Partition key of the sparse `activeTenants` index.
    pub const ATPK: &str = "ATPK";
    /// Sort key of the `activeTenants` index.
    pub const ATSK: &str = "ATSK";
    /// DynamoDB TTL attribute (epoch seconds) of tombstones.
    pub const TTL: &str = "ttl";
}

/// No derived values (tenant, catalog, config and entitlement items).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoDerived {}

/// A stored item of record type `R` with derived values `D`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored<R, D> {
    /// Partition key.
    #[serde(rename = "PK")]
    pub pk: String,
    /// Sort key.
    #[serde(rename = "SK")]
    pub sk: String,
    /// `byOrder` sort key: present on live, listable collection records.
    #[serde(rename = "OSK", default, skip_serializing_if = "Option::is_none")]
    pub osk: Option<String>,
    /// `byActive` sort key: present on live, listable, active collection records.
    #[serde(rename = "ASK", default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    /// `byChange` sort key: present on listed collection records and on tombstones.
    #[serde(rename = "CSK", default, skip_serializing_if = "Option::is_none")]
    pub csk: Option<String>,
    /// `activeTenants` partition key: present on active tenants' profiles only.
    #[serde(rename = "ATPK", default, skip_serializing_if = "Option::is_none")]
    pub atpk: Option<String>,
    /// `activeTenants` sort key.
    #[serde(rename = "ATSK", default, skip_serializing_if = "Option::is_none")]
    pub atsk: Option<String>,
    /// The record; absent on a tombstone.
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub rec: Option<R>,
    /// Values derived from other records.
    #[serde(default)]
    pub der: D,
    /// Change time: last change of the item's representation, or the deletion time.
    #[serde(rename = "updatedAt")]
    pub updated_at: Timestamp,
    /// Version, incremented by every write; writes are conditional on it.
    pub ver: u64,
    /// `true` on a tombstone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// When the record was deleted.
    #[serde(rename = "deletedAt", default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
    /// Epoch seconds after which DynamoDB may purge the tombstone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// Identifying members of a deleted record, reported in its tombstone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<BTreeMap<String, String>>,
}

fn none<R>() -> Option<R> {
    None
}

impl<R, D> Stored<R, D> {
    /// The live record, or `None` for a tombstone.
    pub fn live(&self) -> Option<&R> {
        if self.deleted == Some(true) {
            None
        } else {
            self.rec.as_ref()
        }
    }

    /// Whether this item is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        self.deleted == Some(true)
    }
}

impl<R: Serialize, D: Serialize> Stored<R, D> {
    /// Converts to a DynamoDB item.
    pub fn to_item(&self) -> Result<RawItem, StoreError> {
        Ok(serde_dynamo::to_item(self)?)
    }
}

impl<R: DeserializeOwned, D: DeserializeOwned + Default> Stored<R, D> {
    /// Converts from a DynamoDB item.
    pub fn from_item(item: RawItem) -> Result<Self, StoreError> {
        Ok(serde_dynamo::from_item(item)?)
    }
}

/// A record type of one of the paged collections: how it maps to keys, when it is listed,
/// when it is active, and what its tombstone reports.
pub trait CollectionRecord: Serialize + DeserializeOwned + Clone + PartialEq + Send + Sync + 'static {
    /// What the store derives for the record.
    type Derived: Serialize + DeserializeOwned + Clone + PartialEq + Default + Send + Sync + 'static;
    /// The collection the record belongs to.
    const COLLECTION: Collection;

    /// The record's id (the tiebreaker in every order).
    fn id(&self) -> &str;
    /// The base-table sort key.
    fn sort_key(&self) -> String;
    /// The components of the full-pull order before the id (already encoded).
    fn order_components(&self) -> Vec<String>;
    /// Whether the record is listed at all (assignments with a dangling user, role or
    /// entity are stored but not listed).
    fn listed(&self, _derived: &Self::Derived) -> bool {
        true
    }
    /// R1 for the collection.
    fn active(&self, derived: &Self::Derived) -> bool;
    /// The members a tombstone of this record carries besides `deleted` / `deletedAt`.
    fn identity(&self) -> BTreeMap<String, String>;

    /// `byOrder` sort key.
    fn order_key(&self) -> String {
        let components = self.order_components();
        let mut parts: Vec<&str> = components.iter().map(String::as_str).collect();
        parts.push(self.id());
        index_key(Self::COLLECTION, &parts)
    }
}

/// `byChange` sort key of a record or tombstone of `collection`.
pub fn change_key(collection: Collection, changed_at: Timestamp, id: &str) -> String {
    index_key(collection, &[&changed_at.to_string(), id])
}

/// Builds the item of a live collection record.
pub fn live_item<R: CollectionRecord>(
    tenant_id: &str,
    rec: R,
    der: R::Derived,
    updated_at: Timestamp,
    ver: u64,
) -> Stored<R, R::Derived> {
    let listed = rec.listed(&der);
    let order_key = rec.order_key();
    Stored {
        pk: tenant_pk(tenant_id),
        sk: rec.sort_key(),
        osk: listed.then(|| order_key.clone()),
        ask: (listed && rec.active(&der)).then_some(order_key),
        csk: listed.then(|| change_key(R::COLLECTION, updated_at, rec.id())),
        atpk: None,
        atsk: None,
        updated_at,
        ver,
        deleted: None,
        deleted_at: None,
        ttl: None,
        ids: None,
        rec: Some(rec),
        der,
    }
}

/// Builds the tombstone that replaces `rec`.
pub fn tombstone_item<R: CollectionRecord>(
    tenant_id: &str,
    rec: &R,
    deleted_at: Timestamp,
    expires_at: Timestamp,
    ver: u64,
) -> Stored<R, R::Derived> {
    Stored {
        pk: tenant_pk(tenant_id),
        sk: rec.sort_key(),
        osk: None,
        ask: None,
        csk: Some(change_key(R::COLLECTION, deleted_at, rec.id())),
        atpk: None,
        atsk: None,
        rec: None,
        der: R::Derived::default(),
        updated_at: deleted_at,
        ver,
        deleted: Some(true),
        deleted_at: Some(deleted_at),
        ttl: Some(expires_at.epoch_seconds()),
        ids: Some(rec.identity()),
    }
}

/// Whether a stored item counts as listed / active for the collection counters.
pub fn counted<R: CollectionRecord>(item: Option<&Stored<R, R::Derived>>) -> (bool, bool) {
    match item {
        Some(stored) => (stored.osk.is_some(), stored.ask.is_some()),
        None => (false, false),
    }
}

fn ids(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

impl CollectionRecord for User {
    type Derived = UserDerived;
    const COLLECTION: Collection = Collection::Users;

    fn id(&self) -> &str {
        &self.user_id
    }
    fn sort_key(&self) -> String {
        user_sk(&self.user_id)
    }
    fn order_components(&self) -> Vec<String> {
        vec![self.created_at.to_string()]
    }
    fn active(&self, _derived: &UserDerived) -> bool {
        User::active(self)
    }
    fn identity(&self) -> BTreeMap<String, String> {
        ids(&[("userId", &self.user_id)])
    }
}

impl CollectionRecord for Entity {
    type Derived = EntityDerived;
    const COLLECTION: Collection = Collection::Entities;

    fn id(&self) -> &str {
        &self.entity_id
    }
    fn sort_key(&self) -> String {
        entity_sk(&self.entity_id)
    }
    fn order_components(&self) -> Vec<String> {
        vec![sortable_int(self.level()), sortable_text(&self.entity_name)]
    }
    fn active(&self, _derived: &EntityDerived) -> bool {
        Entity::active(self)
    }
    fn identity(&self) -> BTreeMap<String, String> {
        ids(&[("orgCode", &self.entity_id)])
    }
}

impl CollectionRecord for Role {
    type Derived = RoleDerived;
    const COLLECTION: Collection = Collection::Roles;

    fn id(&self) -> &str {
        &self.role_id
    }
    fn sort_key(&self) -> String {
        role_sk(&self.role_id)
    }
    fn order_components(&self) -> Vec<String> {
        vec![sortable_int(self.priority.unwrap_or(0)), sortable_text(self.role_name.as_deref().unwrap_or(""))]
    }
    fn active(&self, _derived: &RoleDerived) -> bool {
        Role::active(self)
    }
    fn identity(&self) -> BTreeMap<String, String> {
        ids(&[("roleId", &self.role_id)])
    }
}

impl CollectionRecord for RoleAssignment {
    type Derived = RoleAssignmentDerived;
    const COLLECTION: Collection = Collection::RoleAssignments;

    fn id(&self) -> &str {
        &self.assignment_id
    }
    fn sort_key(&self) -> String {
        role_assignment_sk(&self.user_id, &self.assignment_id)
    }
    fn order_components(&self) -> Vec<String> {
        vec![self.assigned_at.to_string()]
    }
    fn listed(&self, derived: &RoleAssignmentDerived) -> bool {
        derived.refs_ok
    }
    fn active(&self, _derived: &RoleAssignmentDerived) -> bool {
        RoleAssignment::active(self)
    }
    fn identity(&self) -> BTreeMap<String, String> {
        ids(&[("assignmentId", &self.assignment_id), ("userId", &self.user_id), ("roleId", &self.role_id)])
    }
}

impl CollectionRecord for Membership {
    type Derived = MembershipDerived;
    const COLLECTION: Collection = Collection::Memberships;

    fn id(&self) -> &str {
        &self.membership_id
    }
    fn sort_key(&self) -> String {
        membership_sk(&self.user_id, &self.membership_id)
    }
    fn order_components(&self) -> Vec<String> {
        vec![self.created_at.to_string()]
    }
    fn listed(&self, derived: &MembershipDerived) -> bool {
        derived.refs_ok
    }
    fn active(&self, derived: &MembershipDerived) -> bool {
        self.membership_status == crate::model::MembershipStatus::Active && derived.user_active
    }
    fn identity(&self) -> BTreeMap<String, String> {
        ids(&[("assignmentId", &self.membership_id), ("userId", &self.user_id), ("entityId", &self.entity_id)])
    }
}

impl CollectionRecord for CreditBalance {
    type Derived = CreditBalanceDerived;
    const COLLECTION: Collection = Collection::CreditBalances;

    fn id(&self) -> &str {
        &self.entity_id
    }
    fn sort_key(&self) -> String {
        credit_balance_sk(&self.entity_id)
    }
    fn order_components(&self) -> Vec<String> {
        Vec::new()
    }
    fn active(&self, _derived: &CreditBalanceDerived) -> bool {
        CreditBalance::active(self)
    }
    fn identity(&self) -> BTreeMap<String, String> {
        ids(&[("entityId", &self.entity_id)])
    }
}

/// Base sort key of a user: `USER#<userId>`.
pub fn user_sk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

/// Base sort key of an entity: `ENTITY#<entityId>`.
pub fn entity_sk(entity_id: &str) -> String {
    format!("ENTITY#{entity_id}")
}

/// Base sort key of a role: `ROLE#<roleId>`.
pub fn role_sk(role_id: &str) -> String {
    format!("ROLE#{role_id}")
}

/// Base sort key of a role assignment: `RA#<userId>#<assignmentId>`, so a user's
/// assignments share a key prefix.
pub fn role_assignment_sk(user_id: &str, assignment_id: &str) -> String {
    format!("RA#{user_id}#{assignment_id}")
}

/// Base sort key of a membership: `MEMBER#<userId>#<membershipId>`.
pub fn membership_sk(user_id: &str, membership_id: &str) -> String {
    format!("MEMBER#{user_id}#{membership_id}")
}

/// Base sort key of a credit balance: `CREDIT#<entityId>` (one balance per entity).
pub fn credit_balance_sk(entity_id: &str) -> String {
    format!("CREDIT#{entity_id}")
}

impl<R> Stored<R, NoDerived> {
    /// An item outside the paged collections (tenant profile, alias, catalog app, credit
    /// config, entitlement): keys, record and bookkeeping, no index keys.
    pub fn plain(pk: String, sk: String, rec: R, updated_at: Timestamp, ver: u64) -> Self {
        Stored {
            pk,
            sk,
            osk: None,
            ask: None,
            csk: None,
            atpk: None,
            atsk: None,
            rec: Some(rec),
            der: NoDerived {},
            updated_at,
            ver,
            deleted: None,
            deleted_at: None,
            ttl: None,
            ids: None,
        }
    }
}
