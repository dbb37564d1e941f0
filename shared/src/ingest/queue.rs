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

use std::collections::BTreeMap;

use super::{apply, Change, Outcome};
use crate::audit::{AuditEntry, AuditLog, ChangeCounts};
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
    received_of_body(body).map(|received| received.change)
}

/// A message's change and who sent it.
struct Received {
    change: Change,
    /// The audit principal: `eventbridge:<source>` for an event the rule forwarded, `sqs` for
    /// a bare change.
    principal: String,
}

fn received_of_body(body: &str) -> Result<Received, String> {
    let value: Value = serde_json::from_str(body).map_err(|_| "malformed: the body is not JSON".to_owned())?;
    let (change, principal) = match value {
        Value::Object(mut event) if event.contains_key("detail-type") && event.contains_key("source") => {
            let source = event.get("source").and_then(Value::as_str).unwrap_or("-").to_owned();
            let detail = event.remove("detail").ok_or_else(|| "malformed: the event has no detail".to_owned())?;
            (detail, format!("eventbridge:{source}"))
        }
        other => (other, "sqs".to_owned()),
    };
    let change = Change::parse(change).map_err(|reason| format!("malformed: {}", loggable(&reason)))?;
    Ok(Received { change, principal })
}

/// The part of a validation message before its first `:` (`record`, `key.userId`, ...):
/// messages from deserialization can quote the offending value, which may be personal data.
fn loggable(reason: &str) -> &str {
    reason.split(':').next().unwrap_or("change").trim()
}

/// Applies every message of `batch` and answers which ones failed. Each tenant (and the
/// platform scope) the batch wrote to gets one audit entry per sender, `changes.ingest`, with
/// the counts of its changes; a message whose body is not a change is logged only.
pub async fn handle_batch(writer: &Writer, audit: &AuditLog, batch: SqsBatch) -> BatchResponse {
    let mut response = BatchResponse::default();
    let mut trails: BTreeMap<(Option<String>, String), ChangeCounts> = BTreeMap::new();
    let (mut all, mut occurred) = (ChangeCounts::default(), Vec::new());
    for message in batch.records {
        // Boxed: the writer's futures are deep enough to overflow the type-layout limit inline.
        let handled = Box::pin(handle_message(writer, &message)).await;
        if let Some((received, outcome)) = &handled {
            let scope = (received.change.tenant_id().map(str::to_owned), received.principal.clone());
            let mut counts = ChangeCounts::received([&received.change]);
            counts.count_outcome(outcome);
            all.add(counts.clone());
            trails.entry(scope).or_default().add(counts);
            if *outcome == "applied" {
                occurred.extend(received.change.occurred_at);
            }
        } else {
            all.received += 1;
            all.count_outcome("rejected");
        }
        if !matches!(handled, Some((_, "applied" | "unchanged" | "stale"))) {
            response.batch_item_failures.push(ItemFailure { item_identifier: message.message_id });
        }
    }
    super::observe::batch_line("queue", &all, &occurred).emit();
    for ((tenant_id, principal), counts) in trails {
        let failed = counts.outcomes.keys().any(|outcome| matches!(*outcome, "rejected" | "failed"));
        let entry = AuditEntry {
            action: "changes.ingest",
            tenant_id,
            principal,
            caller_kind: "queue",
            outcome: if failed { "some_failed" } else { "applied" }.to_owned(),
            sync_id: None,
            request_id: None,
            changes: Some(counts),
            at: Timestamp::now(),
        };
        audit.record(entry).await;
    }
    response
}

/// Applies one message and logs its outcome: the change and its outcome's name (`failed`
/// for a store error), or `None` when the body is not a change.
async fn handle_message(writer: &Writer, message: &SqsMessage) -> Option<(Received, &'static str)> {
    let received = match received_of_body(&message.body) {
        Ok(received) => received,
        Err(reason) => {
            tracing::warn!(message_id = %message.message_id, outcome = "rejected", reason = %reason, "change");
            return None;
        }
    };
    let change = &received.change;
    let change_id = change.change_id.as_deref().unwrap_or("-");
    let lag_ms = change.occurred_at.map(|at| Timestamp::now().millis() - at.millis());
    let outcome = match apply(writer, change).await {
        Ok(Outcome::Rejected(reason)) => {
            tracing::warn!(change_id, kind = change.kind(), outcome = "rejected", reason = %loggable(&reason), "change");
            "rejected"
        }
        Ok(outcome) => {
            tracing::info!(change_id, kind = change.kind(), outcome = outcome.name(), lag_ms, "change");
            outcome.name()
        }
        Err(error) => {
            tracing::warn!(change_id, kind = change.kind(), outcome = "failed", error = %error, "change");
            "failed"
        }
    };
    Some((received, outcome))
}
