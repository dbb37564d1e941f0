//! The one error shape of the contract (section 4).
//!
//! Handlers and extractors return [`ApiError`]. Its response carries the error in an
//! extension; the request-id middleware renders the body, because only it knows the request
//! id. Server-side failures are logged under the request id and answered with a generic
//! message: no store, network or stack details ever reach a caller.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::{AccessError, AuthError};
use crate::store::StoreError;
use crate::time::Timestamp;

/// Message of every 500.
pub const INTERNAL_MESSAGE: &str = "An unexpected error occurred. Quote the requestId when reporting this problem.";
/// Message of every 503.
pub const UNAVAILABLE_MESSAGE: &str =
    "The service is temporarily unable to handle the request. Retry after the delay given in Retry-After.";
/// `Retry-After` seconds sent with 503s.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// One invalid input: which parameter, header, path parameter or body member, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// The input's name (`limit`, `tenantId`, `Idempotency-Key`, `body.requestedBy`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

/// An error response before its request id is known.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    code: Option<&'static str>,
    details: Vec<FieldProblem>,
    extra: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// What a 503 was waiting for: the `Cause` of its metric.
    cause: Option<Unavailable>,
}

/// What a 503 waited for (the `Cause` dimension of the `Unavailable` metric). One byte, so
/// the error stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// DynamoDB did not answer in time, throttled, or failed transiently.
    Store,
    /// Concurrent writes kept conflicting.
    StoreConflict,
    /// This host's clock is too far from DynamoDB's.
    ClockSkew,
    /// Kinde's key set, or the service keys, could not be read.
    Authentication,
    /// The runtime secret could not be read.
    Secrets,
}

impl Unavailable {
    /// The dimension value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::StoreConflict => "store_conflict",
            Self::ClockSkew => "clock_skew",
            Self::Authentication => "authentication",
            Self::Secrets => "secrets",
        }
    }
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
            details: Vec::new(),
            extra: Map::new(),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// What a 503 was waiting for, if it is one.
    pub fn cause(&self) -> Option<&'static str> {
        self.cause.map(Unavailable::as_str)
    }

    /// Its stable `code`, if it has one.
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }

    /// 400 for invalid input, with one entry per problem.
    pub fn invalid(details: Vec<FieldProblem>) -> Self {
        Self { details, ..Self::new(StatusCode::BAD_REQUEST, "Request validation failed") }
    }

    /// 400 for one invalid input.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        Self::invalid(vec![FieldProblem { field: field.to_owned(), problem: problem.into() }])
    }

    /// 404 for a path no route matches.
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Route not found")
    }

    /// 500, after logging what happened (never shown to the caller).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE)
    }

    /// 503 with `Retry-After`, after logging the error; `cause` names the dependency for the
    /// metric of 503s by cause.
    pub fn unavailable(cause: Unavailable, error: &dyn std::fmt::Display) -> Self {
        tracing::warn!(%error, cause = cause.as_str(), "dependency unavailable");
        let mut unavailable = Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE)
            .with_header(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        unavailable.cause = Some(cause);
        unavailable
    }

    /// 429 with `Retry-After` (whole seconds, at least 1): the caller or its tenant is over
    /// its request limit.
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u32;
        Self::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests; retry after the delay given in Retry-After")
            .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// Replaces the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds a stable machine-readable `code`.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Adds a context member after the standard ones (for example `syncId`).
    pub fn with_member(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.to_owned(), value);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body, now that the request id is known.
    pub fn body(&self, request_id: &str) -> Value {
        let mut body = Map::new();
        body.insert("success".into(), Value::Bool(false));
        body.insert("error".into(), Value::from(self.status.canonical_reason().unwrap_or("Error")));
        body.insert("message".into(), Value::from(self.message.clone()));
        body.insert("statusCode".into(), Value::from(self.status.as_u16()));
        body.insert("requestId".into(), Value::from(request_id));
        body.insert("timestamp".into(), Value::from(Timestamp::now().to_string()));
        if !self.details.is_empty() {
            body.insert("details".into(), serde_json::to_value(&self.details).unwrap_or_default());
        }
        if let Some(code) = self.code {
            body.insert("code".into(), Value::from(code));
        }
        body.extend(self.extra.clone());
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Missing => Self::new(StatusCode::UNAUTHORIZED, error.to_string())
                .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
            AuthError::Invalid => Self::new(StatusCode::UNAUTHORIZED, error.to_string())
                .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\"")),
            AuthError::Forbidden => {
                Self::new(StatusCode::FORBIDDEN, error.to_string()).with_code("TENANT_ACCESS_DENIED")
            }
            AuthError::TenantNotFound => Self::new(StatusCode::NOT_FOUND, error.to_string()),
            AuthError::Unavailable => Self::unavailable(Unavailable::Authentication, &error),
        }
    }
}

impl From<crate::secrets::SecretsError> for ApiError {
    fn from(error: crate::secrets::SecretsError) -> Self {
        Self::unavailable(Unavailable::Secrets, &error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::unavailable(Unavailable::Store, &error),
            StoreError::Conflict => Self::unavailable(Unavailable::StoreConflict, &error),
            StoreError::ClockSkew { .. } => Self::unavailable(Unavailable::ClockSkew, &error),
            _ => Self::internal(&error),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::Denied(auth) => auth.into(),
            AccessError::Store(store) => store.into(),
        }
    }
}
