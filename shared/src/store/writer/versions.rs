//! Source versions: the rule that makes delivery order and duplicates irrelevant.
//!
//! Every change the platform sends carries a `sourceVersion` that grows with each change of
//! that record. The stored item (live or tombstone) keeps the version it came from, and a
//! change applies only when its version is newer. The comparison is made on the item the
//! plan was read from, and the commit is conditional on that item's `ver`, so a concurrent
//! change of the same record makes one of the two plan again from fresh reads: the check and
//! the write are one transaction.
//!
//! Writes without a version (seed, plain import lines) apply only where no version is stored:
//! once the platform has sent a record, an operator cannot overwrite it by accident.

use std::collections::BTreeMap;

use super::super::StoreError;

/// The version a write carries, with the identifying members of its record (what a
/// tombstone reports), for a delete of a record that is not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVersion {
    /// The platform's version of the record after the change.
    pub version: u64,
    /// The record's identifying members (`userId`, `entityId`, ...), as the change names them.
    pub identity: BTreeMap<String, String>,
}

/// What the version rule says about a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The write is newer than what is stored (or nothing versioned is stored): apply it.
    Apply,
    /// What is stored came from the same or a newer version: change nothing.
    Stale,
}

/// The reason a write without a version is refused where a version is stored.
pub const VERSION_REQUIRED: &str = "version required: the stored record came from a versioned change";

/// Whether a write carrying `incoming` may replace an item that stores `stored`.
pub fn admit(stored: Option<u64>, incoming: Option<u64>) -> Result<Admission, StoreError> {
    match (stored, incoming) {
        (Some(old), Some(new)) if new <= old => Ok(Admission::Stale),
        (Some(_), None) => Err(StoreError::Rejected(VERSION_REQUIRED.into())),
        _ => Ok(Admission::Apply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn newer_applies_same_or_older_is_stale() {
        assert_eq!(admit(Some(4), Some(5)).unwrap(), Admission::Apply);
        assert_eq!(admit(Some(5), Some(5)).unwrap(), Admission::Stale);
        assert_eq!(admit(Some(6), Some(5)).unwrap(), Admission::Stale);
        assert_eq!(admit(None, Some(1)).unwrap(), Admission::Apply);
    }

    #[test]
    fn unversioned_writes_apply_only_where_nothing_versioned_is_stored() {
        assert_eq!(admit(None, None).unwrap(), Admission::Apply);
        assert!(matches!(admit(Some(1), None), Err(StoreError::Rejected(reason)) if reason == VERSION_REQUIRED));
    }

    proptest! {
        /// Applying versioned writes in any order, each only when admitted, ends at the
        /// highest version: the order-independence the rule exists for.
        #[test]
        fn any_order_ends_at_the_highest_version(versions in proptest::collection::vec(0u64..50, 1..20)) {
            let highest = *versions.iter().max().unwrap();
            let mut stored = None;
            for v in &versions {
                if admit(stored, Some(*v)).unwrap() == Admission::Apply {
                    stored = Some(*v);
                }
            }
            prop_assert_eq!(stored, Some(highest));
        }
    }
}
