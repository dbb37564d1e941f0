//! Opaque, signed pagination cursors (contract section 6.3).
//!
//! A cursor carries where the walk stands (the key of the last record returned or
//! evaluated), the page number, what the walk fixed on its first page (the incremental
//! watermark, the total), records still to skip, and a fingerprint of what the walk is
//! over: route, tenant and the effective value of every filter. It is a compact binary
//! payload in base64url followed by an HMAC-SHA256 tag under a configured key. The key id
//! travels in the cursor, so a replacement key can start signing while cursors signed by
//! the previous one stay valid until that key is withdrawn. The page size is deliberately
//! not bound: `limit` may change from page to page.
//!
//! The payload is binary (length-prefixed strings, fixed-width numbers) rather than JSON so
//! that the longest key any valid record produces fits the contract's 2,048-character
//! cursor limit: the partition key is rebuilt from the tenant, and the base sort key is
//! stored as the part that differs from the index key's tail (the id they share).

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

mod payload;

use payload::{decode_payload, encode_payload, VERSION};

use crate::store::query::PageKey;
use crate::time::Timestamp;

/// Longest cursor accepted (contract section 5).
pub const MAX_CURSOR_LEN: usize = 2048;
/// Shortest acceptable signing key.
pub const MIN_KEY_LEN: usize = 32;

/// Largest offset page mode may reach (contract section 2.7).
pub const MAX_PAGE_OFFSET: usize = 10_000;
/// Largest page size.
pub const MAX_LIMIT: usize = 500;

/// `(page - 1) * limit` is beyond [`MAX_PAGE_OFFSET`]: 400 `PAGE_WINDOW_EXCEEDED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Offset exceeds 10000 records; continue with the cursor from pagination.nextCursor")]
pub struct PageWindowExceeded;

/// The number of records page mode skips for `page` (1-based) of size `limit`, bounded so a
/// caller cannot make one request walk an unbounded number of records.
pub fn page_offset(page: u32, limit: usize) -> Result<usize, PageWindowExceeded> {
    let offset = (page.max(1) as usize - 1).checked_mul(limit).ok_or(PageWindowExceeded)?;
    if offset > MAX_PAGE_OFFSET {
        Err(PageWindowExceeded)
    } else {
        Ok(offset)
    }
}

/// Why a cursor cannot be used. All map to 400 `CURSOR_INVALID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not a cursor this service produced (bad encoding, too long, unknown version).
    #[error("cursor is malformed")]
    Malformed,
    /// The signature does not match: altered, or signed by a key that is not configured.
    #[error("cursor signature is invalid")]
    BadSignature,
    /// A valid cursor, but for another route, tenant or filter set.
    #[error("cursor belongs to another request")]
    Mismatch,
}

/// What a walk is over. Two requests may share a cursor only if their scopes are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorScope {
    /// Route name, for example `users`.
    pub route: String,
    /// The tenant's `tenantId` (never the org code, so both spellings share cursors).
    pub tenant_id: String,
    /// Effective filter values, by parameter name (defaults included).
    pub filters: BTreeMap<String, String>,
}

impl CursorScope {
    /// A scope for `route` of `tenant_id` with no filters yet.
    pub fn new(route: &str, tenant_id: &str) -> Self {
        Self { route: route.to_owned(), tenant_id: tenant_id.to_owned(), filters: BTreeMap::new() }
    }

    /// Adds an effective filter value.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.filters.insert(name.to_owned(), value.into());
        self
    }

    /// SHA-256 over an unambiguous encoding of the scope, hex-encoded (first 16 bytes).
    pub fn fingerprint(&self) -> String {
        hex::encode(self.fingerprint_bytes())
    }

    /// The first 16 bytes of SHA-256 over an unambiguous encoding of the scope.
    pub fn fingerprint_bytes(&self) -> [u8; 16] {
        let mut hasher = Sha256::new();
        for part in [&self.route, &self.tenant_id] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        for (name, value) in &self.filters {
            for part in [name, value] {
                hasher.update((part.len() as u64).to_be_bytes());
                hasher.update(part.as_bytes());
            }
        }
        let digest = hasher.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }
}

