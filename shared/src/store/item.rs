//! The item envelope every stored record lives in, and how each collection's records map
//! to keys.
//!
//! An item holds its keys and index keys at the top level, the record itself under `rec`
//! (exactly as written), the values the store derives under `der`, the identifying members
//! under `ids` (on live records and tombstones alike, so filters on them see both), and
//! bookkeeping: `updatedAt` (the change time), `ver` (optimistic concurrency), and for
//! tombstones `deleted`, `deletedAt` and `ttl`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::{
    epoch_day, id_of_record_key, index_key, record_key, sortable_int, sortable_text, tenant_pk, tombstone_expiry,
    Collection,
};
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
    /// Sort key of the `byUser` index: the user a membership or role assignment belongs to.
    pub const USK: &str = "USK";
    /// Sort key of the `byRef` index: an entity's parent, a membership's entity, a role
    /// assignment's role.
    pub const RSK: &str = "RSK";
    /// The identifying members of a record (live or deleted).
    pub const IDS: &str = "ids";
    /// Partition key of the sparse `activeTenants` index.
    pub const ATPK: &str = "ATPK";
    /// Sort key of the `activeTenants` index.
    pub const ATSK: &str = "ATSK";
    /// DynamoDB TTL attribute (epoch seconds) of tombstones.
    pub const TTL: &str = "ttl";
    /// The source version a record came from (`writer::versions`).
    pub const SV: &str = "sv";
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
    /// `byChange` sort key: present on every collection record, live (listed or not) or
    /// deleted, so no change ever leaves the change index.
    #[serde(rename = "CSK", default, skip_serializing_if = "Option::is_none")]
    pub csk: Option<String>,
    /// `byUser` sort key: on live memberships and role assignments.
    #[serde(rename = "USK", default, skip_serializing_if = "Option::is_none")]
    pub usk: Option<String>,
    /// `byRef` sort key: on live entities with a parent, memberships and role assignments.
    #[serde(rename = "RSK", default, skip_serializing_if = "Option::is_none")]
    pub rsk: Option<String>,
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
    /// Identifying members of the record (reported in its tombstone; filters match on them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<BTreeMap<String, String>>,
    /// The platform's `sourceVersion` of the change this record (or tombstone) came from;
    /// absent for records written without one (seed, plain import lines). A change applies
    /// only when its version is newer (`writer::versions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sv: Option<u64>,
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
    /// Converts from a DynamoDB item (by reference: [`super::decode`]).
    pub fn from_item(item: RawItem) -> Result<Self, StoreError> {
        Self::from_attributes(&item)
    }

    /// Converts from a DynamoDB item without taking it.
    pub fn from_attributes(item: &RawItem) -> Result<Self, StoreError> {
        Ok(super::decode::from_attributes(item)?)
    }
}

/// A record type of one of the paged collections: how it maps to keys, when it is listed,
/// when it is active, and what its tombstone reports.
pub trait CollectionRecord: Serialize + DeserializeOwned + Clone + PartialEq + Send + Sync + 'static {
    /// What the store derives for the record.
    type Derived: Serialize + DeserializeOwned + Clone + PartialEq + Default + Send + Sync + 'static;
    /// The collection the record belongs to.
    const COLLECTION: Collection;

    /// The record's id (the tiebreaker in every order, and its base sort key).
    fn id(&self) -> &str;
    /// The base-table sort key: `<PREFIX>#<id>`.
    fn sort_key(&self) -> String {
        record_key(Self::COLLECTION, self.id())
    }
    /// The user the record belongs to, for the `byUser` index.
    fn user_ref(&self) -> Option<&str> {
        None
    }
    /// The record it hangs under, for the `byRef` index (parent entity, entity, role).
    fn parent_ref(&self) -> Option<&str> {
        None
    }
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

impl<R: CollectionRecord> Stored<R, R::Derived> {
    /// The record's id, read from the base sort key (so tombstones have one too).
    pub fn record_id(&self) -> &str {
        id_of_record_key(R::COLLECTION, &self.sk).unwrap_or(&self.sk)
    }

    /// This item with its change time (and, for a tombstone, its deletion time and expiry)
    /// set to `at` and its version to `ver`. The writer builds plans first and stamps their
    /// items only when it sends them (see `writer::commit`).
    pub fn stamped(&self, at: Timestamp, ver: u64) -> Self {
        let mut item = self.clone();
        item.updated_at = at;
        item.ver = ver;
        item.csk = Some(change_key(R::COLLECTION, at, self.record_id()));
        if item.is_tombstone() {
            item.deleted_at = Some(at);
            item.ttl = Some(tombstone_expiry(epoch_day(at)));
        }
        item
    }
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
        csk: Some(change_key(R::COLLECTION, updated_at, rec.id())),
        usk: rec.user_ref().map(|user| record_key(R::COLLECTION, user)),
        rsk: rec.parent_ref().map(|parent| record_key(R::COLLECTION, parent)),
        atpk: None,
        atsk: None,
        updated_at,
        ver,
        deleted: None,
        deleted_at: None,
        ttl: None,
        ids: Some(rec.identity()),
        rec: Some(rec),
        der,
        sv: None,
    }
}

