//! What the writer reads before it plans: records by id, the `REFS` guard's version, and the
//! records that refer to another one, through the `byUser` and `byRef` indexes.
//!
//! The reference indexes project the derived values (`der`), so a cascade learns which
//! dependents are out of step from the index alone and reads in full (`BatchGetItem`,
//! strongly consistent) only the ones it must rewrite.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::Deserialize;

use super::super::error::sdk;
use super::super::item::{attr, CollectionRecord, RawItem, Stored};
use super::super::keys::{id_of_record_key, record_key, tenant_pk, REFS_SK};
use super::super::table::{BY_REF, BY_USER};
use super::super::{reader, StoreError};
use super::Writer;

/// Keys a `BatchGetItem` call may ask for.
const BATCH_GET: usize = 100;

/// The index that finds a record's dependents.
#[derive(Debug, Clone, Copy)]
pub(super) enum RefIndex {
    /// Memberships and role assignments of a user.
    User,
    /// Children of an entity, memberships of an entity, assignments of a role.
    Parent,
}

/// A dependent as the reference index holds it: its sort key and derived values.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Referrer<D> {
    /// Base sort key.
    #[serde(rename = "SK")]
    pub sk: String,
    /// Derived values (projected into the index).
    #[serde(default)]
    pub der: D,
}

impl Writer {
    /// A record (live or tombstone) by base sort key.
    pub(super) async fn get<R: CollectionRecord>(
        &self,
        tenant_id: &str,
        sk: &str,
    ) -> Result<Option<Stored<R, R::Derived>>, StoreError> {
        reader::get_record::<R>(&self.store, tenant_id, sk).await
    }

    /// The version of the tenant's `REFS` item, read before anything it guards.
    pub(super) async fn refs_version(&self, tenant_id: &str) -> Result<Option<u64>, StoreError> {
        let item = reader::get_item(&self.store, tenant_pk(tenant_id), REFS_SK).await?;
        Ok(item.and_then(|item| match item.get("ver") {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }))
    }

    /// Live records of `R`'s collection that refer to `id` through `index`, as the index
    /// holds them (sort key and derived values). One strongly consistent `Query` per 1 MB.
    pub(super) async fn referrers<R: CollectionRecord>(
        &self,
        tenant_id: &str,
        index: RefIndex,
        id: &str,
    ) -> Result<Vec<Referrer<R::Derived>>, StoreError> {
        let (index_name, key_attr) = match index {
            RefIndex::User => (BY_USER, attr::USK),
            RefIndex::Parent => (BY_REF, attr::RSK),
        };
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .store
                .client()
                .query()
                .table_name(self.store.table())
                .index_name(index_name)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND #ref = :ref")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_names("#ref", key_attr)
                .expression_attribute_values(":pk", AttributeValue::S(tenant_pk(tenant_id)))
                .expression_attribute_values(":ref", AttributeValue::S(record_key(R::COLLECTION, id)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            for item in output.items.unwrap_or_default() {
                found.push(crate::store::decode::from_attributes(&item)?);
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(found),
            }
        }
    }

    /// Ids of the live records of `R`'s collection that refer to `id` through `index`.
    pub(super) async fn referrer_ids<R: CollectionRecord>(
        &self,
        tenant_id: &str,
        index: RefIndex,
        id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let referrers = self.referrers::<R>(tenant_id, index, id).await?;
        Ok(referrers.iter().filter_map(|r| id_of_record_key(R::COLLECTION, &r.sk)).map(str::to_owned).collect())
    }

    /// The live records of `R`'s collection that refer to `id` through `index`, read whole.
    pub(super) async fn referrers_full<R: CollectionRecord>(
        &self,
        tenant_id: &str,
        index: RefIndex,
        id: &str,
    ) -> Result<Vec<Stored<R, R::Derived>>, StoreError> {
        let keys: Vec<String> = self.referrers::<R>(tenant_id, index, id).await?.into_iter().map(|r| r.sk).collect();
        self.batch_get::<R>(tenant_id, keys).await
    }

    /// Live records by base sort key, strongly consistent, in any order.
    pub(super) async fn batch_get<R: CollectionRecord>(
        &self,
        tenant_id: &str,
        sort_keys: Vec<String>,
    ) -> Result<Vec<Stored<R, R::Derived>>, StoreError> {
        let mut records = Vec::with_capacity(sort_keys.len());
        for batch in sort_keys.chunks(BATCH_GET) {
            for item in self.batch_get_items(tenant_id, batch).await? {
                let stored: Stored<R, R::Derived> = Stored::from_item(item)?;
                if stored.live().is_some() {
                    records.push(stored);
                }
            }
        }
        Ok(records)
    }

    async fn batch_get_items(&self, tenant_id: &str, sort_keys: &[String]) -> Result<Vec<RawItem>, StoreError> {
        let pk = tenant_pk(tenant_id);
        let keys: Vec<HashMap<String, AttributeValue>> = sort_keys
            .iter()
            .map(|sk| {
                HashMap::from([
                    (attr::PK.to_owned(), AttributeValue::S(pk.clone())),
                    (attr::SK.to_owned(), AttributeValue::S(sk.clone())),
                ])
            })
            .collect();
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Request(e.to_string()))?;
        let mut items = Vec::with_capacity(sort_keys.len());
        for round in 0..10u32 {
            let output = self
                .store
                .client()
                .batch_get_item()
                .request_items(self.store.table(), pending)
                .send()
                .await
                .map_err(sdk)?;
            items.extend(output.responses.unwrap_or_default().remove(self.store.table()).unwrap_or_default());
            match output.unprocessed_keys.unwrap_or_default().remove(self.store.table()) {
                Some(rest) if !rest.keys().is_empty() => pending = rest,
                _ => return Ok(items),
            }
            tokio::time::sleep(Duration::from_millis(20u64 << round.min(6))).await;
        }
        Err(StoreError::Unavailable("unprocessed keys remained after 10 rounds of BatchGetItem".into()))
    }
}
