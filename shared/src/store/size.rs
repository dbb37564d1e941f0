//! What an item costs its tenant's item collection, by DynamoDB's published size rules.
//!
//! Every tenant is one item collection (`PK = TENANT#<id>`), and because the table has local
//! secondary indexes that collection may not pass 10 GB, counting the base items and every
//! index entry. DynamoDB reports an estimate with each write (`ItemCollectionMetrics`, read
//! by [`collection_size_gb`]); this module computes the same quantity from the items
//! themselves, so the benchmark can measure bytes per record type and the documentation can
//! say which tenant the layout holds (`docs/data-model.md`, "The largest tenant").
//!
//! The rules (DynamoDB developer guide, "Item sizes and formats" and "Storage considerations
//! for local secondary indexes"): a string or binary counts its bytes, a number one byte per
//! two significant digits plus one, a boolean or null one byte, a list or map three bytes plus
//! one per element; every attribute adds its name's bytes. An index entry counts the table's
//! key, the index key, the projected attributes and 100 bytes of overhead.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{attr, RawItem};
use super::table::{LOCAL_INDEXES, REFERENCE_PROJECTION};

/// DynamoDB's limit for one item collection of a table with local secondary indexes.
pub const COLLECTION_LIMIT_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// The overhead DynamoDB counts for every local-index entry.
pub const INDEX_ENTRY_OVERHEAD: u64 = 100;

/// Bytes of one item in the base table.
pub fn item_bytes(item: &RawItem) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_bytes(value)).sum()
}

/// Bytes of `item`'s entries in the local indexes whose sort key it carries.
pub fn index_bytes(item: &RawItem) -> u64 {
    let named = |name: &str| item.get(name).map(|value| name.len() as u64 + value_bytes(value)).unwrap_or(0);
    let table_key = named(attr::PK) + named(attr::SK);
    LOCAL_INDEXES
        .iter()
        .filter(|(_, sort_key, _)| item.contains_key(*sort_key))
        .map(|(_, sort_key, all)| {
            let projected = match all {
                true => item_bytes(item) - table_key - named(sort_key),
                false => REFERENCE_PROJECTION.iter().map(|name| named(name)).sum(),
            };
            table_key + named(sort_key) + projected + INDEX_ENTRY_OVERHEAD
        })
        .sum()
}

/// Bytes `item` adds to its item collection: the base item and its index entries.
pub fn collection_bytes(item: &RawItem) -> u64 {
    item_bytes(item) + index_bytes(item)
}

fn value_bytes(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(text) => text.len() as u64,
        AttributeValue::N(number) => number_bytes(number),
        AttributeValue::B(blob) => blob.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(texts) => texts.iter().map(|t| t.len() as u64).sum(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|n| number_bytes(n)).sum(),
        AttributeValue::Bs(blobs) => blobs.iter().map(|b| b.as_ref().len() as u64).sum(),
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_bytes(v)).sum::<u64>(),
        AttributeValue::M(members) => {
            3 + members.iter().map(|(name, v)| 1 + name.len() as u64 + value_bytes(v)).sum::<u64>()
        }
        _ => 0,
    }
}

/// One byte per two significant digits, plus one: leading and trailing zeros are trimmed
/// (DynamoDB keeps a number as base-100 digits and an exponent).
fn number_bytes(number: &str) -> u64 {
    let digits: String = number.chars().take_while(|c| *c != 'e' && *c != 'E').filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    (significant.len().max(1) as u64).div_ceil(2) + 1
}

/// The upper bound of DynamoDB's size estimate for each item collection a write touched,
/// in GB, with the collection's partition key.
pub fn collection_size_gb(
    metrics: &std::collections::HashMap<String, Vec<aws_sdk_dynamodb::types::ItemCollectionMetrics>>,
) -> Vec<(String, f64)> {
    metrics
        .values()
        .flatten()
        .filter_map(|metric| {
            let key = metric.item_collection_key()?.get(attr::PK)?.as_s().ok()?.clone();
            let upper = metric.size_estimate_range_gb().iter().copied().fold(f64::NAN, f64::max);
            upper.is_finite().then_some((key, upper))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    #[test]
    fn numbers_count_one_byte_per_two_significant_digits_plus_one() {
        assert_eq!(number_bytes("0"), 2);
        assert_eq!(number_bytes("7"), 2);
        assert_eq!(number_bytes("12"), 2);
        assert_eq!(number_bytes("123"), 3);
        assert_eq!(number_bytes("1700000000000"), 2);
        assert_eq!(number_bytes("1795521600123"), 8);
        assert_eq!(number_bytes("-0012.500"), 3);
    }

    #[test]
    fn attributes_count_their_names_and_containers_their_overhead() {
        let item: RawItem = [
            ("PK".to_owned(), s("TENANT#t")),
            ("n".to_owned(), AttributeValue::N("42".into())),
            ("m".to_owned(), AttributeValue::M([("a".to_owned(), s("xy"))].into())),
        ]
        .into();
        // PK: 2 + 8; n: 1 + 2; m: 1 + 3 + (1 + 1 + 2).
        assert_eq!(item_bytes(&item), 10 + 3 + 8);
    }

    #[test]
    fn an_item_is_copied_into_the_indexes_whose_sort_key_it_has() {
        let mut item: RawItem = [("PK".to_owned(), s("TENANT#t")), ("SK".to_owned(), s("USER#u"))].into();
        item.insert("rec".to_owned(), s("0123456789"));
        item.insert("der".to_owned(), s("d"));
        assert_eq!(index_bytes(&item), 0, "no index key, no index entry");
        let base = item_bytes(&item);
        item.insert(attr::OSK.to_owned(), s("USER#1#u"));
        let with_order = item_bytes(&item);
        // byOrder projects everything: the whole item again, plus the overhead.
        assert_eq!(index_bytes(&item), with_order + INDEX_ENTRY_OVERHEAD);
        item.insert(attr::USK.to_owned(), s("MEMBER#u"));
        let usk = (attr::USK.len() + "MEMBER#u".len()) as u64;
        let keys = (2 + 8 + 2 + 6) as u64;
        // byUser projects the keys and `der` only.
        let reference = keys + usk + 4 + INDEX_ENTRY_OVERHEAD;
        assert_eq!(index_bytes(&item), (with_order + usk) + INDEX_ENTRY_OVERHEAD + reference);
        assert!(collection_bytes(&item) > base);
    }

    #[test]
    fn a_writes_collection_metrics_give_each_tenant_its_upper_bound() {
        use aws_sdk_dynamodb::types::ItemCollectionMetrics;
        let metric = |pk: &str, range: Vec<f64>| {
            ItemCollectionMetrics::builder()
                .item_collection_key(attr::PK, s(pk))
                .set_size_estimate_range_gb(Some(range))
                .build()
        };
        let metrics = [(
            "table".to_owned(),
            vec![metric("TENANT#a", vec![1.0, 2.0]), metric("TENANT#b", vec![0.0, 1.0]), metric("TENANT#c", vec![])],
        )]
        .into();
        let mut sizes = collection_size_gb(&metrics);
        sizes.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(sizes, vec![("TENANT#a".to_owned(), 2.0), ("TENANT#b".to_owned(), 1.0)]);
    }
}
