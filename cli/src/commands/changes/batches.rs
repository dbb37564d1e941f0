//! How `changes send` cuts a file into requests: every change validated first (nothing is
//! sent from a file with an invalid change), then runs of consecutive changes for the same
//! route packed into bodies within the routes' limits, in file order, so the platform's order
//! of changes survives the transfer.

use shared::ingest::batch::{MAX_BODY_BYTES, MAX_CHANGES};
use shared::ingest::Change;

/// The route a change is posted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /changes`: catalog apps, global credit configurations, tenant profiles.
    Platform,
    /// `POST /tenants/{tenantId}/changes`.
    Tenant(String),
}

/// One change of the file, as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its line in the file (its position, from 1, in a JSON array).
    pub number: usize,
    /// The change as compact JSON (one NDJSON line).
    pub json: String,
    /// Where it goes.
    pub route: Route,
}

/// One request body: consecutive changes for one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Where it goes.
    pub route: Route,
    /// The file lines of its changes, in order (index `i` of the answer is `lines[i]`).
    pub lines: Vec<usize>,
    /// The NDJSON body.
    pub body: String,
}

/// A change of the file that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct LineError {
    /// Its line in the file.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// The changes of `text` (NDJSON, or one JSON array when the first non-blank character is
/// `[`), each validated as the server would. Every problem is returned, not only the first.
pub fn read(text: &str) -> Result<Vec<Line>, Vec<LineError>> {
    let values: Vec<(usize, Result<serde_json::Value, String>)> = if text.trim_start().starts_with('[') {
        match serde_json::from_str::<Vec<serde_json::Value>>(text) {
            Ok(values) => values.into_iter().enumerate().map(|(i, v)| (i + 1, Ok(v))).collect(),
            Err(e) => {
                return Err(vec![LineError { line: e.line(), reason: format!("not a JSON array of changes: {e}") }])
            }
        }
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| (i + 1, serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))))
            .collect()
    };
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for (number, value) in values {
        match value.and_then(|value| line(number, value)) {
            Ok(line) => lines.push(line),
            Err(reason) => errors.push(LineError { line: number, reason }),
        }
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(errors)
    }
}

fn line(number: usize, value: serde_json::Value) -> Result<Line, String> {
    let json = value.to_string();
    if json.len() > MAX_BODY_BYTES {
        return Err(format!("larger than a request may be ({MAX_BODY_BYTES} bytes)"));
    }
    let change = Change::parse(value)?;
    let route = match change.tenant_id() {
        Some(tenant) if !change.platform_wide() => Route::Tenant(tenant.to_owned()),
        _ => Route::Platform,
    };
    Ok(Line { number, json, route })
}

/// `lines` cut into bodies of at most `max_changes` (capped at the routes' 1,000) changes
/// and 1 MiB, a new body wherever the route changes.
pub fn cut(lines: Vec<Line>, max_changes: usize) -> Vec<Batch> {
    let max_changes = max_changes.clamp(1, MAX_CHANGES);
    let mut batches: Vec<Batch> = Vec::new();
    for line in lines {
        let fits = batches.last().is_some_and(|batch| {
            batch.route == line.route
                && batch.lines.len() < max_changes
                && batch.body.len() + 1 + line.json.len() <= MAX_BODY_BYTES
        });
        match batches.last_mut() {
            Some(batch) if fits => {
                batch.body.push('\n');
                batch.body.push_str(&line.json);
                batch.lines.push(line.number);
            }
            _ => batches.push(Batch { route: line.route, lines: vec![line.number], body: line.json }),
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(tenant: &str, id: &str, version: u64, padding: usize) -> String {
        serde_json::json!({
            "changeId": format!("c-{id}-{version}"), "type": "user", "tenantId": tenant, "sourceVersion": version,
            "record": { "userId": id, "email": format!("{id}@example.com"), "firstName": "x".repeat(padding),
                        "createdAt": "2026-01-01T00:00:00Z" }
        })
        .to_string()
    }

    fn tenant(id: &str) -> String {
        serde_json::json!({ "changeId": format!("c-{id}"), "type": "tenant", "sourceVersion": 1,
            "record": { "tenantId": id, "companyName": "Acme", "kindeOrgId": format!("org_{id}"), "createdAt": "2026-01-01T00:00:00Z" } })
        .to_string()
    }

    #[test]
    fn ndjson_and_arrays_read_alike_and_routes_follow_the_type() {
        let lines = [tenant("t-1"), user("t-1", "u-1", 1, 1), user("t-1", "u-2", 1, 1)];
        let from_lines = read(&format!("{}\n\n{}\n{}\n", lines[0], lines[1], lines[2])).unwrap();
        let from_array = read(&format!("[{}]", lines.join(","))).unwrap();
        assert_eq!(from_lines.iter().map(|l| l.number).collect::<Vec<_>>(), [1, 3, 4], "blank lines keep numbering");
        assert_eq!(from_array.iter().map(|l| l.number).collect::<Vec<_>>(), [1, 2, 3]);
        let routes = |lines: &[Line]| lines.iter().map(|l| l.route.clone()).collect::<Vec<_>>();
        let expected = [Route::Platform, Route::Tenant("t-1".into()), Route::Tenant("t-1".into())];
        assert_eq!(routes(&from_lines), expected);
        assert_eq!(routes(&from_array), expected);
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = format!("{}\nnot json\n{{\"type\":\"user\"}}\n{}", user("t", "u-1", 1, 1), user("t", "u-2", 1, 1));
        let errors = read(&text).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn bodies_respect_the_count_the_size_and_the_route_in_file_order() {
        let mut text = vec![tenant("t-1")];
        text.extend((0..2500).map(|i| user("t-1", &format!("u-{i}"), 1, 1)));
        text.push(tenant("t-2"));
        text.extend((0..3).map(|i| user("t-2", &format!("big-{i}"), 1, 400 * 1024)));
        let lines = read(&text.join("\n")).unwrap();
        let batches = cut(lines.clone(), 5000);
        let sizes: Vec<_> = batches.iter().map(|b| (b.route.clone(), b.lines.len())).collect();
        let t = |id: &str| Route::Tenant(id.into());
        assert_eq!(
            sizes,
            [
                (Route::Platform, 1),
                (t("t-1"), 1000),
                (t("t-1"), 1000),
                (t("t-1"), 500),
                (Route::Platform, 1),
                (t("t-2"), 2),
                (t("t-2"), 1)
            ]
        );
        assert!(batches.iter().all(|b| b.body.len() <= MAX_BODY_BYTES));
        let sent: Vec<usize> = batches.iter().flat_map(|b| b.lines.clone()).collect();
        assert_eq!(sent, lines.iter().map(|l| l.number).collect::<Vec<_>>(), "every change once, in order");
        let rejoined: Vec<&str> = batches.iter().flat_map(|b| b.body.split('\n')).collect();
        assert_eq!(rejoined, lines.iter().map(|l| l.json.as_str()).collect::<Vec<_>>());
        assert_eq!(cut(lines, 7).iter().map(|b| b.lines.len()).max(), Some(7));
    }
}
