//! Key layout of the single table.
//!
//! Base keys (`PK`, `SK`) address every item by id. Three local secondary indexes give each
//! tenant collection its list orders, all strongly consistent and in the tenant's partition:
//!
//! - `byOrder` (`OSK`): every live, listable record in the contract's full-pull order;
//! - `byActive` (`ASK`): the same, active records only (the default pull);
//! - `byChange` (`CSK`): live records and tombstones by change time (incremental pulls).
//!
//! Two more local indexes find the records that refer to another one, for the writer's
//! cascades (both `KEYS_ONLY` plus `der`, so they stay small):
//!
//! - `byUser` (`USK`): memberships and role assignments by their user;
//! - `byRef` (`RSK`): entities by parent, memberships by entity, role assignments by role.
//!
//! Base sort keys are `<COLLECTION>#<id>`: one id after a fixed prefix, so ids may contain
//! any character (`#` included) without two records ever sharing a key. The reference keys
//! are only ever queried for equality, so they are unambiguous for the same reason.
//!
//! Each order key is `<COLLECTION>#<order components>#<id>`. Components are encoded so that
//! comparing the concatenation byte by byte gives the same answer as comparing the
//! components one by one: numbers are fixed-width, free text is written as it is followed by
//! U+0001 (names cannot contain control characters, so the terminator sorts below every
//! character a name can hold and a name that is a prefix of another sorts first),
//! timestamps are fixed-width already, and the id comes last. Every key stays within
//! DynamoDB's 1,024-byte sort-key limit for every id and name the validation accepts
//! ([`MAX_SORT_KEY_BYTES`], tested below).

use crate::model::{MAX_ID_BYTES, MAX_NAME_LEN};
use crate::time::Timestamp;

/// Partition of platform-wide credit configurations.
pub const GLOBAL_PK: &str = "GLOBAL";
/// Partition of the app catalog.
pub const CATALOG_PK: &str = "CATALOG";
/// Sort key of a tenant's profile item.
pub const PROFILE_SK: &str = "PROFILE";
/// Sort key of a tenant's counters item.
pub const STATS_SK: &str = "STATS";
/// Sort key of a tenant's reference-version item: bumped by every write that creates or
/// deletes a referenced record or reads one as absent, so such writes serialize.
pub const REFS_SK: &str = "REFS";
/// Sort key of a Kinde org alias item.
pub const ALIAS_SK: &str = "ALIAS";
/// Partition key value of the sparse `activeTenants` index.
pub const ACTIVE_TENANTS_PK: &str = "ACTIVE";
/// DynamoDB's limit on the size of a sort key (base table and local indexes).
pub const MAX_SORT_KEY_BYTES: usize = 1024;
/// Terminator of a free-text order component: below every character a name may contain.
pub const TEXT_END: char = '\u{1}';
/// Prefix of a tenant's tombstone bucket items (`TOMBS#<yyyy-mm-dd>`).
pub const TOMB_BUCKET_PREFIX: &str = "TOMBS#";
/// Days a tombstone is kept after the end of the day it was deleted on: tombstones of one day
/// expire together, between 35 and 36 days after the deletion (the contract promises 30).
pub const TOMBSTONE_RETENTION_DAYS: i64 = 35;

/// The paged collections of a tenant, one per list route family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    /// `users` and `tenant-users`.
    Users,
    /// `organizations`.
    Entities,
    /// `roles`.
    Roles,
    /// `role-assignments`.
    RoleAssignments,
    /// `employee-assignments`.
    Memberships,
    /// `entity-credits`.
    CreditBalances,
}

impl Collection {
    /// Every collection, in the order documented in `docs/data-model.md`.
    pub const ALL: [Collection; 6] =
        [Self::Users, Self::Entities, Self::Roles, Self::RoleAssignments, Self::Memberships, Self::CreditBalances];

