//! SQS batches of changes, as the `ingest` function receives them.
//!
//! Each message body is one change, or an EventBridge event whose `detail` is one (the rule
//! on the platform's bus forwards events unchanged). Messages are applied one by one; the
//! answer names the ones that failed (`batchItemFailures`, with `ReportBatchItemFailures` on
//! the event source mapping), so only those come back: a malformed or rejected change after
//! `maxReceiveCount` receives lands in the dead-letter queue, a transient store error is
//! retried. One log line per message says what happened, without personal data.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{apply, Change, Outcome};
use crate::store::writer::Writer;
use crate::time::Timestamp;

/// An SQS event as Lambda delivers it: only the members ingestion reads.
#[derive(Debug, Deserialize)]
pub struct SqsBatch {
    /// The messages.
    #[serde(rename = "Records")]
    pub records: Vec<SqsMessage>,
}

/// One SQS message.
#[derive(Debug, Deserialize)]
pub struct SqsMessage {
    /// The message id, which the answer uses to name a failed message.
    #[serde(rename = "messageId")]
    pub message_id: String,
    /// The message body: a change, or an EventBridge event carrying one.
    pub body: String,
}

/// The answer to an SQS batch: the messages to deliver again.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BatchResponse {
    /// Failed messages.
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One failed message.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ItemFailure {
    /// Its message id.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// The change a message body carries: the body itself, or the `detail` of an EventBridge
/// event. The error is safe to log: it names the member at fault, never a value.
pub fn change_of_body(body: &str) -> Result<Change, String> {
    let value: Value = serde_json::from_str(body).map_err(|_| "malformed: the body is not JSON".to_owned())?;
    let change = match value {
        Value::Object(mut event) if event.contains_key("detail-type") && event.contains_key("source") => {
            event.remove("detail").ok_or_else(|| "malformed: the event has no detail".to_owned())?
        }
        other => other,
    };
    Change::parse(change).map_err(|reason| format!("malformed: {}", loggable(&reason)))
}

/// The part of a validation message before its first `:` (`record`, `key.userId`, ...):
/// messages from deserialization can quote the offending value, which may be personal data.
fn loggable(reason: &str) -> &str {
    reason.split(':').next().unwrap_or("change").trim()
}

/// Applies every message of `batch` and answers which ones failed.
pub async fn handle_batch(writer: &Writer, batch: SqsBatch) -> BatchResponse {
    let mut response = BatchResponse::default();
    for message in batch.records {
        // Boxed: the writer's futures are deep enough to overflow the type-layout limit inline.
        if !Box::pin(handle_message(writer, &message)).await {
            response.batch_item_failures.push(ItemFailure { item_identifier: message.message_id });
        }
    }
    response
}

/// Applies one message and logs its outcome; `false` when it must come back.
async fn handle_message(writer: &Writer, message: &SqsMessage) -> bool {
    let change = match change_of_body(&message.body) {
        Ok(change) => change,
        Err(reason) => {
            tracing::warn!(message_id = %message.message_id, outcome = "rejected", reason = %reason, "change");
            return false;
        }
    };
    let change_id = change.change_id.as_deref().unwrap_or("-");
    let lag_ms = change.occurred_at.map(|at| Timestamp::now().millis() - at.millis());
    match apply(writer, &change).await {
        Ok(Outcome::Rejected(reason)) => {
            tracing::warn!(change_id, kind = change.kind(), outcome = "rejected", reason = %loggable(&reason), "change");
            false
        }
        Ok(outcome) => {
            tracing::info!(change_id, kind = change.kind(), outcome = outcome.name(), lag_ms, "change");
            true
        }
        Err(error) => {
            tracing::warn!(change_id, kind = change.kind(), outcome = "failed", error = %error, "change");
            false
        }
    }
}
