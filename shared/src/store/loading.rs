//! The bulk-loading marker of a tenant: while `wrapper-sync import --bulk` writes a new
//! tenant with unconditional `BatchWriteItem` calls, the tenant's `BULKLOAD` item says so,
//! and every ingested change for the tenant waits.
//!
//! The wait is a condition in the change's own transaction ([`not_loading`]): the transaction
//! is cancelled while the marker is there, the writer retries it with backoff, and after its
//! attempts the change fails (the queue delivers its message again, the HTTP route answers
//! 503 with `Retry-After`). So no change can commit between the marker's put and its removal
//! and then be overwritten by the load. The marker carries an expiry, so a load that died
//! without removing it blocks the tenant's changes for at most [`MAX_LOAD_MS`].

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};

use super::error::sdk;
use super::item::attr;
use super::keys::tenant_pk;
use super::{Store, StoreError};
use crate::time::Timestamp;

/// Sort key of the marker, in the tenant's partition.
pub const BULK_LOAD_SK: &str = "BULKLOAD";
/// How long a marker holds the tenant's changes at most (a bulk load must finish within it).
pub const MAX_LOAD_MS: i64 = 60 * 60 * 1000;
const UNTIL: &str = "until";

/// Puts the marker: the tenant's changes wait from now until [`finish`] (or the expiry).
pub async fn begin(store: &Store, tenant_id: &str) -> Result<(), StoreError> {
    let until = Timestamp::now().plus_millis(MAX_LOAD_MS).millis();
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
        .item(attr::SK, AttributeValue::S(BULK_LOAD_SK.to_owned()))
        .item(UNTIL, AttributeValue::N(until.to_string()))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// Whether the tenant's partition holds anything besides the marker. Called once the marker
/// is in place: from then on no change commits, so a consistent read sees every change that
/// committed before it (changes for a tenant App Sync does not hold yet are stored as
/// dangling records). A bulk load must not overwrite those unconditionally with what may be
/// older versions, so it refuses such a tenant.
pub async fn written_before(store: &Store, tenant_id: &str) -> Result<bool, StoreError> {
    let output = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#sk", attr::SK)
        .expression_attribute_values(":pk", AttributeValue::S(tenant_pk(tenant_id)))
        .projection_expression("#sk")
        .consistent_read(true)
        .limit(2)
        .send()
        .await
        .map_err(sdk)?;
    Ok(output
        .items()
        .iter()
        .any(|item| item.get(attr::SK).and_then(|sk| sk.as_s().ok()).is_none_or(|sk| sk != BULK_LOAD_SK)))
}

/// Removes the marker: the tenant's changes apply again.
pub async fn finish(store: &Store, tenant_id: &str) -> Result<(), StoreError> {
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
        .key(attr::SK, AttributeValue::S(BULK_LOAD_SK.to_owned()))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// The condition check that holds while the tenant is not bulk-loading (no marker, or an
/// expired one), for a change's transaction.
pub fn not_loading(table: &str, tenant_id: &str, now: Timestamp) -> Result<TransactWriteItem, StoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .key(attr::PK, AttributeValue::S(tenant_pk(tenant_id)))
        .key(attr::SK, AttributeValue::S(BULK_LOAD_SK.to_owned()))
        .condition_expression("attribute_not_exists(#pk) OR #until < :now")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#until", UNTIL)
        .expression_attribute_values(":now", AttributeValue::N(now.millis().to_string()))
        .build()
        .map_err(|e| StoreError::Request(e.to_string()))?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}
