//! Stored items decoded straight from the SDK's attribute values.
//!
//! `serde_dynamo::from_item` first converts the SDK's whole `HashMap<String, AttributeValue>`
//! into its own attribute-value tree (every string and map copied once more) and then
//! deserializes that copy. On a 500-item page that copy was the largest part of our own CPU
//! time beside the SDK's decoding (`docs/benchmarks.md`, CPU per request), so reads use this
//! deserializer, which walks the SDK's values by reference. Writes still encode with
//! `serde_dynamo::to_item`; a test checks that both decoders agree on every stored shape.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

/// Why an item does not decode into the type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

/// Decodes `item` into `T` without copying it first.
pub fn from_attributes<T: DeserializeOwned>(item: &HashMap<String, AttributeValue>) -> Result<T, DecodeError> {
    T::deserialize(MapDeserializer { entries: item.iter(), value: None })
}

/// One attribute value as a deserializer.
struct ValueDeserializer<'de>(&'de AttributeValue);

/// A number attribute, as the narrowest of `u64`, `i64` and `f64` that holds it.
fn visit_number<'de, V: Visitor<'de>>(text: &str, visitor: V) -> Result<V::Value, DecodeError> {
    if let Ok(n) = text.parse::<u64>() {
        visitor.visit_u64(n)
    } else if let Ok(n) = text.parse::<i64>() {
        visitor.visit_i64(n)
    } else if let Ok(n) = text.parse::<f64>() {
        visitor.visit_f64(n)
    } else {
        Err(de::Error::custom(format!("not a number: {text:?}")))
    }
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            AttributeValue::S(text) => visitor.visit_borrowed_str(text),
            AttributeValue::N(text) => visit_number(text, visitor),
            AttributeValue::Bool(value) => visitor.visit_bool(*value),
            AttributeValue::Null(_) => visitor.visit_unit(),
            AttributeValue::M(map) => visitor.visit_map(MapDeserializer { entries: map.iter(), value: None }),
            AttributeValue::L(list) => visitor.visit_seq(SeqDeserializer(list.iter())),
            AttributeValue::Ss(texts) => visitor.visit_seq(StrSeq(texts.iter())),
            AttributeValue::Ns(numbers) => visitor.visit_seq(NumberSeq(numbers.iter())),
            AttributeValue::B(blob) => visitor.visit_borrowed_bytes(blob.as_ref()),
            AttributeValue::Bs(blobs) => visitor.visit_seq(BytesSeq(blobs.iter())),
            _ => Err(de::Error::custom("an attribute of an unknown type")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            AttributeValue::Null(_) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match self.0 {
            // A unit variant is its name; any other variant a one-entry map.
            AttributeValue::S(text) => visitor.visit_enum(BorrowedStrDeserializer::<DecodeError>::new(text)),
            AttributeValue::M(map) => {
                visitor.visit_enum(MapAccessDeserializer::new(MapDeserializer { entries: map.iter(), value: None }))
            }
            _ => Err(de::Error::custom("an enum must be a string or a map")),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// The entries of a map attribute (or of a whole item).
struct MapDeserializer<'de> {
    entries: std::collections::hash_map::Iter<'de, String, AttributeValue>,
    value: Option<&'de AttributeValue>,
}

impl<'de> MapAccess<'de> for MapDeserializer<'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DecodeError> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("a map value without its key"))?;
        seed.deserialize(ValueDeserializer(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

impl<'de> de::Deserializer<'de> for MapDeserializer<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_map(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string option
        bytes byte_buf unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// The elements of a list attribute.
struct SeqDeserializer<'de>(std::slice::Iter<'de, AttributeValue>);

impl<'de> SeqAccess<'de> for SeqDeserializer<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        self.0.next().map(|value| seed.deserialize(ValueDeserializer(value))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The members of a string set.
struct StrSeq<'de>(std::slice::Iter<'de, String>);

impl<'de> SeqAccess<'de> for StrSeq<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        self.0.next().map(|text| seed.deserialize(BorrowedStrDeserializer::new(text))).transpose()
    }
}

/// The members of a number set.
struct NumberSeq<'de>(std::slice::Iter<'de, String>);

/// One member of a number set.
struct NumberDeserializer<'de>(&'de str);

impl<'de> de::Deserializer<'de> for NumberDeserializer<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visit_number(self.0, visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string option
        bytes byte_buf unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> SeqAccess<'de> for NumberSeq<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        self.0.next().map(|text| seed.deserialize(NumberDeserializer(text))).transpose()
    }
}

/// The members of a binary set.
struct BytesSeq<'de>(std::slice::Iter<'de, aws_sdk_dynamodb::primitives::Blob>);

impl<'de> SeqAccess<'de> for BytesSeq<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        self.0.next().map(|blob| seed.deserialize(blob.as_ref().into_deserializer())).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Plain,
        Fancy,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Sample {
        name: String,
        count: u64,
        delta: i64,
        ratio: f64,
        kind: Kind,
        missing: Option<String>,
        null: Option<String>,
        tags: Vec<String>,
        list: Vec<u32>,
        nested: HashMap<String, bool>,
    }

    #[test]
    fn every_attribute_type_decodes_by_reference() {
        let item: HashMap<String, AttributeValue> = [
            ("name", AttributeValue::S("Ada".into())),
            ("count", AttributeValue::N("42".into())),
            ("delta", AttributeValue::N("-7".into())),
            ("ratio", AttributeValue::N("0.25".into())),
            ("kind", AttributeValue::S("fancy".into())),
            ("null", AttributeValue::Null(true)),
            ("tags", AttributeValue::Ss(vec!["a".into(), "b".into()])),
            ("list", AttributeValue::L(vec![AttributeValue::N("1".into()), AttributeValue::N("2".into())])),
            ("nested", AttributeValue::M([("on".to_owned(), AttributeValue::Bool(true))].into())),
            ("extra", AttributeValue::S("ignored".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let sample: Sample = from_attributes(&item).unwrap();
        assert_eq!(
            sample,
            Sample {
                name: "Ada".into(),
                count: 42,
                delta: -7,
                ratio: 0.25,
                kind: Kind::Fancy,
                missing: None,
                null: None,
                tags: vec!["a".into(), "b".into()],
                list: vec![1, 2],
                nested: [("on".to_owned(), true)].into(),
            }
        );
        let _ = Kind::Plain;
    }

    #[test]
    fn mismatches_are_errors_not_panics() {
        let item: HashMap<String, AttributeValue> = [("count".to_owned(), AttributeValue::S("x".into()))].into();
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Count {
            count: u64,
        }
        assert!(from_attributes::<Count>(&item).is_err());
        let bad_number: HashMap<String, AttributeValue> = [("count".to_owned(), AttributeValue::N("1e".into()))].into();
        assert!(from_attributes::<Count>(&bad_number).is_err());
    }
}
