//! Opaque, signed pagination cursors (contract section 6.3).
//!
//! A cursor carries where the walk stands (the key of the last record returned), the page
//! number, the incremental walk's watermark, and a fingerprint of what the walk is over:
//! route, tenant and the effective value of every filter. It is base64url JSON followed by
//! an HMAC-SHA256 tag under a configured key. The key id travels in the cursor, so a
//! replacement key can start signing while cursors signed by the previous one stay valid
//! until that key is withdrawn. The page size is deliberately not bound: `limit` may
//! change from page to page.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::query::PageKey;

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
        hex::encode(&hasher.finalize()[..16])
    }
}

/// Where a walk stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorPosition {
    /// Key of the last record returned.
    #[serde(rename = "k")]
    pub last_key: PageKey,
    /// Number of the page this cursor leads to.
    #[serde(rename = "p")]
    pub page: u32,
    /// Watermark fixed on the first page of an incremental walk.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    kid: String,
    s: String,
    #[serde(flatten)]
    position: CursorPosition,
}

/// A signing key with its id.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.id)
    }
}

impl SigningKey {
    /// A key from secret bytes; its id is derived from the secret (a short hash), so the
    /// same secret always has the same id and no separate id needs configuring.
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_KEY_LEN {
            return Err(format!("must be at least {MIN_KEY_LEN} bytes"));
        }
        let id = hex::encode(&Sha256::digest(secret)[..4]);
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
        let payload =
            Payload { v: 1, kid: self.current.id.clone(), s: scope.fingerprint(), position: position.clone() };
        let json = serde_json::to_vec(&payload).expect("cursor payload serializes");
        let tag = self.current.tag(&json);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&json), URL_SAFE_NO_PAD.encode(tag))
    }

    /// Decodes a cursor and checks that it was signed by a configured key and belongs to
    /// `scope`.
    pub fn decode(&self, scope: &CursorScope, cursor: &str) -> Result<CursorPosition, CursorError> {
        if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
            return Err(CursorError::Malformed);
        }
        let (body, tag) = cursor.split_once('.').ok_or(CursorError::Malformed)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| CursorError::Malformed)?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| CursorError::Malformed)?;
        if payload.v != 1 {
            return Err(CursorError::Malformed);
        }
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|key| key.id == payload.kid)
            .ok_or(CursorError::BadSignature)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.secret).expect("HMAC takes keys of any length");
        mac.update(&json);
        mac.verify_slice(&tag).map_err(|_| CursorError::BadSignature)?;
        if payload.s != scope.fingerprint() {
            return Err(CursorError::Mismatch);
        }
        Ok(payload.position)
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
            last_key: [("PK".to_owned(), "TENANT#t1".to_owned()), ("SK".to_owned(), "USER#u1".to_owned())].into(),
            page: 2,
            watermark: None,
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
        let mut json = URL_SAFE_NO_PAD.decode(body).unwrap();
        let at = json.iter().position(|b| *b == b'2').unwrap();
        json[at] = b'3';
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode(&json), tag);
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
}
