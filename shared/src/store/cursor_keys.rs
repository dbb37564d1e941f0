//! The cursor signing keys kept in the table (`CURSOR_KEY_SOURCE=table`): one item, outside
//! every tenant's partition, holding the current key and, after a rotation, the previous one.
//!
//! Why the table: the keys only make cursors tamper-evident, and a cursor grants nothing
//! (each request is authorized on its own). Whoever can read this item can read every
//! tenant's records anyway, so the table is no weaker a home than Secrets Manager, and the
//! function's first read of it is one `GetItem` on the client and connection the page read
//! uses, which finishes inside that read instead of after it (`docs/benchmarks.md`,
//! section 2). The first function that finds no item creates it (a conditional put, so
//! concurrent cold starts agree on one key); rotation and retirement are conditional on the
//! version they replace.

use aws_sdk_dynamodb::types::AttributeValue;

use super::error::{applied, sdk};
use super::{Store, StoreError};

/// Partition key of the item (no tenant id has this form: those start with `TENANT#`).
pub const CURSOR_KEYS_PK: &str = "KEYS";
/// Sort key of the item.
pub const CURSOR_KEYS_SK: &str = "CURSOR";
/// Random bytes per key (before base64url encoding, which gives 43 characters).
const KEY_BYTES: usize = 32;
/// Attempts of a create or rotation against concurrent ones before giving up.
const ATTEMPTS: usize = 5;

/// The keys as stored: the signing key and the one still accepted, as text whose UTF-8
/// bytes are the HMAC key (the same form as `CURSOR_SIGNING_KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKeyItem {
    /// Signs new cursors.
    pub current: String,
    /// Still accepted (cursors handed out before the last rotation), until retired.
    pub previous: Option<String>,
    /// Incremented by every change; changes are conditional on it.
    pub version: u64,
}

impl std::fmt::Debug for CursorKeyItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CursorKeyItem(version {}, <redacted>)", self.version)
    }
}

/// A new random key: 32 bytes from the operating system's generator, base64url.
fn new_key() -> Result<String, StoreError> {
    use base64::Engine;
    let mut bytes = [0u8; KEY_BYTES];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoreError::Request("no random bytes for a cursor key".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl Store {
    /// The stored keys, read strongly consistently; `None` before the first function created
    /// them.
    pub async fn cursor_keys(&self) -> Result<Option<CursorKeyItem>, StoreError> {
        let output = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("PK", AttributeValue::S(CURSOR_KEYS_PK.into()))
            .key("SK", AttributeValue::S(CURSOR_KEYS_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        output.item().map(parse).transpose()
    }

    /// The stored keys, creating them on first use. Concurrent first uses agree: only one
    /// conditional put succeeds and the others read what it wrote.
    pub async fn cursor_keys_or_create(&self) -> Result<CursorKeyItem, StoreError> {
        for _ in 0..ATTEMPTS {
            if let Some(keys) = self.cursor_keys().await? {
                return Ok(keys);
            }
            let keys = CursorKeyItem { current: new_key()?, previous: None, version: 1 };
            if self.put_cursor_keys(&keys, None).await? {
                return Ok(keys);
            }
        }
        Err(StoreError::Conflict)
    }

    /// Rotates: a new current key, the old current one kept as previous (cursors it signed
    /// stay valid until the next rotation or [`Store::retire_previous_cursor_key`]); the key
    /// previous before is retired. Returns the new version.
    pub async fn rotate_cursor_keys(&self) -> Result<u64, StoreError> {
        self.change_cursor_keys(true).await
    }

    /// Retires the previous key at once (cursors it signed answer `CURSOR_INVALID`): the
    /// step after a suspected leak, once every function has the new key. Returns the version.
    pub async fn retire_previous_cursor_key(&self) -> Result<u64, StoreError> {
        self.change_cursor_keys(false).await
    }

    /// Replaces the item conditionally on its version: with `rotate` a new current key and
    /// the old one as previous, else the current key alone.
    async fn change_cursor_keys(&self, rotate: bool) -> Result<u64, StoreError> {
        for _ in 0..ATTEMPTS {
            let old = self.cursor_keys_or_create().await?;
            let keys = match rotate {
                true => {
                    CursorKeyItem { current: new_key()?, previous: Some(old.current.clone()), version: old.version + 1 }
                }
                false => CursorKeyItem { current: old.current.clone(), previous: None, version: old.version + 1 },
            };
            if self.put_cursor_keys(&keys, Some(old.version)).await? {
                return Ok(keys.version);
            }
        }
        Err(StoreError::Conflict)
    }

    /// Writes `keys` if the stored version is `expected` (`None`: if there is no item).
    async fn put_cursor_keys(&self, keys: &CursorKeyItem, expected: Option<u64>) -> Result<bool, StoreError> {
        let mut put = self
            .client()
            .put_item()
            .table_name(self.table())
            .item("PK", AttributeValue::S(CURSOR_KEYS_PK.into()))
            .item("SK", AttributeValue::S(CURSOR_KEYS_SK.into()))
            .item("current", AttributeValue::S(keys.current.clone()))
            .item("version", AttributeValue::N(keys.version.to_string()));
        if let Some(previous) = &keys.previous {
            put = put.item("previous", AttributeValue::S(previous.clone()));
        }
        put = match expected {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(version) => put
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
        };
        applied(put.send().await)
    }
}

/// The item's members, checked.
fn parse(item: &std::collections::HashMap<String, AttributeValue>) -> Result<CursorKeyItem, StoreError> {
    let text = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).cloned();
    let corrupt = || StoreError::Corrupt("the cursor key item lacks its current key or version".into());
    Ok(CursorKeyItem {
        current: text("current").ok_or_else(corrupt)?,
        previous: text("previous"),
        version: item
            .get("version")
            .and_then(|value| value.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(corrupt)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_are_long_enough_and_differ() {
        let (a, b) = (new_key().unwrap(), new_key().unwrap());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(crate::pagination::SigningKey::new(a.as_bytes()).is_ok());
    }

    #[test]
    fn an_item_without_its_members_is_corrupt_and_keys_never_print() {
        let mut item = std::collections::HashMap::new();
        item.insert("current".to_owned(), AttributeValue::S("k".repeat(43)));
        assert!(matches!(parse(&item), Err(StoreError::Corrupt(_))));
        item.insert("version".to_owned(), AttributeValue::N("3".into()));
        let keys = parse(&item).unwrap();
        assert_eq!((keys.version, keys.previous.clone()), (3, None));
        assert!(!format!("{keys:?}").contains("kkk"));
    }
}