/// Where a walk stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CursorPosition {
    /// Key of the last record returned (or evaluated, when a budget stopped the page).
    pub last_key: PageKey,
    /// Number of the page this cursor leads to.
    pub page: u32,
    /// Watermark fixed on the first page of an incremental walk.
    pub watermark: Option<Timestamp>,
    /// `pagination.total` fixed on the first page of the walk, when it is not read from
    /// the counters on every page.
    pub total: Option<u64>,
    /// Whether that total is an estimate.
    pub total_estimated: bool,
    /// Matching records the walk must still skip (page mode stopped by its budget).
    pub skip: u32,
}

/// A signing key with its id.
#[derive(Clone)]
pub struct SigningKey {
    id: [u8; 4],
    secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", hex::encode(self.id))
    }
}

impl SigningKey {
    /// A key from secret bytes; its id is derived from the secret (a short hash), so the
    /// same secret always has the same id and no separate id needs configuring.
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_KEY_LEN {
            return Err(format!("must be at least {MIN_KEY_LEN} bytes"));
        }
        let digest = Sha256::digest(secret);
        let id = [digest[0], digest[1], digest[2], digest[3]];
        Ok(Self { id, secret: secret.to_vec() })
    }

    fn tag(&self, message: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
}

impl CursorCodec {
    /// The codec configured by `CURSOR_SIGNING_KEY` and, during a rotation,
    /// `CURSOR_SIGNING_KEY_PREVIOUS` (each at least 32 bytes).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, crate::config::ConfigError> {
        let key = |name: &'static str| -> Result<Option<SigningKey>, crate::config::ConfigError> {
            lookup(name)
                .map(|secret| {
                    SigningKey::new(secret.as_bytes())
                        .map_err(|reason| crate::config::ConfigError::Invalid { name, reason })
                })
                .transpose()
        };
        let current = key("CURSOR_SIGNING_KEY")?.ok_or(crate::config::ConfigError::Missing("CURSOR_SIGNING_KEY"))?;
        Ok(Self::new(current, key("CURSOR_SIGNING_KEY_PREVIOUS")?))
    }
}

/// Signs and verifies cursors with the current key and, during a rotation, the previous one.
#[derive(Clone, Debug)]
pub struct CursorCodec {
    current: SigningKey,
    previous: Option<SigningKey>,
}

impl CursorCodec {
    /// A codec that signs with `current` and also accepts `previous`.
    pub fn new(current: SigningKey, previous: Option<SigningKey>) -> Self {
        Self { current, previous }
    }

