//! Plans: the item changes one write operation makes, before they are committed.
//!
//! A plan holds, for every affected item, what to do with it (put a new version, delete it,
//! or only bump its version), the version it was read at, and what the change does to the
//! tenant's counters and tombstone buckets. Items are not stamped with a change time here:
//! the commit stamps each transaction's items just before it sends them, so a change time
//! is never older than the write that carries it.
//!
//! Each write belongs to a [`Stage`]; stages commit in order and the record being written
//! always commits last. If a write is interrupted between transactions, the record itself
//! still shows its old state, so writing it again plans the same cascade and finishes it
//! (dependents already brought up to date compare equal and are skipped).

use std::sync::Arc;

use std::collections::BTreeMap;

use super::super::item::{
    bare_tombstone, counted, live_item, tombstone_item, CollectionRecord, Counted, NoDerived, RawItem, Stored,
};
use super::super::keys::{id_of_record_key, tenant_pk, Collection, REFS_SK};
use super::super::StoreError;
use super::WriteOutcome;
use crate::time::Timestamp;

/// When a planned write commits, relative to the others of its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Stage {
    /// Values computed for the plan's final state that must not wait for the dependents
    /// (employee codes of users losing memberships when an entity is deleted).
    Early,
    /// Dependents: cascaded tombstones and derived values of other records.
    Dependent,
    /// The record itself and the few items that must change atomically with it (parents'
    /// child lists, the reference guard): always the last transaction.
    Core,
}

/// An item that can be written at any instant: the commit asks for it with the change time
/// and version it stamps.
pub(super) trait Stamp: Send + Sync {
    /// The item stamped with change time `at` and version `ver`.
    fn item_at(&self, at: Timestamp, ver: u64) -> Result<RawItem, StoreError>;
}

impl<R: CollectionRecord> Stamp for Stored<R, R::Derived> {
    fn item_at(&self, at: Timestamp, ver: u64) -> Result<RawItem, StoreError> {
        self.stamped(at, ver).to_item()
    }
}

/// A tenant profile, catalog app, credit config or entitlement: no index keys that depend on
/// the change time.
pub(super) struct PlainItem<R>(pub Stored<R, NoDerived>);

impl<R: serde::Serialize + Clone + Send + Sync> Stamp for PlainItem<R> {
    fn item_at(&self, at: Timestamp, ver: u64) -> Result<RawItem, StoreError> {
        let mut item = self.0.clone();
        item.updated_at = at;
        item.ver = ver;
        item.to_item()
    }
}

/// What to do with one item.
#[derive(Clone)]
pub(super) enum Action {
    /// Write this version.
    Put(Arc<dyn Stamp>),
    /// Remove the item (a stale Kinde org alias).
    Delete,
    /// Bump `ver` only: the write read this item (or, for the `REFS` item, the absence of
    /// a referenced record), so a concurrent write of it must conflict with this one.
    Touch,
    /// Set the item's source version (and bump `ver`) without changing what it represents:
    /// a newer change that says what is already stored, which later, older changes must
    /// still lose to.
    SetSource(u64),
}

/// What one write does to the counters (`STATS`) and the tombstone buckets (`TOMBS#<day>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Effect {
    /// The collection counted.
    pub collection: Collection,
    /// Change of `<collection>Listed`.
    pub listed: i64,
    /// Change of `<collection>Active`.
    pub active: i64,
    /// Change of `<collection>Live`.
    pub live: i64,
    /// The replaced item was a tombstone deleted on this day (its bucket loses one).
    pub tombstone_removed: Option<i64>,
    /// The new item is a tombstone (the bucket of the day it is stamped on gains one).
    pub tombstone_added: bool,
}

impl Effect {
    fn between(collection: Collection, old: Counted, new: Counted) -> Option<Self> {
        let delta = |a: bool, b: bool| i64::from(b) - i64::from(a);
        let effect = Self {
            collection,
            listed: delta(old.listed, new.listed),
            active: delta(old.active, new.active),
            live: delta(old.live, new.live),
            tombstone_removed: old.tombstone_day,
            tombstone_added: new.tombstone_day.is_some(),
        };
        effect.matters().then_some(effect)
    }

    /// Whether the write changes any counter or bucket.
    pub fn matters(&self) -> bool {
        self.counts_change() || self.tombstone_removed.is_some() || self.tombstone_added
    }

    /// Whether the write changes what the item counts for in `STATS`.
    pub fn counts_change(&self) -> bool {
        self.listed != 0 || self.active != 0 || self.live != 0
    }
}

