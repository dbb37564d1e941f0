//! Successful `GET` responses (contract section 2.5): compact JSON, a strong `ETag` computed
//! from the body's bytes (XXH3-128: a 500-item page's SHA-256 was a tenth of our own CPU
//! per request, and an entity tag needs no cryptographic strength, only that different
//! bodies get different tags), `Cache-Control: private, no-cache`, `Vary: Authorization`, and
//! `304 Not Modified` when `If-None-Match` names the current tag.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use super::request_id::JSON_UTF8;

/// `Cache-Control` of every successful `GET`.
pub const CACHE_CONTROL: &str = "private, no-cache";

/// The strong entity tag of a body: its quoted 128-bit XXH3 hash in hex.
pub fn etag(body: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(body))
}

/// Whether `If-None-Match` matches `tag` (weak comparison: a `W/` prefix is ignored; `*`
/// matches anything).
pub fn matches_if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
        },
    )
}

/// A `200` with `value` as JSON and the caching headers, or a `304` when the caller already
/// holds this exact body.
pub fn cached_json<T: Serialize>(request_headers: &HeaderMap, value: &T) -> Response {
    cached_json_sized(request_headers, value, 0)
}

/// [`cached_json`] written into a buffer of `capacity` bytes to start with: a page's size
/// is known roughly in advance, and growing the buffer from empty copies it about ten times.
pub fn cached_json_sized<T: Serialize>(request_headers: &HeaderMap, value: &T, capacity: usize) -> Response {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => cached_raw_json(request_headers, body),
        Err(error) => ApiError::internal(&error).into_response(),
    }
}

/// A JSON response without caching headers (for `POST` routes).
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_text(status, body),
        Err(error) => ApiError::internal(&error).into_response(),
    }
}

/// [`json_response`] for a body that is already JSON text (a replayed answer).
pub fn json_text(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response
}

/// [`cached_json`] for a body that is already JSON text.
pub fn cached_raw_json(request_headers: &HeaderMap, body: Vec<u8>) -> Response {
    cached_body(request_headers, body, JSON_UTF8)
}

/// A `200` with `body` of `content_type` and the caching headers, or a `304` when the caller
/// already holds this exact body.
pub fn cached_body(request_headers: &HeaderMap, body: Vec<u8>, content_type: &'static str) -> Response {
    let tag = etag(&body);
    let not_modified = matches_if_none_match(request_headers, &tag);
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut ok = Response::new(Body::from(body));
        ok.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        ok
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_inm(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn tags_depend_only_on_the_bytes() {
        assert_eq!(etag(b"{}"), etag(b"{}"));
        assert_ne!(etag(b"{}"), etag(b"[]"));
        assert!(etag(b"x").starts_with('"') && !etag(b"x").starts_with("W/"));
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let tag = etag(b"body");
        assert!(matches_if_none_match(&with_inm(&tag), &tag));
        assert!(matches_if_none_match(&with_inm(&format!("W/{tag}")), &tag));
        assert!(matches_if_none_match(&with_inm(&format!("\"other\", {tag}")), &tag));
        assert!(matches_if_none_match(&with_inm("*"), &tag));
        assert!(!matches_if_none_match(&with_inm("\"other\""), &tag));
        assert!(!matches_if_none_match(&HeaderMap::new(), &tag));
    }

    #[test]
    fn not_modified_keeps_the_caching_headers_and_has_no_body() {
        let value = serde_json::json!({ "a": 1 });
        let first = cached_json(&HeaderMap::new(), &value);
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let second = cached_json(&with_inm(&tag), &value);
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(second.headers()[header::ETAG], tag.as_str());
        assert_eq!(second.headers()[header::CACHE_CONTROL], CACHE_CONTROL);
        assert_eq!(second.headers()[header::VARY], "Authorization");
    }
}
