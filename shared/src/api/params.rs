//! Strict parsing of query parameters (contract section 5). Unknown parameters are ignored;
//! a known parameter that is repeated, empty or malformed is a 400 with one `details` entry
//! per problem.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::error::{ApiError, FieldProblem};
use crate::model::{id_problem, is_app_code};
use crate::pagination::{MAX_CURSOR_LEN, MAX_LIMIT};
use crate::time::Timestamp;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Days tombstones are kept; `updatedSince` may not be older (except the epoch).
pub const RETENTION_DAYS: i64 = 30;

/// The decoded query string of a request.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Decodes a raw query string (`+` and percent-escapes).
    pub fn parse(raw: Option<&str>) -> Self {
        Self(raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default())
    }

    /// The single value of `name`, `None` when absent; a repeated or empty parameter is a problem.
    pub fn single(&self, name: &str, problems: &mut Vec<FieldProblem>) -> Option<String> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        let first = values.next()?;
        if values.next().is_some() {
            problem(problems, name, "must not be repeated");
            return None;
        }
        if first.is_empty() {
            problem(problems, name, "must not be empty");
            return None;
        }
        Some(first.clone())
    }

    /// Whether `name` is present at all (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

fn problem(problems: &mut Vec<FieldProblem>, field: &str, text: &str) {
    problems.push(FieldProblem { field: field.to_owned(), problem: text.to_owned() });
}

/// A boolean: `true`, `false`, `1` or `0`, exactly.
pub fn boolean(params: &QueryParams, name: &str, problems: &mut Vec<FieldProblem>) -> bool {
    match params.single(name, problems).as_deref() {
        None => false,
        Some("true" | "1") => true,
        Some("false" | "0") => false,
        Some(_) => {
            problem(problems, name, "must be true, false, 1 or 0");
            false
        }
    }
}

/// An integer of ASCII digits only (at most 9), within `range`.
pub fn integer(
    params: &QueryParams,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    message: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<u64> {
    let text = params.single(name, problems)?;
    let value =
        (text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse::<u64>().ok()).flatten();
    match value.filter(|v| range.contains(v)) {
        Some(value) => Some(value),
        None => {
            problem(problems, name, message);
            None
        }
    }
}

/// An id filter: 1 to 128 characters, no control characters.
pub fn id(params: &QueryParams, name: &str, problems: &mut Vec<FieldProblem>) -> Option<String> {
    let value = params.single(name, problems)?;
    match id_problem(&value) {
        Some(text) => {
            problem(problems, name, text);
            None
        }
        None => Some(value),
    }
}

/// An app code: `^[a-z][a-z0-9_]{0,49}$`, matched exactly (no trimming).
pub fn app_code(params: &QueryParams, problems: &mut Vec<FieldProblem>) -> Option<String> {
    let value = params.single("appCode", problems)?;
    if is_app_code(&value) {
        Some(value)
    } else {
        problem(problems, "appCode", "must match ^[a-z][a-z0-9_]{0,49}$");
        None
    }
}

/// What `updatedSince` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// A valid instant within the retention window, or the epoch (initial load).
    At(Timestamp),
    /// Older than the retention window: 400 `UPDATED_SINCE_TOO_OLD`.
    TooOld,
}

/// `updatedSince`: RFC 3339 with `Z` or an offset, up to 9 fractional digits, not in the future.
pub fn updated_since(params: &QueryParams, now: DateTime<Utc>, problems: &mut Vec<FieldProblem>) -> Option<Since> {
    let text = params.single("updatedSince", problems)?;
    let fraction_digits =
        text.split_once('.').map_or(0, |(_, rest)| rest.bytes().take_while(u8::is_ascii_digit).count());
    let parsed = DateTime::parse_from_rfc3339(&text).ok().filter(|_| fraction_digits <= 9 && text.contains(['T', 't']));
    let Some(at) = parsed.map(|t| t.with_timezone(&Utc)) else {
        problem(problems, "updatedSince", "must be an RFC 3339 date-time with Z or an offset");
        return None;
    };
    if at > now {
        problem(problems, "updatedSince", "must not be in the future");
        return None;
    }
    if at.timestamp_millis() == 0 {
        return Some(Since::At(Timestamp::from_datetime(at)));
    }
    if at < now - ChronoDuration::days(RETENTION_DAYS) {
        return Some(Since::TooOld);
    }
    Some(Since::At(Timestamp::from_datetime(at)))
}

/// The common paging parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// Page size.
    pub limit: usize,
    /// Requested page (page mode), 1 by default.
    pub page: u32,
    /// Whether `page` was given.
    pub page_given: bool,
    /// The cursor, if given.
    pub cursor: Option<String>,
    /// `updatedSince`, if given.
    pub since: Option<Timestamp>,
    /// `includeInactive` (ignored in incremental mode).
    pub include_inactive: bool,
}

