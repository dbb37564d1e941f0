//! Batches of changes as the HTTP routes receive them (`POST /tenants/{tenantId}/changes`,
//! `POST /changes`): the body read as a JSON array or NDJSON, every change validated before
//! anything is written, and the batch applied with independent records in parallel.
//!
//! Validation is all or nothing: one invalid change (malformed, of the wrong scope for the
//! route, for another tenant) and the batch is refused with one problem per bad index. A valid
//! batch is applied change by change; each change is atomic and idempotent by version, so a
//! store failure part-way leaves some applied and the caller sends the whole body again.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::{apply, Change, Outcome};
use crate::store::writer::Writer;
use crate::store::StoreError;

/// Most changes in one request.
pub const MAX_CHANGES: usize = 1000;
/// Largest request body (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Lanes (records) applied at the same time.
const LANES_IN_FLIGHT: usize = 8;

/// The scope a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// One tenant's changes: every change must be tenant-scoped and name this tenant.
    Tenant(&'a str),
    /// Platform-wide changes only (catalog apps, global credit configurations, tenants).
    Platform,
}

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A JSON array of changes (`application/json`).
    JsonArray,
    /// One change per line (`application/x-ndjson`); blank lines are skipped.
    NdJson,
}

/// One invalid change of a refused batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Its index in the batch (0-based).
    pub index: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Why a body is not a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The body is not a JSON array (or not NDJSON).
    #[error("{0}")]
    Malformed(String),
    /// More than [`MAX_CHANGES`] changes (413).
    #[error("a batch holds at most {MAX_CHANGES} changes")]
    TooMany,
    /// No change at all.
    #[error("the batch holds no change")]
    Empty,
    /// Some changes are invalid; nothing is written.
    #[error("{} invalid changes", .0.len())]
    Invalid(Vec<Problem>),
}

/// The changes of `body`, every one valid for `scope`, in the order sent.
pub fn parse(body: &[u8], framing: Framing, scope: Scope<'_>) -> Result<Vec<Change>, BatchError> {
    let values = match framing {
        Framing::JsonArray => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Array(values)) => values.into_iter().map(Ok).collect(),
            Ok(_) => return Err(BatchError::Malformed("the body must be a JSON array of changes".into())),
            Err(_) => return Err(BatchError::Malformed("the body must be valid JSON".into())),
        },
        Framing::NdJson => ndjson_lines(body)?,
    };
    if values.len() > MAX_CHANGES {
        return Err(BatchError::TooMany);
    }
    if values.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut changes = Vec::with_capacity(values.len());
    let mut problems = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        match value.and_then(Change::parse).and_then(|change| in_scope(change, scope)) {
            Ok(change) => changes.push(change),
            Err(reason) => problems.push(Problem { index, reason }),
        }
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        Err(BatchError::Invalid(problems))
    }
}

/// The lines of an NDJSON body, each parsed (or the reason it is not JSON).
fn ndjson_lines(body: &[u8]) -> Result<Vec<Result<serde_json::Value, String>>, BatchError> {
    let text = std::str::from_utf8(body).map_err(|_| BatchError::Malformed("the body must be UTF-8".into()))?;
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).map_err(|_| "not a JSON object".to_owned()))
        .collect())
}

/// `change` if the route of `scope` takes it.
fn in_scope(change: Change, scope: Scope<'_>) -> Result<Change, String> {
    match scope {
        Scope::Platform if !change.platform_wide() => {
            Err(format!("{} is tenant-scoped: post it to /tenants/{{tenantId}}/changes", change.kind()))
        }
        Scope::Tenant(_) if change.platform_wide() => {
            Err(format!("{} is platform-wide: post it to /changes", change.kind()))
        }
        Scope::Tenant(tenant) if change.tenant_id() != Some(tenant) => {
            Err(format!("tenantId: must be the path's tenant {tenant}"))
        }
        _ => Ok(change),
    }
}

/// The result of one change of an applied batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeResult {
    /// Its index in the batch.
    pub index: usize,
    /// Its `changeId`, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// `applied`, `unchanged`, `stale` or `rejected`.
    pub outcome: &'static str,
    /// Why a rejected change cannot be applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Applies `changes`: the changes of one record (one [`Change::lane`]) in the order sent,
/// different records concurrently. The results come back in the order sent. A store error
/// stops the batch (changes already applied stay applied; sending the batch again is safe).
pub async fn apply_all(writer: &Writer, changes: &[Change]) -> Result<Vec<ChangeResult>, StoreError> {
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    let mut lane_of: HashMap<String, usize> = HashMap::new();
    for (index, change) in changes.iter().enumerate() {
        let lane = *lane_of.entry(change.lane()).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[lane].push(index);
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; changes.len()];
    let mut applied =
        stream::iter(lanes.into_iter().map(|lane| apply_lane(writer, changes, lane))).buffer_unordered(LANES_IN_FLIGHT);
    while let Some(lane) = applied.next().await {
        for (index, outcome) in lane? {
            outcomes[index] = Some(outcome);
        }
    }
    Ok(changes
        .iter()
        .zip(outcomes)
        .enumerate()
        .map(|(index, (change, outcome))| {
            let outcome = outcome.unwrap_or(Outcome::Unchanged);
            let reason = match &outcome {
                Outcome::Rejected(reason) => Some(reason.clone()),
                _ => None,
            };
            ChangeResult { index, change_id: change.change_id.clone(), outcome: outcome.name(), reason }
        })
        .collect())
}