    /// The key prefix of the collection's items, in the base and index sort keys.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Users => "USER",
            Self::Entities => "ENTITY",
            Self::Roles => "ROLE",
            Self::RoleAssignments => "RA",
            Self::Memberships => "MEMBER",
            Self::CreditBalances => "CREDIT",
        }
    }

    /// The camelCase name used for the collection's counters.
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Entities => "entities",
            Self::Roles => "roles",
            Self::RoleAssignments => "roleAssignments",
            Self::Memberships => "memberships",
            Self::CreditBalances => "creditBalances",
        }
    }

    /// `<PREFIX>#`, the begins_with operand that selects this collection.
    pub fn key_prefix(self) -> String {
        format!("{}#", self.prefix())
    }
}

/// `TENANT#<tenantId>`: the partition of everything a tenant owns.
pub fn tenant_pk(tenant_id: &str) -> String {
    format!("TENANT#{tenant_id}")
}

/// `KINDEORG#<orgCode>`: the partition of a Kinde org alias.
pub fn alias_pk(kinde_org_id: &str) -> String {
    format!("KINDEORG#{kinde_org_id}")
}

/// Sort key of a tenant credit config or a global one: `CCFG#<operationCode>`.
pub fn credit_config_sk(operation_code: &str) -> String {
    format!("CCFG#{operation_code}")
}

/// Sort key of a catalog app or of a tenant's entitlement to it: `APP#<appCode>`.
pub fn app_sk(app_code: &str) -> String {
    format!("APP#{app_code}")
}

/// Days a posting's exactly-once marker is kept: longer than a message can live in the
/// ingest queue and its dead-letter queue together (14 days), so no redelivery or replay
/// finds it gone.
pub const POSTING_MARKER_DAYS: i64 = 30;

/// Sort key of the marker that a credit posting with `change_id` was applied: `POSTED#<changeId>`.
pub fn posting_marker_sk(change_id: &str) -> String {
    format!("POSTED#{change_id}")
}

/// Sort key of a credit posting kept until its balance arrives:
/// `PENDING#<byte length of entityId>#<entityId>#<changeId>`.
pub fn pending_posting_sk(entity_id: &str, change_id: &str) -> String {
    format!("{}{change_id}", pending_posting_prefix(entity_id))
}

/// Prefix of the postings kept for `entity_id`'s balance. Ids may contain `#`, so the
/// entity id is preceded by its length: entity `e`'s prefix `PENDING#1#e#` cannot match a
/// posting of entity `e#x` (`PENDING#3#e#x#...`).
pub fn pending_posting_prefix(entity_id: &str) -> String {
    format!("PENDING#{}#{entity_id}#", entity_id.len())
}

/// Encodes a signed integer as 20 decimal digits whose text order is numeric order.
pub fn sortable_int(value: i64) -> String {
    let shifted = (value as i128) - (i64::MIN as i128);
    format!("{shifted:020}")
}

/// Encodes free text for an order key: the text itself, then [`TEXT_END`]. Byte order is
/// kept, and because the terminator sorts below anything a name may contain, a name that is
/// a prefix of another sorts first whatever follows it in the key. Only for text without
/// control characters (validation guarantees that for names).
pub fn sortable_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    out.push_str(text);
    out.push(TEXT_END);
    out
}

/// `<PREFIX>#<id>`: the base sort key of a collection record, and the value of a reference
/// key (`USK`, `RSK`) naming record `id`.
pub fn record_key(collection: Collection, id: &str) -> String {
    let prefix = collection.prefix();
    let mut key = String::with_capacity(prefix.len() + 1 + id.len());
    key.push_str(prefix);
    key.push('#');
    key.push_str(id);
    key
}

/// The id in a base sort key built by [`record_key`].
pub fn id_of_record_key(collection: Collection, key: &str) -> Option<&str> {
    key.strip_prefix(collection.prefix())?.strip_prefix('#')
}

/// Days since the Unix epoch of an instant (UTC).
pub fn epoch_day(at: Timestamp) -> i64 {
    at.millis().div_euclid(86_400_000)
}

