//! Key layout of the single table.
//!
//! Base keys (`PK`, `SK`) address every item by id. Three local secondary indexes give each
//! tenant collection its list orders, all strongly consistent and in the tenant's partition:
//!
//! - `byOrder` (`OSK`): every live, listable record in the contract's full-pull order;
//! - `byActive` (`ASK`): the same, active records only (the default pull);
//! - `byChange` (`CSK`): live records and tombstones by change time (incremental pulls).
//!
//! Each index sort key is `<COLLECTION>#<order components>#<id>`. Components are encoded so
//! that comparing the concatenation byte by byte gives the same answer as comparing the
//! components one by one: numbers are fixed-width, free text is hex-encoded (hex digits sort
//! above the `#` separator, so a name that is a prefix of another sorts first), timestamps
//! are fixed-width already, and the id comes last.

use std::fmt::Write;

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

/// Encodes a signed integer as 20 decimal digits whose text order is numeric order.
pub fn sortable_int(value: i64) -> String {
    let shifted = (value as i128) - (i64::MIN as i128);
    format!("{shifted:020}")
}

/// Encodes free text as lowercase hex of its UTF-8 bytes: byte order is preserved and the
/// result can never contain the `#` separator.
pub fn sortable_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.as_bytes() {
        let _ = write!(out, "{byte:02x}");
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

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
            (2, "", "x"),
            (-3, "zzz", "y"),
            (1, "", "y"),
        ];
        let mut by_key = tuples.clone();
        by_key.sort_by_key(|(level, name, id)| organization_key(*level, name, id));
        tuples.sort_by(|a, b| (a.0, a.1.as_bytes(), a.2).cmp(&(b.0, b.1.as_bytes(), b.2)));
        assert_eq!(by_key, tuples);
    }
}
