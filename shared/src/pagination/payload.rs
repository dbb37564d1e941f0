//! The binary payload of a cursor: what [`CursorPosition`] holds, in length-prefixed
//! strings and fixed-width numbers. The partition key is left out when it is the scope's
//! tenant's, and the base sort key is stored as the part that differs from the index key's
//! tail (the id both end with), so the longest keys fit the contract's cursor limit.

use super::{CursorError, CursorPosition, CursorScope};
use crate::store::item::attr;
use crate::store::keys::tenant_pk;
use crate::store::query::PageKey;
use crate::time::Timestamp;

/// The payload format's version (1 was base64url JSON).
pub(super) const VERSION: u8 = 2;
const HAS_WATERMARK: u8 = 1;
const HAS_TOTAL: u8 = 2;
const TOTAL_ESTIMATED: u8 = 4;
const HAS_SKIP: u8 = 8;
const OTHER_PARTITION: u8 = 16;

/// Writes the payload of a cursor.
struct Writer(Vec<u8>);

impl Writer {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        self.0.extend_from_slice(bytes);
    }
}

/// Reads the payload of a cursor; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CursorError> {
        if self.0.len() < n {
            return Err(CursorError::Malformed);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CursorError> {
        self.take(N)?.try_into().map_err(|_| CursorError::Malformed)
    }
    fn bytes(&mut self) -> Result<&'a [u8], CursorError> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        self.take(len)
    }
    fn text(&mut self) -> Result<String, CursorError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| CursorError::Malformed)
    }
}

/// The index attribute of a page key: the one that is neither `PK` nor `SK`.
fn index_entry(key: &PageKey) -> (&str, &str) {
    key.iter()
        .find(|(name, _)| name.as_str() != attr::PK && name.as_str() != attr::SK)
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .unwrap_or(("", ""))
}

/// Bytes `a` and `b` share at their ends, on a character boundary of both.
fn common_suffix(a: &str, b: &str) -> usize {
    let n = a.bytes().rev().zip(b.bytes().rev()).take_while(|(x, y)| x == y).count();
    (0..=n).rev().find(|&k| a.is_char_boundary(a.len() - k) && b.is_char_boundary(b.len() - k)).unwrap_or(0)
}

pub(super) fn encode_payload(kid: &[u8; 4], scope: &CursorScope, position: &CursorPosition) -> Vec<u8> {
    let pk = position.last_key.get(attr::PK).map(String::as_str).unwrap_or_default();
    let sk = position.last_key.get(attr::SK).map(String::as_str).unwrap_or_default();
    let (index_name, index_value) = index_entry(&position.last_key);
    let own_partition = pk == tenant_pk(&scope.tenant_id);
    let mut flags = 0;
    for (set, flag) in [
        (position.watermark.is_some(), HAS_WATERMARK),
        (position.total.is_some(), HAS_TOTAL),
        (position.total_estimated, TOTAL_ESTIMATED),
        (position.skip > 0, HAS_SKIP),
        (!own_partition, OTHER_PARTITION),
    ] {
        if set {
            flags |= flag;
        }
    }
    let mut out = Writer(Vec::with_capacity(64 + sk.len() + index_value.len()));
    out.0.push(VERSION);
    out.0.extend_from_slice(kid);
    out.0.extend_from_slice(&scope.fingerprint_bytes());
    out.0.extend_from_slice(&position.page.to_be_bytes());
    out.0.push(flags);
    if let Some(watermark) = position.watermark {
        out.0.extend_from_slice(&watermark.millis().to_be_bytes());
    }
    if let Some(total) = position.total {
        out.0.extend_from_slice(&total.to_be_bytes());
    }
    if position.skip > 0 {
        out.0.extend_from_slice(&position.skip.to_be_bytes());
    }
    if !own_partition {
        out.bytes(pk.as_bytes());
    }
    out.bytes(index_name.as_bytes());
    out.bytes(index_value.as_bytes());
    let shared = common_suffix(sk, index_value);
    out.bytes(&sk.as_bytes()[..sk.len() - shared]);
    out.0.extend_from_slice(&(shared as u16).to_be_bytes());
    out.0
}

/// What a payload holds: the key id, the scope fingerprint and the position.
pub(super) struct Decoded {
    /// The signing key's id.
    pub kid: [u8; 4],
    /// The scope fingerprint.
    pub fingerprint: [u8; 16],
    /// The position.
    pub position: CursorPosition,
}

pub(super) fn decode_payload(payload: &[u8], scope: &CursorScope) -> Result<Decoded, CursorError> {
    let mut input = Reader(payload);
    if input.array::<1>()?[0] != VERSION {
        return Err(CursorError::Malformed);
    }
    let kid = input.array()?;
    let fingerprint = input.array()?;
    let page = u32::from_be_bytes(input.array()?);
    let flags = input.array::<1>()?[0];
    let mut position = CursorPosition { page, total_estimated: flags & TOTAL_ESTIMATED != 0, ..Default::default() };
    if flags & HAS_WATERMARK != 0 {
        let millis = i64::from_be_bytes(input.array()?);
        position.watermark = Some(Timestamp::from_millis(millis).ok_or(CursorError::Malformed)?);
    }
    if flags & HAS_TOTAL != 0 {
        position.total = Some(u64::from_be_bytes(input.array()?));
    }
    if flags & HAS_SKIP != 0 {
        position.skip = u32::from_be_bytes(input.array()?);
    }
    let pk = if flags & OTHER_PARTITION != 0 { input.text()? } else { tenant_pk(&scope.tenant_id) };
    let index_name = input.text()?;
    let index_value = input.text()?;
    let sk_head = input.text()?;
    let shared = u16::from_be_bytes(input.array()?) as usize;
    if shared > index_value.len() || !input.0.is_empty() || !index_value.is_char_boundary(index_value.len() - shared) {
        return Err(CursorError::Malformed);
    }
    let sk = format!("{sk_head}{}", &index_value[index_value.len() - shared..]);
    position.last_key = [(attr::PK.to_owned(), pk), (attr::SK.to_owned(), sk)].into();
    if !index_name.is_empty() {
        position.last_key.insert(index_name, index_value);
    }
    Ok(Decoded { kid, fingerprint, position })
}