    /// Encodes a position within `scope`.
    pub fn encode(&self, scope: &CursorScope, position: &CursorPosition) -> String {
        let payload = encode_payload(&self.current.id, scope, position);
        let tag = self.current.tag(&payload);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// Decodes a cursor and checks that it was signed by a configured key and belongs to
    /// `scope`.
    pub fn decode(&self, scope: &CursorScope, cursor: &str) -> Result<CursorPosition, CursorError> {
        if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
            return Err(CursorError::Malformed);
        }
        let (body, tag) = cursor.split_once('.').ok_or(CursorError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(body).map_err(|_| CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| CursorError::Malformed)?;
        if payload.first() != Some(&VERSION) {
            return Err(CursorError::Malformed);
        }
        let kid: [u8; 4] = payload.get(1..5).and_then(|k| k.try_into().ok()).ok_or(CursorError::Malformed)?;
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|key| key.id == kid)
            .ok_or(CursorError::BadSignature)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.secret).expect("HMAC takes keys of any length");
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| CursorError::BadSignature)?;
        let decoded = decode_payload(&payload, scope)?;
        if decoded.kid != kid || decoded.fingerprint != scope.fingerprint_bytes() {
            return Err(CursorError::Mismatch);
        }
        Ok(decoded.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::new(&[byte; 32]).unwrap()
    }

    fn position() -> CursorPosition {
        CursorPosition {
            last_key: [
                ("PK".to_owned(), "TENANT#t1".to_owned()),
                ("SK".to_owned(), "USER#u1".to_owned()),
                ("ASK".to_owned(), "USER#2025-01-01T00:00:00.000Z#u1".to_owned()),
            ]
            .into(),
            page: 2,
            ..Default::default()
        }
    }

    fn scope() -> CursorScope {
        CursorScope::new("users", "t1").with("includeInactive", "false")
    }

    #[test]
    fn round_trips() {
        let codec = CursorCodec::new(key(1), None);
        let cursor = codec.encode(&scope(), &position());
        assert_eq!(codec.decode(&scope(), &cursor), Ok(position()));
    }

    #[test]
    fn tampering_is_detected() {
        let codec = CursorCodec::new(key(1), None);
        let cursor = codec.encode(&scope(), &position());
        let (body, tag) = cursor.split_once('.').unwrap();
        let mut payload = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = payload.len() - 3;
        payload[last] ^= 1;
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), tag);
        assert_eq!(codec.decode(&scope(), &forged), Err(CursorError::BadSignature));
        assert_eq!(codec.decode(&scope(), "not-a-cursor"), Err(CursorError::Malformed));
        assert_eq!(codec.decode(&scope(), &"a".repeat(3000)), Err(CursorError::Malformed));
    }

    #[test]
    fn other_tenants_routes_and_filters_are_rejected() {
        let codec = CursorCodec::new(key(1), None);
        let cursor = codec.encode(&scope(), &position());
        for other in [
            CursorScope::new("users", "t2").with("includeInactive", "false"),
            CursorScope::new("tenant-users", "t1").with("includeInactive", "false"),
            CursorScope::new("users", "t1").with("includeInactive", "true"),
            CursorScope::new("users", "t1"),
        ] {
            assert_eq!(codec.decode(&other, &cursor), Err(CursorError::Mismatch));
        }
    }

    #[test]
    fn previous_key_works_until_withdrawn() {
        let old = CursorCodec::new(key(1), None);
        let cursor = old.encode(&scope(), &position());
        let rotating = CursorCodec::new(key(2), Some(key(1)));
        assert_eq!(rotating.decode(&scope(), &cursor), Ok(position()));
        let rotated = CursorCodec::new(key(2), None);
        assert_eq!(rotated.decode(&scope(), &cursor), Err(CursorError::BadSignature));
    }

    #[test]
    fn page_mode_is_bounded_at_ten_thousand_records() {
        assert_eq!(page_offset(1, 50), Ok(0));
        assert_eq!(page_offset(3, 50), Ok(100));
        assert_eq!(page_offset(201, 50), Ok(10_000));
        assert_eq!(page_offset(202, 50), Err(PageWindowExceeded));
        assert_eq!(page_offset(21, 500), Ok(10_000));
        assert_eq!(page_offset(22, 500), Err(PageWindowExceeded));
        assert_eq!(page_offset(u32::MAX, MAX_LIMIT), Err(PageWindowExceeded));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(SigningKey::new(&[0; 31]).is_err());
    }

    #[test]
    fn fingerprint_is_unambiguous() {
        let a = CursorScope::new("users", "t1").with("a", "bc");
        let b = CursorScope::new("users", "t1").with("ab", "c");
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn everything_a_walk_fixes_round_trips() {
        let codec = CursorCodec::new(key(1), None);
        let mut position = position();
        position.watermark = Some(Timestamp::parse("2026-03-15T09:41:07.120Z").unwrap());
        position.total = Some(12_345);
        position.total_estimated = true;
        position.skip = 77;
        let cursor = codec.encode(&scope(), &position);
        assert_eq!(codec.decode(&scope(), &cursor), Ok(position.clone()));
        position.last_key.insert("PK".into(), "TENANT#elsewhere".into());
        let cursor = codec.encode(&scope(), &position);
        assert_eq!(codec.decode(&scope(), &cursor), Ok(position));
    }

    #[test]
    fn the_longest_keys_fit_the_cursor_limit() {
        use crate::model::{MAX_ID_BYTES, MAX_NAME_LEN};
        use crate::store::keys::{index_key, record_key, sortable_int, sortable_text, tenant_pk, Collection};
        let id = "\u{10348}".repeat(MAX_ID_BYTES / 4);
        let tenant = "\u{10348}".repeat(MAX_ID_BYTES / 4);
        let name = "\"".repeat(MAX_NAME_LEN);
        let order = index_key(Collection::Entities, &[&sortable_int(-1), &sortable_text(&name), &id]);
        let position = CursorPosition {
            last_key: [
                ("PK".to_owned(), tenant_pk(&tenant)),
                ("SK".to_owned(), record_key(Collection::Entities, &id)),
                ("OSK".to_owned(), order),
            ]
            .into(),
            page: u32::MAX,
            watermark: Some(Timestamp::now()),
            total: Some(u64::MAX),
            total_estimated: true,
            skip: u32::MAX,
        };
        let scope = CursorScope::new("organizations", &tenant).with("includeInactive", "true");
        let codec = CursorCodec::new(key(1), None);
        let cursor = codec.encode(&scope, &position);
        assert!(cursor.len() <= MAX_CURSOR_LEN, "{} characters", cursor.len());
        assert_eq!(codec.decode(&scope, &cursor), Ok(position));
    }

    #[test]
    fn truncated_payloads_are_malformed_not_panics() {
        let cursor = CursorCodec::new(key(1), None).encode(&scope(), &position());
        let (body, _) = cursor.split_once('.').unwrap();
        let payload = URL_SAFE_NO_PAD.decode(body).unwrap();
        for cut in 0..payload.len() {
            assert!(decode_payload(&payload[..cut], &scope()).is_err(), "cut at {cut}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::store::keys::tenant_pk;

        const ALPHABET: &[char] = &['#', '\u{1}', 'a', 'Z', '0', '"', '\\', '\u{e9}', '\u{10348}'];

        fn text(range: std::ops::Range<usize>) -> impl Strategy<Value = String> {
            prop::collection::vec(prop::sample::select(ALPHABET), range).prop_map(|c| c.into_iter().collect())
        }

        proptest! {
            #[test]
            fn every_position_round_trips(
                tenant in text(1..8),
                other_partition in any::<bool>(),
                head in text(0..10),
                id in text(1..10),
                sk_prefix in text(0..6),
                page in any::<u32>(),
                watermark in proptest::option::of(0i64..4_102_444_800_000),
                total in proptest::option::of(any::<u64>()),
                total_estimated in any::<bool>(),
                skip in any::<u32>(),
            ) {
                let pk = if other_partition { format!("ELSEWHERE#{tenant}") } else { tenant_pk(&tenant) };
                let position = CursorPosition {
                    last_key: [
                        ("PK".to_owned(), pk),
                        ("SK".to_owned(), format!("{sk_prefix}{id}")),
                        ("CSK".to_owned(), format!("{head}{id}")),
                    ]
                    .into(),
                    page,
                    watermark: watermark.and_then(Timestamp::from_millis),
                    total,
                    total_estimated,
                    skip,
                };
                let scope = CursorScope::new("users", &tenant).with("updatedSince", "x");
                let codec = CursorCodec::new(key(3), None);
                prop_assert_eq!(codec.decode(&scope, &codec.encode(&scope, &position)), Ok(position));
            }
        }
    }
}
