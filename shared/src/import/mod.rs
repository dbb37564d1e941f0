//! Importing records from an NDJSON file (format: `docs/import-format.md`). A line is a
//! plain import line or any change of the change format (`docs/ingest-format.md`): versioned
//! upserts, deletes and credit postings, applied by the same rules as ingestion.
//!
//! Import is two passes. [`parse`] and [`check_against_store`] validate every line (JSON
//! syntax, the record's shape and values, duplicates within the file, that tenant-scoped
//! records name a tenant defined in the file or already stored, that a Kinde org code is not
//! taken by another tenant) and report each problem with its line number. Only a file
//! without problems is written (unless the caller chooses to skip invalid lines). [`apply`]
//! then writes through the [`Writer`], which skips records that are already stored exactly
//! as given, so importing the same file again changes nothing.

pub mod bulk;

use std::collections::{BTreeMap, HashMap, HashSet};

pub use crate::ingest::record::Record as ImportRecord;
use crate::ingest::{Action, Change};
use crate::store::writer::{WriteOutcome, Writer};
use crate::store::{reader, Store, StoreError};

/// A change with the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportLine {
    /// 1-based line number.
    pub line: usize,
    /// The change (a plain line is an unversioned upsert).
    pub change: Change,
}

impl ImportLine {
    /// The record of an upsert.
    pub fn record(&self) -> Option<&ImportRecord> {
        match &self.change.action {
            Action::Upsert(record) => Some(record),
            _ => None,
        }
    }

    /// Write order: upserts in dependency order, then deletes, then credit postings (which
    /// need their balance); the file's order within each.
    fn rank(&self) -> (u8, i64) {
        match &self.change.action {
            Action::Upsert(record) => record.rank(),
            Action::Delete { .. } => (20, 0),
            Action::CreditActivity { .. } => (21, 0),
        }
    }
}

/// A problem with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Parses and validates every line on its own and against the rest of the file. Blank
/// lines are skipped. Returns the valid records and the problems found.
pub fn parse(text: &str) -> (Vec<ImportLine>, Vec<LineError>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match parse_line(raw) {
            Ok(change) => {
                // Versioned changes of one record may follow each other; plain lines may not.
                let plain = match &change.action {
                    Action::Upsert(record) if change.source_version.is_none() => Some(record),
                    _ => None,
                };
                match plain.and_then(|record| seen.insert(record.identity(), line).map(|first| (record, first))) {
                    Some((record, first)) => errors.push(LineError {
                        line,
                        reason: format!("duplicate of the {} on line {first}", record.kind()),
                    }),
                    None => records.push(ImportLine { line, change }),
                }
            }
            Err(reason) => errors.push(LineError { line, reason }),
        }
    }
    (records, errors)
}

fn parse_line(raw: &str) -> Result<Change, String> {
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| format!("not a valid import line: {e}"))?;
    Change::parse(value)
}

/// Checks what can only be checked against the store: every tenant-scoped record names a
/// tenant defined in the file or already stored, no tenant takes a Kinde org code that
/// belongs to another tenant, and no tenant id is another tenant's org code or the reverse
/// (the two share one namespace, because a path value may be either).
pub async fn check_against_store(store: &Store, records: &[ImportLine]) -> Result<Vec<LineError>, StoreError> {
    let defined: HashSet<&str> = records
        .iter()
        .filter_map(|l| match l.record() {
            Some(ImportRecord::Tenant(t)) => Some(t.tenant_id.as_str()),
            _ => None,
        })
        .collect();
    let orgs_in_file: HashMap<&str, &str> = records
        .iter()
        .filter_map(|l| match l.record() {
            Some(ImportRecord::Tenant(t)) => Some((t.kinde_org_id.as_str(), t.tenant_id.as_str())),
            _ => None,
        })
        .collect();
    let mut known: HashMap<String, bool> = HashMap::new();
    let mut errors = Vec::new();
    for line in records {
        match line.record() {
            Some(ImportRecord::Tenant(tenant)) => {
                let (id, org) = (tenant.tenant_id.as_str(), tenant.kinde_org_id.as_str());
                let mut fail = |reason: String| errors.push(LineError { line: line.line, reason });
                if reader::tenant_id_for_org(store, org).await?.is_some_and(|owner| owner != id) {
                    fail(format!("kindeOrgId {org} belongs to another tenant"));
                }
                if org != id && (defined.contains(org) || reader::tenant(store, org).await?.is_some()) {
                    fail(format!("kindeOrgId {org} is the tenantId of another tenant"));
                }
                let org_owner = match orgs_in_file.get(id) {
                    Some(owner) => Some((*owner).to_owned()),
                    None => reader::tenant_id_for_org(store, id).await?,
                };
                if org != id && org_owner.is_some_and(|owner| owner != id) {
                    fail(format!("tenantId {id} is the kindeOrgId of another tenant"));
                }
            }
            _ => {
                let Some(tenant) = line.change.tenant_id() else { continue };
                if defined.contains(tenant) {
                    continue;
                }
                let exists = match known.get(tenant) {
                    Some(exists) => *exists,
                    None => {
                        let exists = reader::tenant(store, tenant).await?.is_some_and(|t| t.live().is_some());
                        known.insert(tenant.to_owned(), exists);
                        exists
                    }
                };
                if !exists {
                    errors.push(LineError {
                        line: line.line,
                        reason: format!("tenant {tenant} is neither in the file nor stored"),
                    });
                }
            }
        }
    }
    Ok(errors)
}