/// TTL (epoch seconds) of a tombstone deleted on `day`: the end of that day plus
/// [`TOMBSTONE_RETENTION_DAYS`], the same for every tombstone of the day, so the tombstone
/// buckets that count them expire exactly with them.
pub fn tombstone_expiry(day: i64) -> i64 {
    (day + 1 + TOMBSTONE_RETENTION_DAYS) * 86_400
}

/// `TOMBS#<yyyy-mm-dd>`: the item counting the tombstones deleted on `day`.
pub fn tomb_bucket_sk(day: i64) -> String {
    let date = Timestamp::from_millis(day * 86_400_000).map(|t| t.to_string()).unwrap_or_default();
    format!("{TOMB_BUCKET_PREFIX}{}", date.get(..10).unwrap_or("0000-00-00"))
}

/// Joins a collection prefix and order components into an index sort key.
pub fn index_key(collection: Collection, components: &[&str]) -> String {
    let mut key = collection.prefix().to_owned();
    for component in components {
        key.push('#');
        key.push_str(component);
    }
    key
}

/// The longest sort key any valid record can produce: an entity's order key with the
/// longest name and id (`ENTITY#`, 20 digits, `#`, name, terminator, `#`, id). Every other
/// key is shorter; the tests below build each one at its limits.
pub const LONGEST_SORT_KEY: usize = 7 + 20 + 1 + MAX_NAME_LEN + 1 + 1 + MAX_ID_BYTES;
const _: () = assert!(LONGEST_SORT_KEY <= MAX_SORT_KEY_BYTES);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entitys_pending_postings_never_match_anothers_prefix() {
        let posting = pending_posting_sk("e#x", "c-1");
        assert!(posting.starts_with(&pending_posting_prefix("e#x")));
        assert!(!posting.starts_with(&pending_posting_prefix("e")));
        assert!(!pending_posting_sk("e", "x#c-1").starts_with(&pending_posting_prefix("e#x")));
    }

    fn organization_key(level: i64, name: &str, id: &str) -> String {
        index_key(Collection::Entities, &[&sortable_int(level), &sortable_text(name), id])
    }

    #[test]
    fn integers_sort_numerically_as_text() {
        let values = [i64::MIN, -1_000, -1, 0, 1, 9, 10, 1_000, i64::MAX];
        let keys: Vec<String> = values.iter().map(|v| sortable_int(*v)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(keys.iter().all(|k| k.len() == 20));
    }

    #[test]
    fn composite_keys_sort_like_tuples() {
        // (level, name bytes, id), including names that are prefixes of each other and
        // names containing characters below and above the separator.
        let mut tuples = vec![
            (1, "a", "z"),
            (1, "a b", "a"),
            (1, "a#", "a"),
            (1, "a", "b"),
            (1, "A", "q"),
            (1, "\u{e9}", "x"),
            (1, " ", "x"),
            (1, "!", "x"),
            (1, "a!", "x"),
            (2, "", "x"),
            (-3, "zzz", "y"),
            (1, "", "y"),
        ];
        let mut by_key = tuples.clone();
        by_key.sort_by_key(|(level, name, id)| organization_key(*level, name, id));
        tuples.sort_by(|a, b| (a.0, a.1.as_bytes(), a.2).cmp(&(b.0, b.1.as_bytes(), b.2)));
        assert_eq!(by_key, tuples);
    }

    #[test]
    fn record_keys_of_ids_with_separators_never_collide() {
        let ids = ["a", "a#b", "a#", "#a", "b#c", "a#b#c"];
        let keys: std::collections::BTreeSet<String> =
            ids.iter().map(|id| record_key(Collection::Memberships, id)).collect();
        assert_eq!(keys.len(), ids.len());
        for id in ids {
            assert_eq!(id_of_record_key(Collection::Memberships, &record_key(Collection::Memberships, id)), Some(id));
        }
    }

    #[test]
    fn longest_ids_and_names_fit_every_key() {
        let id = "\u{10348}".repeat(128);
        assert_eq!(id.len(), MAX_ID_BYTES);
        let name = "\u{20ac}".repeat(MAX_NAME_LEN / 3);
        let entity = index_key(Collection::Entities, &[&sortable_int(i64::MIN), &sortable_text(&name), &id]);
        assert!(entity.len() <= LONGEST_SORT_KEY, "{} bytes", entity.len());
        let role = index_key(Collection::Roles, &[&sortable_int(i64::MAX), &sortable_text(&name), &id]);
        let change = index_key(Collection::Memberships, &["2026-03-15T09:41:07.120Z", &id]);
        for key in [entity, role, change, record_key(Collection::CreditBalances, &id)] {
            assert!(key.len() <= MAX_SORT_KEY_BYTES, "{} bytes", key.len());
        }
    }

    #[test]
    fn tombstones_of_one_day_share_their_expiry() {
        let morning = Timestamp::parse("2026-03-15T00:00:00.000Z").unwrap();
        let night = Timestamp::parse("2026-03-15T23:59:59.999Z").unwrap();
        assert_eq!(epoch_day(morning), epoch_day(night));
        let expiry = tombstone_expiry(epoch_day(morning));
        assert_eq!(expiry, Timestamp::parse("2026-04-20T00:00:00Z").unwrap().epoch_seconds());
        assert!(expiry - night.epoch_seconds() >= TOMBSTONE_RETENTION_DAYS * 86_400);
        assert_eq!(tomb_bucket_sk(epoch_day(night)), "TOMBS#2026-03-15");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Characters around the separators and terminators, upper and lower case, and
        /// multi-byte ones: where an encoding that loses order would show.
        const ALPHABET: &[char] =
            &[' ', '!', '"', '#', '$', '%', '0', 'A', 'Z', '_', 'a', 'b', 'z', '~', '\u{e9}', '\u{20ac}', '\u{10348}'];

        fn text(range: std::ops::Range<usize>) -> impl Strategy<Value = String> {
            prop::collection::vec(prop::sample::select(ALPHABET), range).prop_map(|c| c.into_iter().collect())
        }

        /// Two (level, name, id) tuples that often share a level and a name prefix, so that
        /// one name is a prefix of the other or they part at a character near a separator.
        fn pair() -> impl Strategy<Value = ((i64, String, String), (i64, String, String))> {
            (0i64..2, 0i64..2, text(0..4), text(0..3), text(0..3), text(1..4), text(1..4)).prop_map(
                |(la, lb, common, sa, sb, ia, ib)| {
                    ((la, format!("{common}{sa}"), ia), (lb, format!("{common}{sb}"), ib))
                },
            )
        }

        fn key(level: i64, name: &str, id: &str) -> String {
            index_key(Collection::Entities, &[&sortable_int(level), &sortable_text(name), id])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]

            #[test]
            fn order_keys_sort_exactly_like_their_tuples((a, b) in pair()) {
                let by_tuple = (a.0, a.1.as_bytes(), a.2.as_bytes()).cmp(&(b.0, b.1.as_bytes(), b.2.as_bytes()));
                prop_assert_eq!(key(a.0, &a.1, &a.2).cmp(&key(b.0, &b.1, &b.2)), by_tuple, "{:?} {:?}", a, b);
            }

            #[test]
            fn record_keys_are_one_to_one(common in text(0..3), a in text(1..4), b in text(1..4)) {
                let (a, b) = (format!("{common}{a}"), format!("{common}{b}"));
                let (ka, kb) = (record_key(Collection::RoleAssignments, &a), record_key(Collection::RoleAssignments, &b));
                prop_assert_eq!(ka == kb, a == b);
                prop_assert_eq!(id_of_record_key(Collection::RoleAssignments, &ka), Some(a.as_str()));
            }
        }
    }
}