/// Applies the changes at `indexes` one after the other.
async fn apply_lane(
    writer: &Writer,
    changes: &[Change],
    indexes: Vec<usize>,
) -> Result<Vec<(usize, Outcome)>, StoreError> {
    let mut outcomes = Vec::with_capacity(indexes.len());
    for index in indexes {
        outcomes.push((index, Box::pin(apply(writer, &changes[index])).await?));
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TENANT: &str = "11111111-1111-4111-8111-111111111111";

    fn user(id: &str, version: u64) -> serde_json::Value {
        json!({ "changeId": format!("c-{id}-{version}"), "type": "user", "op": "upsert", "tenantId": TENANT,
                "sourceVersion": version, "record": { "userId": id, "email": format!("{id}@example.com"),
                "lastName": "B", "createdAt": "2026-01-01T00:00:00Z" } })
    }

    fn catalog_app() -> serde_json::Value {
        json!({ "type": "catalogApp", "record": { "appCode": "crm", "appName": "CRM", "status": "active", "modules": [] } })
    }

    #[test]
    fn json_arrays_and_ndjson_carry_the_same_batch() {
        let changes = [user("u1", 1), user("u2", 1)];
        let array = serde_json::to_vec(&changes).unwrap();
        let lines = changes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("\n\n");
        let from_array = parse(&array, Framing::JsonArray, Scope::Tenant(TENANT)).unwrap();
        let from_lines = parse(lines.as_bytes(), Framing::NdJson, Scope::Tenant(TENANT)).unwrap();
        assert_eq!(from_array, from_lines);
        assert_eq!(from_array.len(), 2);
    }

    #[test]
    fn every_bad_index_is_reported() {
        let mut other_tenant = user("u3", 1);
        other_tenant["tenantId"] = json!("22222222-2222-4222-8222-222222222222");
        let body =
            serde_json::to_vec(&json!([user("u1", 1), { "type": "user" }, catalog_app(), other_tenant])).unwrap();
        let Err(BatchError::Invalid(problems)) = parse(&body, Framing::JsonArray, Scope::Tenant(TENANT)) else {
            panic!("the batch must be refused");
        };
        assert_eq!(problems.iter().map(|p| p.index).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(problems[1].reason.contains("platform-wide"), "{problems:?}");
        assert!(problems[2].reason.contains("path's tenant"), "{problems:?}");
    }

    #[test]
    fn the_platform_route_takes_only_platform_wide_changes() {
        let body = serde_json::to_vec(&json!([catalog_app(), user("u1", 1)])).unwrap();
        let Err(BatchError::Invalid(problems)) = parse(&body, Framing::JsonArray, Scope::Platform) else {
            panic!("a user change is tenant-scoped");
        };
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].index, 1);
    }

    #[test]
    fn limits_and_framing_are_checked() {
        let many = serde_json::to_vec(&vec![user("u1", 1); MAX_CHANGES + 1]).unwrap();
        assert_eq!(parse(&many, Framing::JsonArray, Scope::Tenant(TENANT)), Err(BatchError::TooMany));
        assert_eq!(parse(b"[]", Framing::JsonArray, Scope::Tenant(TENANT)), Err(BatchError::Empty));
        assert!(matches!(parse(b"{}", Framing::JsonArray, Scope::Tenant(TENANT)), Err(BatchError::Malformed(_))));
        assert!(matches!(parse(b"[1", Framing::JsonArray, Scope::Tenant(TENANT)), Err(BatchError::Malformed(_))));
    }

    #[test]
    fn a_posting_shares_its_balance_lane() {
        let posting = Change::parse(json!({ "changeId": "p-1", "type": "creditActivity", "tenantId": TENANT,
            "record": { "entityId": "e1", "activity": "usage", "operationCode": "op",
                        "creditsDebited": "1", "createdAt": "2026-01-01T00:00:00.000Z" } }))
        .unwrap();
        let delete = Change::parse(json!({ "changeId": "d-1", "type": "creditBalance", "op": "delete",
            "tenantId": TENANT, "sourceVersion": 2, "key": { "entityId": "e1" } }))
        .unwrap();
        assert_eq!(posting.lane(), delete.lane());
        assert_ne!(posting.lane(), Change::parse(user("e1", 1)).unwrap().lane());
    }
}