/// Parses `limit`, `page`, `cursor`, `updatedSince` and `includeInactive`, adding problems.
pub fn paging(params: &QueryParams, problems: &mut Vec<FieldProblem>) -> Result<Paging, ApiError> {
    let limit = integer(params, "limit", 1..=MAX_LIMIT as u64, "must be an integer from 1 to 500", problems);
    let page = integer(params, "page", 1..=999_999_999, "must be an integer of at least 1", problems);
    let cursor = params.single("cursor", problems);
    if cursor.as_ref().is_some_and(|c| c.len() > MAX_CURSOR_LEN) {
        problem(problems, "cursor", "must be at most 2048 characters");
    }
    if cursor.is_some() && params.has("page") {
        problem(problems, "cursor", "must not be combined with page");
    }
    let since = updated_since(params, Utc::now(), problems);
    if since.is_some() && page.is_some_and(|p| p != 1) {
        problem(problems, "page", "only page=1 is accepted with updatedSince; continue with nextCursor");
    }
    let include_inactive = boolean(params, "includeInactive", problems);
    if since == Some(Since::TooOld) && problems.is_empty() {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "updatedSince is older than the 30-day deletion retention window; reload from 1970-01-01T00:00:00Z",
        )
        .with_code("UPDATED_SINCE_TOO_OLD"));
    }
    Ok(Paging {
        limit: limit.map_or(DEFAULT_LIMIT, |l| l as usize),
        page: page.map_or(1, |p| p as u32),
        page_given: page.is_some(),
        cursor,
        since: match since {
            Some(Since::At(at)) => Some(at),
            _ => None,
        },
        include_inactive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> (Result<Paging, ApiError>, Vec<FieldProblem>) {
        let mut problems = Vec::new();
        let result = paging(&QueryParams::parse(Some(query)), &mut problems);
        (result, problems)
    }

    fn fields(query: &str) -> Vec<String> {
        parse(query).1.into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn defaults() {
        let (paging, problems) = parse("");
        assert!(problems.is_empty());
        let paging = paging.unwrap();
        assert_eq!((paging.limit, paging.page, paging.include_inactive), (50, 1, false));
    }

    #[test]
    fn integers_are_strict() {
        for bad in [
            "limit=0",
            "limit=501",
            "limit=-1",
            "limit=1.5",
            "limit=1e2",
            "limit=0x10",
            "limit=+5",
            "limit=%2010",
            "limit=1234567890",
            "limit=",
            "page=0",
            "page=-3",
            "limit=5&limit=6",
        ] {
            assert_eq!(fields(bad).first().map(String::as_str), Some(bad.split('=').next().unwrap()), "{bad}");
        }
        assert!(fields("limit=500&page=999999999").is_empty());
    }

    #[test]
    fn booleans_are_strict() {
        for bad in ["includeInactive=yes", "includeInactive=TRUE", "includeInactive=", "includeInactive=2"] {
            assert_eq!(fields(bad), vec!["includeInactive"], "{bad}");
        }
        assert!(parse("includeInactive=1").0.unwrap().include_inactive);
    }

    #[test]
    fn cursor_and_page_do_not_mix() {
        assert_eq!(fields("cursor=abc&page=1"), vec!["cursor"]);
        assert_eq!(fields(&format!("cursor={}", "a".repeat(2049))), vec!["cursor"]);
    }

    #[test]
    fn updated_since_rules() {
        let now = Utc::now();
        let recent = (now - ChronoDuration::days(2)).to_rfc3339();
        let check = |value: &str| {
            let mut problems = Vec::new();
            let params = QueryParams::parse(Some(&format!("updatedSince={}", urlencode(value))));
            (updated_since(&params, now, &mut problems), problems)
        };
        assert!(matches!(check(&recent).0, Some(Since::At(_))));
        assert!(matches!(check("1970-01-01T00:00:00Z").0, Some(Since::At(_))));
        assert_eq!(check("2020-01-01T00:00:00Z").0, Some(Since::TooOld));
        for bad in ["2026-01-01", "yesterday", "2026-01-01T00:00:00", "2026-01-01T00:00:00.1234567891Z"] {
            assert_eq!(check(bad).1.len(), 1, "{bad}");
        }
        let future = (now + ChronoDuration::hours(1)).to_rfc3339();
        assert_eq!(check(&future).1[0].problem, "must not be in the future");
        assert_eq!(fields(&format!("updatedSince={}&page=2", urlencode(&recent))), vec!["page"]);
    }

    fn urlencode(value: &str) -> String {
        form_urlencoded::byte_serialize(value.as_bytes()).collect()
    }
}