/// One planned item change.
#[derive(Clone)]
pub(super) struct PlannedWrite {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// What to do.
    pub action: Action,
    /// The version the item was read at (`None`: it must not exist).
    pub expected_ver: Option<u64>,
    /// The version a put writes.
    pub new_ver: u64,
    /// Counter and bucket changes.
    pub effect: Option<Effect>,
    /// When it commits.
    pub stage: Stage,
}

/// The item changes one write operation makes, before they are committed.
pub(super) struct Plan {
    /// The tenant whose counters the plan changes (empty for platform data).
    pub tenant_id: String,
    /// The instant items are built with; the commit stamps them again when it sends them.
    pub now: Timestamp,
    /// The stage new writes are planned in.
    pub stage: Stage,
    /// The planned writes, in planning order.
    pub writes: Vec<PlannedWrite>,
    /// The source version the write's own record gets (dependents keep theirs).
    pub source: Option<CoreSource>,
}

/// The record a versioned write is about, and the version and identity it writes.
pub(super) struct CoreSource {
    /// Base sort key of the record.
    pub sk: String,
    /// The change's source version.
    pub version: u64,
    /// The record's identifying members (for the tombstone of a record never stored).
    pub identity: BTreeMap<String, String>,
}

impl Plan {
    /// An empty plan; writes go to the [`Stage::Core`] stage until told otherwise.
    pub fn new(tenant_id: &str, now: Timestamp) -> Self {
        Self { tenant_id: tenant_id.to_owned(), now, stage: Stage::Core, writes: Vec::new(), source: None }
    }

    /// Whether the plan writes a new version of any item (touches alone do not count).
    pub fn has_puts(&self) -> bool {
        self.writes.iter().any(|w| matches!(w.action, Action::Put(_)))
    }

    /// Plans `rec` with `der` over `old`, unless that changes nothing.
    pub fn upsert<R: CollectionRecord>(
        &mut self,
        old: Option<&Stored<R, R::Derived>>,
        rec: R,
        der: R::Derived,
    ) -> Result<WriteOutcome, StoreError> {
        let was_live = old.and_then(Stored::live).is_some();
        if let Some(old) = old {
            if old.live() == Some(&rec) && old.der == der {
                self.keep_source(old);
                return Ok(WriteOutcome::Unchanged);
            }
        }
        let new = live_item(&self.tenant_id, rec, der, self.now, old.map_or(1, |o| o.ver + 1));
        self.push(old, new);
        Ok(if was_live { WriteOutcome::Updated } else { WriteOutcome::Created })
    }

    /// Plans new derived values for a live record (a no-op when they are unchanged).
    pub fn rederive<R: CollectionRecord>(&mut self, old: &Stored<R, R::Derived>, der: R::Derived) {
        if let Some(rec) = old.live() {
            // Same record: the only possible answers are Updated and Unchanged.
            let _ = self.upsert(Some(old), rec.clone(), der);
        }
    }

    /// Plans the tombstone of a live record.
    pub fn tombstone<R: CollectionRecord>(&mut self, old: &Stored<R, R::Derived>) -> WriteOutcome {
        let Some(rec) = old.live() else {
            self.keep_source(old);
            return WriteOutcome::NotFound;
        };
        let new = tombstone_item(&self.tenant_id, rec, self.now, old.ver + 1);
        self.push(Some(old), new);
        WriteOutcome::Deleted
    }

    /// Plans the tombstones of every live record of `dependents`.
    pub fn tombstone_all<R: CollectionRecord>(&mut self, dependents: &[Stored<R, R::Derived>]) {
        for dependent in dependents {
            self.tombstone(dependent);
        }
    }

    /// Ends a delete whose dependents are planned: the record's tombstone (if it is live)
    /// in the core stage, and the `REFS` guard if anything is deleted at all.
    pub fn finish_delete<R: CollectionRecord>(
        &mut self,
        old: Option<&Stored<R, R::Derived>>,
        refs: Option<u64>,
    ) -> WriteOutcome {
        self.stage = Stage::Core;
        let outcome = self.delete_own(old);
        if self.has_puts() {
            self.touch_refs(refs);
        }
        outcome
    }

    /// Plans the delete of the write's own record read as `old`: its tombstone, or, when it
    /// is not stored, what [`Self::absent_delete`] plans.
    pub fn delete_own<R: CollectionRecord>(&mut self, old: Option<&Stored<R, R::Derived>>) -> WriteOutcome {
        match old {
            Some(old) => self.tombstone(old),
            None => self.absent_delete::<R>(),
        }
    }

