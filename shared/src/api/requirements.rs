//! `GET /data-requirements` (9.1): what each collection contains, which route serves it,
//! and the service's limits. Public: no token needed, and an `Authorization` header is
//! ignored.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

use super::respond::cached_raw_json;

/// The specification document, with its members in the contract's order.
const SPEC: &str = include_str!("data_requirements.json");

/// `{"success":true,"data":<spec>}`, compacted once per process.
fn body() -> &'static str {
    static BODY: OnceLock<String> = OnceLock::new();
    BODY.get_or_init(|| format!("{{\"success\":true,\"data\":{}}}", compact(SPEC)))
}

/// Removes insignificant whitespace from JSON text without reordering anything.
pub fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Handler of `GET /data-requirements`.
pub async fn data_requirements(headers: HeaderMap) -> Response {
    cached_raw_json(&headers, body().as_bytes().to_vec()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_valid_compact_json_in_contract_order() {
        let value: serde_json::Value = serde_json::from_str(body()).unwrap();
        assert_eq!(value["data"]["syncConfiguration"]["maxPageSize"], 500);
        assert!(!body().contains(": ") && !body().contains('\n'));
        let essential = body().find("\"essentialData\"").unwrap();
        let reference = body().find("\"referenceData\"").unwrap();
        assert!(essential < reference, "members keep the contract's order");
        assert_eq!(compact("{ \"a b\" : [1, \"x \\\" y\"] }"), "{\"a b\":[1,\"x \\\" y\"]}");
    }
}