/// What an import wrote, per record type and outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// `(type, outcome)` -> number of records.
    pub outcomes: BTreeMap<(String, String), usize>,
    /// Records the writer refused, with their lines.
    pub rejected: Vec<LineError>,
}

impl ImportReport {
    /// Adds the counts and refusals of `other`.
    pub fn merge(&mut self, other: ImportReport) {
        for (key, count) in other.outcomes {
            *self.outcomes.entry(key).or_default() += count;
        }
        self.rejected.extend(other.rejected);
    }

    /// Number of records with this outcome, over all types.
    pub fn count(&self, outcome: WriteOutcome) -> usize {
        let name = format!("{outcome:?}");
        self.outcomes.iter().filter(|((_, o), _)| *o == name).map(|(_, n)| n).sum()
    }
}

/// Writes validated records in dependency order through the writer, one at a time: the
/// writer serializes creations within a tenant anyway (see `store::writer`), so concurrent
/// writes would only contend. `progress` is called once per record.
pub async fn apply(
    writer: &Writer,
    mut records: Vec<ImportLine>,
    progress: &(dyn Fn() + Sync),
) -> Result<ImportReport, StoreError> {
    records.sort_by_key(ImportLine::rank);
    let mut report = ImportReport::default();
    for line in &records {
        let result = crate::ingest::write(writer, &line.change).await;
        progress();
        match result {
            Ok(outcome) => {
                *report.outcomes.entry((line.change.kind().to_owned(), format!("{outcome:?}"))).or_default() += 1
            }
            Err(StoreError::Rejected(reason)) => report.rejected.push(LineError { line: line.line, reason }),
            Err(other) => return Err(other),
        }
    }
    Ok(report)
}

/// Renders data sets as import lines (used by `wrapper-sync export-seed` and the tests).
pub fn to_lines(
    platform: &crate::store::bulk::PlatformDataset,
    tenants: &[crate::store::bulk::TenantDataset],
) -> String {
    use serde_json::json;
    let mut out = String::new();
    let mut push = |kind: &str, tenant: Option<&str>, record: serde_json::Value| {
        let line = match tenant {
            Some(t) => json!({ "type": kind, "tenantId": t, "record": record }),
            None => json!({ "type": kind, "record": record }),
        };
        out.push_str(&line.to_string());
        out.push('\n');
    };
    for app in &platform.catalog {
        push("catalogApp", None, json_of(app));
    }
    for config in &platform.global_credit_configs {
        push("creditConfig", None, json_of(config));
    }
    for data in tenants {
        let t = data.tenant.tenant_id.as_str();
        push("tenant", None, json_of(&data.tenant));
        data.entities.iter().for_each(|r| push("entity", Some(t), json_of(r)));
        data.users.iter().for_each(|r| push("user", Some(t), json_of(r)));
        data.roles.iter().for_each(|r| push("role", Some(t), json_of(r)));
        data.memberships.iter().for_each(|r| push("membership", Some(t), json_of(r)));
        data.role_assignments.iter().for_each(|r| push("roleAssignment", Some(t), json_of(r)));
        data.credit_balances.iter().for_each(|r| push("creditBalance", Some(t), json_of(r)));
        data.credit_configs.iter().for_each(|r| push("creditConfig", None, json_of(r)));
        data.entitlements.iter().for_each(|r| push("entitlement", Some(t), json_of(r)));
    }
    out
}

fn json_of<T: serde::Serialize>(record: &T) -> serde_json::Value {
    serde_json::to_value(record).expect("records serialize to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = r#"{"type":"user","tenantId":"t1","record":{"userId":"u1","email":"a@b.example","createdAt":"2026-01-01T00:00:00Z"}}"#;

    #[test]
    fn good_lines_parse() {
        let (records, errors) = parse(&format!("{USER}\n\n"));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].line, 1);
    }

    #[test]
    fn each_problem_names_its_line() {
        let text = [
            USER,
            "{not json",
            r#"{"type":"user","record":{"userId":"u2","email":"a@b.example","createdAt":"2026-01-01T00:00:00Z"}}"#,
            r#"{"type":"user","tenantId":"t1","record":{"userId":"u3","email":"a@b.example","createdAt":"2026-01-01T00:00:00Z","nickname":"x"}}"#,
            r#"{"type":"user","tenantId":"t1","record":{"userId":"","email":"a@b.example","createdAt":"2026-01-01T00:00:00Z"}}"#,
            r#"{"type":"widget","record":{}}"#,
            USER,
        ]
        .join("\n");
        let (records, errors) = parse(&text);
        assert_eq!(records.len(), 1);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7]);
        assert!(errors[1].reason.contains("needs a tenantId"));
        assert!(errors[2].reason.contains("unknown field `nickname`"));
        assert!(errors[3].reason.contains("userId: must not be empty"));
        assert!(errors[5].reason.contains("duplicate of the user on line 1"));
    }
}
