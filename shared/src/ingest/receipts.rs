//! Stored answers of change requests sent with an `Idempotency-Key`, so that a caller who
//! lost an answer gets the first one again instead of a second round of outcomes (which
//! would say `unchanged` and `stale` where the first said `applied`).
//!
//! One item per (route scope, caller, key): `CHANGEKEY#<sha256(principal)>#<key>` in the
//! tenant's partition (or [`PLATFORM_PK`] for platform-wide changes), holding the SHA-256 of
//! the body, and once answered the answer; a DynamoDB TTL removes it after
//! [`RECEIPT_TTL_MS`]. A request first claims the key with a conditional put, so two requests
//! with one key never both apply; a claim that was never answered (the process died) may be
//! taken over after [`CLAIM_MS`]. Only a 200 is stored: a 503 releases the claim, so the
//! retry runs again.

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use crate::store::error::sdk;
use crate::store::item::attr;
use crate::store::keys::tenant_pk;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// Partition of the receipts of platform-wide change requests.
pub const PLATFORM_PK: &str = "CHANGES";
/// How long an answer is replayed.
pub const RECEIPT_TTL_MS: i64 = 24 * 3600 * 1000;
/// How long an unanswered claim holds its key.
pub const CLAIM_MS: i64 = 60 * 1000;

/// Where a request's receipt lives: its route scope, caller and key.
#[derive(Debug, Clone)]
pub struct ReceiptKey {
    pk: String,
    sk: String,
}

impl ReceiptKey {
    /// The receipt of `key` sent by `principal` to the tenant's route (`None`: the platform route).
    pub fn new(tenant_id: Option<&str>, principal: &str, key: &str) -> Self {
        let pk = tenant_id.map(tenant_pk).unwrap_or_else(|| PLATFORM_PK.to_owned());
        let sk = format!("CHANGEKEY#{}#{key}", hex::encode(Sha256::digest(principal.as_bytes())));
        Self { pk, sk }
    }
}

/// What the key's receipt says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's now: apply the batch, then [`answer`] or [`release`].
    Claimed,
    /// The key answered this body before: send that answer again.
    Replay(String),
    /// The key was used with another body (422).
    OtherBody,
    /// A request with the key and this body is still running (409).
    InProgress,
}

/// The body's digest, which a receipt compares.
pub fn digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Claims `key` for a request whose body has `digest`, or says why not.
pub async fn claim(store: &Store, key: &ReceiptKey, digest: &str) -> Result<Claim, StoreError> {
    let now = Timestamp::now();
    let put = store
        .client()
        .put_item()
        .table_name(store.table())
        .item(attr::PK, AttributeValue::S(key.pk.clone()))
        .item(attr::SK, AttributeValue::S(key.sk.clone()))
        .item("digest", AttributeValue::S(digest.to_owned()))
        .item("claimedAt", AttributeValue::N(now.millis().to_string()))
        .item(attr::TTL, AttributeValue::N(expiry_seconds(now).to_string()))
        // Free, expired, or claimed long ago and never answered.
        .condition_expression(
            "attribute_not_exists(#pk) OR #ttl < :nowS OR (attribute_not_exists(#answer) AND #claimed < :stale)",
        )
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#ttl", attr::TTL)
        .expression_attribute_names("#answer", "answer")
        .expression_attribute_names("#claimed", "claimedAt")
        .expression_attribute_values(":nowS", AttributeValue::N((now.millis() / 1000).to_string()))
        .expression_attribute_values(":stale", AttributeValue::N((now.millis() - CLAIM_MS).to_string()))
        .return_values_on_condition_check_failure(aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    let held = match put {
        Ok(_) => return Ok(Claim::Claimed),
        Err(error) => match error.as_service_error() {
            Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(failed)) => {
                failed.item().cloned().unwrap_or_default()
            }
            _ => return Err(sdk(error)),
        },
    };
    let text = |name: &str| held.get(name).and_then(|v| v.as_s().ok()).cloned();
    Ok(match (text("digest"), text("answer")) {
        (Some(stored), _) if stored != digest => Claim::OtherBody,
        (_, Some(answer)) => Claim::Replay(answer),
        _ => Claim::InProgress,
    })
}

/// Stores the answer of the request that claimed `key`.
pub async fn answer(store: &Store, key: &ReceiptKey, answer: &str) -> Result<(), StoreError> {
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key(attr::PK, AttributeValue::S(key.pk.clone()))
        .key(attr::SK, AttributeValue::S(key.sk.clone()))
        .update_expression("SET #answer = :answer")
        .expression_attribute_names("#answer", "answer")
        .expression_attribute_values(":answer", AttributeValue::S(answer.to_owned()))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// Gives up the claim on `key` (the request failed and was not answered with a 200).
pub async fn release(store: &Store, key: &ReceiptKey) -> Result<(), StoreError> {
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key(attr::PK, AttributeValue::S(key.pk.clone()))
        .key(attr::SK, AttributeValue::S(key.sk.clone()))
        .condition_expression("attribute_not_exists(#answer)")
        .expression_attribute_names("#answer", "answer")
        .send()
        .await
        .map(|_| ())
        .or_else(|error| match error.as_service_error() {
            Some(e) if e.is_conditional_check_failed_exception() => Ok(()),
            _ => Err(sdk(error)),
        })
}

fn expiry_seconds(now: Timestamp) -> i64 {
    now.plus_millis(RECEIPT_TTL_MS).millis() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_scoped_by_route_and_caller() {
        let a = ReceiptKey::new(Some("t-1"), "wrapper", "k");
        let b = ReceiptKey::new(Some("t-2"), "wrapper", "k");
        let c = ReceiptKey::new(Some("t-1"), "other", "k");
        let platform = ReceiptKey::new(None, "wrapper", "k");
        assert_ne!(a.pk, b.pk);
        assert_eq!(a.pk, tenant_pk("t-1"));
        assert_ne!(a.sk, c.sk);
        assert_eq!(platform.pk, PLATFORM_PK);
        assert!(a.sk.len() < 1024 - 255);
    }

    #[test]
    fn digests_differ_with_the_body() {
        assert_ne!(digest(b"[1]"), digest(b"[2]"));
        assert_eq!(digest(b"[1]").len(), 64);
    }
}
