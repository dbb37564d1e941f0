//! The order-independent collection checksum of contract section 10.4.
//!
//! For each record, SHA-256 over `<id>\n<updatedAt>` read as an unsigned 256-bit big-endian
//! integer; the checksum is their sum modulo 2^256 as 64 lowercase hex digits. Addition
//! commutes, so the order records are read in does not matter, and a consumer can compute
//! the same value over what it pulled.

use sha2::{Digest, Sha256};

/// A running checksum. Adding a record is one SHA-256 and a 256-bit addition: no record is
/// kept, so memory stays flat however large the collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    /// The sum as four 64-bit limbs, most significant first.
    limbs: [u64; 4],
}

impl Checksum {
    /// Adds one record.
    pub fn add(&mut self, id: &str, updated_at: &str) {
        let mut hasher = Sha256::new();
        hasher.update(id.as_bytes());
        hasher.update(b"\n");
        hasher.update(updated_at.as_bytes());
        let digest = hasher.finalize();
        let mut carry = 0u128;
        for limb in (0..4).rev() {
            let chunk: [u8; 8] = digest[limb * 8..limb * 8 + 8].try_into().expect("8 bytes");
            let sum = self.limbs[limb] as u128 + u64::from_be_bytes(chunk) as u128 + carry;
            self.limbs[limb] = sum as u64;
            carry = sum >> 64;
        }
    }

    /// Combines two partial checksums (for collections read in parts).
    pub fn merge(&mut self, other: &Checksum) {
        let mut carry = 0u128;
        for limb in (0..4).rev() {
            let sum = self.limbs[limb] as u128 + other.limbs[limb] as u128 + carry;
            self.limbs[limb] = sum as u64;
            carry = sum >> 64;
        }
    }

    /// 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.limbs.iter().map(|limb| format!("{limb:016x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_sixty_four_zeros() {
        assert_eq!(Checksum::default().hex(), "0".repeat(64));
    }

    #[test]
    fn one_record_is_its_digest() {
        let mut checksum = Checksum::default();
        checksum.add("u1", "2026-03-15T09:40:12.004Z");
        assert_eq!(checksum.hex(), hex::encode(Sha256::digest(b"u1\n2026-03-15T09:40:12.004Z")));
    }

    #[test]
    fn order_does_not_matter_and_changes_show() {
        let records =
            [("a", "2026-01-01T00:00:00.000Z"), ("b", "2026-01-02T00:00:00.000Z"), ("c", "2026-01-03T00:00:00.000Z")];
        let mut forward = Checksum::default();
        records.iter().for_each(|(id, at)| forward.add(id, at));
        let mut backward = Checksum::default();
        records.iter().rev().for_each(|(id, at)| backward.add(id, at));
        assert_eq!(forward, backward);
        let mut changed = Checksum::default();
        changed.add("a", "2026-01-01T00:00:00.000Z");
        changed.add("b", "2026-01-02T00:00:00.001Z");
        changed.add("c", "2026-01-03T00:00:00.000Z");
        assert_ne!(forward, changed);
    }

    #[test]
    fn the_sum_wraps_modulo_two_to_the_256() {
        let mut max = Checksum { limbs: [u64::MAX; 4] };
        max.merge(&Checksum { limbs: [0, 0, 0, 1] });
        assert_eq!(max.hex(), "0".repeat(64));
        let mut carry = Checksum { limbs: [0, 0, 0, u64::MAX] };
        carry.merge(&Checksum { limbs: [0, 0, 0, 1] });
        assert_eq!(carry.hex(), format!("{}{}{}", "0".repeat(32), "0000000000000001", "0".repeat(16)));
    }

    #[test]
    fn merging_parts_equals_adding_everything() {
        let mut whole = Checksum::default();
        let mut first = Checksum::default();
        let mut second = Checksum::default();
        for n in 0..100 {
            let id = format!("id-{n}");
            whole.add(&id, "2026-01-01T00:00:00.000Z");
            if n % 2 == 0 {
                first.add(&id, "2026-01-01T00:00:00.000Z")
            } else {
                second.add(&id, "2026-01-01T00:00:00.000Z")
            }
        }
        first.merge(&second);
        assert_eq!(first, whole);
    }
}
