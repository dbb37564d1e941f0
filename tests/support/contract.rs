//! The OpenAPI description (`docs/openapi.yaml`) as a checker: every response the integration
//! tests receive through the bench must be one the file documents for that method, path and
//! status, carry the headers the file marks required, and have a body that validates against
//! the file's schema (JSON Schema 2020-12, formats checked).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::Validator;
use serde_json::{Map, Value};
use shared::api::{ALIAS_PATH, BASE_PATH};

/// The description, parsed once per test binary.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_norway::from_str(shared::api::openapi::OPENAPI_YAML).expect("docs/openapi.yaml parses as YAML")
    })
}

/// The value `reference` (`#/a/b`) points at, with `$ref`s inside it resolved.
pub fn resolve(reference: &str) -> Value {
    let pointer = reference.strip_prefix('#').expect("only local references are used");
    let target = document().pointer(pointer).unwrap_or_else(|| panic!("{reference} is not in docs/openapi.yaml"));
    inline(target)
}

/// `value` with every local `$ref` replaced by what it points at (siblings of `$ref` are kept,
/// the referenced members win). The description has no recursive schemas, so this ends.
pub fn inline(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut out = Map::new();
            if let Some(Value::String(reference)) = object.get("$ref") {
                if let Value::Object(target) = resolve(reference) {
                    out.extend(target);
                }
            }
            for (name, member) in object {
                if name != "$ref" && !out.contains_key(name) {
                    out.insert(name.clone(), inline(member));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(inline).collect()),
        other => other.clone(),
    }
}

/// The path template of the file that `path` (relative to a base path) matches; literal
/// segments beat placeholders.
pub fn template_for(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let paths = document()["paths"].as_object()?;
    paths
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literals = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') && part.ends_with('}') {
                    if segment.is_empty() {
                        return None;
                    }
                } else if part == segment {
                    literals += 1;
                } else {
                    return None;
                }
            }
            Some((literals, template.clone()))
        })
        .max()
        .map(|(_, template)| template)
}

/// A compiled schema per response, shared by the tests of one binary.
fn validator(key: &str, schema: &Value) -> Arc<Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Validator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(key.to_owned())
        .or_insert_with(|| {
            let validator = jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(schema)
                .unwrap_or_else(|e| panic!("schema of {key} does not compile: {e}"));
            Arc::new(validator)
        })
        .clone()
}

/// Checks `body` against `schema`, panicking with every error found.
pub fn assert_valid(key: &str, schema: &Value, body: &Value) {
    let validator = validator(key, schema);
    let errors: Vec<String> =
        validator.iter_errors(body).map(|e| format!("  at {}: {e}", e.instance_path())).take(10).collect();
    assert!(errors.is_empty(), "response of {key} breaks docs/openapi.yaml:\n{}\nbody: {body}", errors.join("\n"));
}

/// What the file documents for one response.
struct Documented {
    key: String,
    response: Value,
}

/// The documented response of `method` on `path` (from the server root) with `status`.
/// Requests that no route serves are held to the error shape.
fn documented(method: &str, path: &str, status: u16) -> Documented {
    let path = without_function_url_prefix(path);
    let relative = path.strip_prefix(BASE_PATH).or_else(|| path.strip_prefix(ALIAS_PATH)).filter(|p| !p.is_empty());
    let Some(template) = relative.and_then(template_for) else {
        assert_eq!(status, 404, "{method} {path} matches no documented path, so it must answer 404");
        return error_response(format!("{method} {path} (no route)"));
    };
    let operation_method = if method == "HEAD" { "get" } else { &method.to_ascii_lowercase() };
    let item = &document()["paths"][&template];
    if item.get(operation_method).is_none() {
        assert_eq!(status, 405, "{method} {template} is not documented, so it must answer 405");
        return error_response(format!("{method} {template} (no such method)"));
    }
    let key = format!("{method} {template} {status}");
    let response = item[operation_method]["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{key}: docs/openapi.yaml documents no such response"));
    Documented { key, response: inline(response) }
}

/// `cargo lambda watch` serves each function's URL under `/lambda-url/<function>`; what
/// follows is the path the function sees.
fn without_function_url_prefix(path: &str) -> &str {
    match path.strip_prefix("/lambda-url/").and_then(|rest| rest.find('/').map(|at| &rest[at..])) {
        Some(inner) => inner,
        None => path,
    }
}

fn error_response(key: String) -> Documented {
    let response = serde_json::json!({
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
        "headers": { "x-request-id": { "$ref": "#/components/headers/RequestId" } }
    });
    Documented { key, response: inline(&response) }
}

/// Checks one response against the description: documented status, required headers present
/// and matching their schema, and a body of the documented media type and schema (none when
/// the file documents none, and none for `HEAD`).
pub fn check(method: &str, path: &str, status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) {
    let Documented { key, response } = documented(method, path, status);
    check_headers(&key, &response, headers);
    let content = response.get("content").and_then(Value::as_object);
    let Some((media, spec)) = content.and_then(|c| c.iter().next()) else {
        assert!(body.is_empty(), "{key}: the file documents no body, but one was sent");
        return;
    };
    if method == "HEAD" {
        assert!(body.is_empty(), "{key}: HEAD answered with a body");
        return;
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with(media.as_str()), "{key}: content type {content_type:?}, documented {media}");
    let value: Value = match media.as_str() {
        "application/json" => serde_json::from_slice(body).unwrap_or_else(|e| panic!("{key}: body is not JSON: {e}")),
        "application/yaml" => serde_norway::from_slice(body).unwrap_or_else(|e| panic!("{key}: body is not YAML: {e}")),
        other => panic!("{key}: no check for media type {other}"),
    };
    assert_valid(&key, &spec["schema"], &value);
}

fn check_headers(key: &str, response: &Value, headers: &reqwest::header::HeaderMap) {
    let Some(documented) = response.get("headers").and_then(Value::as_object) else { return };
    for (name, header) in documented {
        let value = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
        match value {
            Some(value) => assert_valid(&format!("{key} header {name}"), &header["schema"], &Value::from(value)),
            None => assert!(header["required"] != Value::Bool(true), "{key}: required header {name} is missing"),
        }
    }
}
