//! `GET /openapi.yaml`: the OpenAPI 3.1 description of this API (`docs/openapi.yaml`),
//! compiled into the binary so the file a client generator reads is the one this build was
//! tested against. Public, like `GET /data-requirements`.

use axum::http::HeaderMap;
use axum::response::Response;

use super::respond::cached_body;

/// The description, as committed in `docs/openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"));

/// Media type of the file (RFC 9512).
pub const YAML_UTF8: &str = "application/yaml; charset=utf-8";

/// Handler of `GET /openapi.yaml`.
pub async fn openapi_yaml(headers: HeaderMap) -> Response {
    cached_body(&headers, OPENAPI_YAML.as_bytes().to_vec(), YAML_UTF8)
}