    /// Plans the delete of a record that is not stored: nothing, unless the delete is
    /// versioned, which leaves a tombstone of the record's identity (an older upsert arriving
    /// later must not create it).
    pub fn absent_delete<R: CollectionRecord>(&mut self) -> WriteOutcome {
        let Some(source) = &self.source else {
            return WriteOutcome::NotFound;
        };
        let Some(id) = id_of_record_key(R::COLLECTION, &source.sk) else {
            return WriteOutcome::NotFound;
        };
        let new = bare_tombstone::<R>(&self.tenant_id, id, source.identity.clone(), self.now, 1);
        self.push(None, new);
        WriteOutcome::Deleted
    }

    /// Plans storing the write's source version on `old` when it is the write's own record
    /// and its representation stays as it is.
    pub fn keep_source<R, D>(&mut self, old: &Stored<R, D>) {
        let Some(source) = self.source.as_ref().filter(|s| s.sk == old.sk && old.sv != Some(s.version)) else {
            return;
        };
        let version = source.version;
        self.writes.retain(|w| !(w.pk == old.pk && w.sk == old.sk));
        self.writes.push(PlannedWrite {
            pk: old.pk.clone(),
            sk: old.sk.clone(),
            action: Action::SetSource(version),
            expected_ver: Some(old.ver),
            new_ver: old.ver + 1,
            effect: None,
            stage: self.stage,
        });
    }

    fn push<R: CollectionRecord>(&mut self, old: Option<&Stored<R, R::Derived>>, mut new: Stored<R, R::Derived>) {
        new.sv = match &self.source {
            Some(source) if source.sk == new.sk => Some(source.version),
            _ => old.and_then(|o| o.sv),
        };
        let effect = Effect::between(R::COLLECTION, counted(old), counted(Some(&new)));
        self.writes.retain(|w| !(w.pk == new.pk && w.sk == new.sk));
        self.writes.push(PlannedWrite {
            pk: new.pk.clone(),
            sk: new.sk.clone(),
            expected_ver: old.map(|o| o.ver),
            new_ver: new.ver,
            action: Action::Put(Arc::new(new)),
            effect,
            stage: self.stage,
        });
    }

    /// Plans an item outside the collections (a tenant profile, an alias, a catalog app, a
    /// credit config, an entitlement).
    pub fn push_plain<R>(&mut self, mut new: Stored<R, NoDerived>, expected_ver: Option<u64>)
    where
        R: serde::Serialize + Clone + Send + Sync + 'static,
    {
        if let Some(source) = self.source.as_ref().filter(|s| s.sk == new.sk) {
            new.sv = Some(source.version);
        }
        self.writes.push(PlannedWrite {
            pk: new.pk.clone(),
            sk: new.sk.clone(),
            new_ver: new.ver,
            action: Action::Put(Arc::new(PlainItem(new))),
            expected_ver,
            effect: None,
            stage: self.stage,
        });
    }

    /// Makes the plan conflict with any concurrent change of the item read at `ver`.
    pub fn touch(&mut self, pk: String, sk: String, ver: Option<u64>) {
        if self.writes.iter().any(|w| w.pk == pk && w.sk == sk) {
            return;
        }
        let new_ver = ver.map_or(1, |v| v + 1);
        self.writes.push(PlannedWrite {
            pk,
            sk,
            action: Action::Touch,
            expected_ver: ver,
            new_ver,
            effect: None,
            stage: Stage::Core,
        });
    }

    /// Touches a record that was read, or the tenant's `REFS` item if it was absent.
    pub fn touch_read<R, D>(&mut self, read: Option<&Stored<R, D>>, refs: Option<u64>) {
        match read.filter(|stored| stored.live().is_some()) {
            Some(stored) => self.touch(stored.pk.clone(), stored.sk.clone(), Some(stored.ver)),
            None => self.touch_refs(refs),
        }
    }

    /// Touches the tenant's `REFS` item (read at version `refs`).
    pub fn touch_refs(&mut self, refs: Option<u64>) {
        self.touch(tenant_pk(&self.tenant_id), REFS_SK.to_owned(), refs);
    }

    /// Plans the removal of an item read at `expected_ver`.
    pub fn push_delete(&mut self, pk: String, sk: String, expected_ver: u64) {
        self.writes.push(PlannedWrite {
            pk,
            sk,
            action: Action::Delete,
            expected_ver: Some(expected_ver),
            new_ver: expected_ver,
            effect: None,
            stage: self.stage,
        });
    }
}