/// Builds the tombstone that replaces `rec`.
pub fn tombstone_item<R: CollectionRecord>(
    tenant_id: &str,
    rec: &R,
    deleted_at: Timestamp,
    ver: u64,
) -> Stored<R, R::Derived> {
    bare_tombstone(tenant_id, rec.id(), rec.identity(), deleted_at, ver)
}

/// Builds the tombstone of record `id` of `R`'s collection from its identifying members
/// alone: what a versioned delete of a record never stored leaves, so that an older upsert
/// arriving later cannot create it.
pub fn bare_tombstone<R: CollectionRecord>(
    tenant_id: &str,
    id: &str,
    identity: BTreeMap<String, String>,
    deleted_at: Timestamp,
    ver: u64,
) -> Stored<R, R::Derived> {
    Stored {
        pk: tenant_pk(tenant_id),
        sk: record_key(R::COLLECTION, id),
        osk: None,
        ask: None,
        csk: Some(change_key(R::COLLECTION, deleted_at, id)),
        usk: None,
        rsk: None,
        atpk: None,
        atsk: None,
        rec: None,
        der: R::Derived::default(),
        updated_at: deleted_at,
        ver,
        deleted: Some(true),
        deleted_at: Some(deleted_at),
        ttl: Some(tombstone_expiry(epoch_day(deleted_at))),
        ids: Some(identity),
        sv: None,
    }
}

/// What an item counts for in the tenant's counters and tombstone buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// In `byOrder` (live and listed).
    pub listed: bool,
    /// In `byActive`.
    pub active: bool,
    /// A live record, listed or not (what the initial load returns besides tombstones).
    pub live: bool,
    /// A tombstone: the day it was deleted on (its bucket).
    pub tombstone_day: Option<i64>,
}

/// What a stored item (or its absence) counts for.
pub fn counted<R: CollectionRecord>(item: Option<&Stored<R, R::Derived>>) -> Counted {
    match item {
        Some(stored) => Counted {
            listed: stored.osk.is_some(),
            active: stored.ask.is_some(),
            live: stored.live().is_some(),
            tombstone_day: stored.is_tombstone().then(|| epoch_day(stored.deleted_at.unwrap_or(stored.updated_at))),
        },
        None => Counted::default(),
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
    fn parent_ref(&self) -> Option<&str> {
        self.parent_entity_id.as_deref()
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
    fn order_components(&self) -> Vec<String> {
        vec![self.assigned_at.to_string()]
    }
    fn user_ref(&self) -> Option<&str> {
        Some(&self.user_id)
    }
    fn parent_ref(&self) -> Option<&str> {
        Some(&self.role_id)
    }
    fn listed(&self, derived: &RoleAssignmentDerived) -> bool {
        derived.refs_ok()
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
    fn order_components(&self) -> Vec<String> {
        vec![self.created_at.to_string()]
    }
    fn user_ref(&self) -> Option<&str> {
        Some(&self.user_id)
    }
    fn parent_ref(&self) -> Option<&str> {
        Some(&self.entity_id)
    }
    fn listed(&self, derived: &MembershipDerived) -> bool {
        derived.refs_ok()
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
    record_key(Collection::Users, user_id)
}

/// Base sort key of an entity: `ENTITY#<entityId>`.
pub fn entity_sk(entity_id: &str) -> String {
    record_key(Collection::Entities, entity_id)
}

/// Base sort key of a role: `ROLE#<roleId>`.
pub fn role_sk(role_id: &str) -> String {
    record_key(Collection::Roles, role_id)
}

/// Base sort key of a role assignment: `RA#<assignmentId>`. The assignment id alone
/// identifies it in the tenant, whatever its user; its user is in the `byUser` index.
pub fn role_assignment_sk(assignment_id: &str) -> String {
    record_key(Collection::RoleAssignments, assignment_id)
}

/// Base sort key of a membership: `MEMBER#<membershipId>`.
pub fn membership_sk(membership_id: &str) -> String {
    record_key(Collection::Memberships, membership_id)
}

/// Base sort key of a credit balance: `CREDIT#<entityId>` (one balance per entity).
pub fn credit_balance_sk(entity_id: &str) -> String {
    record_key(Collection::CreditBalances, entity_id)
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
            usk: None,
            rsk: None,
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
            sv: None,
        }
    }
}
