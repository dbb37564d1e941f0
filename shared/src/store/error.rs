//! Errors of the store layer, classified from the SDK's error kinds and codes.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::RequestId;

/// What can go wrong talking to the table. Messages never contain item contents or the raw
/// response: only what kind of failure it was, DynamoDB's error code and request id.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB throttled us, was unavailable, or did not answer in time; worth retrying
    /// later (503 with `Retry-After`).
    #[error("the data store is temporarily unavailable: {0}")]
    Unavailable(String),
    /// Any other failure of a DynamoDB request.
    #[error("data store request failed: {0}")]
    Request(String),
    /// An item could not be converted to or from its record type.
    #[error("stored item does not match its record type: {0}")]
    Corrupt(String),
    /// Concurrent writers kept changing the same items; the write was not applied.
    #[error("the write kept conflicting with concurrent writes")]
    Conflict,
    /// The write is not allowed (for example a changed immutable member).
    #[error("{0}")]
    Rejected(String),
    /// This host's clock is too far from DynamoDB's to stamp change times or fix a
    /// watermark safely; nothing was written.
    #[error("this host's clock is {skew_ms} ms away from the data store's")]
    ClockSkew {
        /// The measured offset (positive: this host is ahead).
        skew_ms: i64,
    },
}

/// Error codes DynamoDB answers when a retry later can succeed.
const TRANSIENT_CODES: [&str; 7] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionInProgressException",
];

impl From<super::decode::DecodeError> for StoreError {
    fn from(error: super::decode::DecodeError) -> Self {
        Self::Corrupt(error.to_string())
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(error: serde_dynamo::Error) -> Self {
        Self::Corrupt(error.to_string())
    }
}

/// A conditional write's outcome: `true` when it was applied, `false` when its condition
/// did not hold (`ConditionalCheckFailedException`), the [`StoreError`] of any other failure.
/// For leases and markers, where a failed condition is an answer, not an error.
pub fn applied<T, E>(result: Result<T, SdkError<E, HttpResponse>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if error.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(error) => Err(sdk(error)),
    }
}

/// Converts any SDK operation error into a [`StoreError`] by the SDK's own variants (no
/// answer in time, no connection, an unreadable answer: transient) and DynamoDB's error
/// codes (throttling and server errors: transient). The description keeps the code, the
/// HTTP status and the request id, never the raw response.
pub fn sdk<E>(error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (transient, kind) = match &error {
        SdkError::TimeoutError(_) => (true, "timeout"),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => (true, "timeout"),
        SdkError::DispatchFailure(_) => (true, "dispatch failure"),
        SdkError::ResponseError(_) => (true, "unreadable response"),
        SdkError::ServiceError(_) => (false, "service error"),
        SdkError::ConstructionFailure(_) => (false, "request construction failed"),
        _ => (false, "unknown"),
    };
    let code = error.code().map(str::to_owned);
    let status = match &error {
        SdkError::ServiceError(service) => Some(service.raw().status().as_u16()),
        _ => None,
    };
    let transient = transient
        || code.as_deref().is_some_and(|c| TRANSIENT_CODES.contains(&c))
        || status.is_some_and(|s| (500..600).contains(&s));
    let description = describe(kind, code.as_deref(), status, error.request_id());
    if transient {
        StoreError::Unavailable(description)
    } else {
        StoreError::Request(description)
    }
}

fn describe(kind: &str, code: Option<&str>, status: Option<u16>, request_id: Option<&str>) -> String {
    let mut text = kind.to_owned();
    if let Some(code) = code {
        text.push_str(&format!(", code {code}"));
    }
    if let Some(status) = status {
        text.push_str(&format!(", status {status}"));
    }
    if let Some(id) = request_id {
        text.push_str(&format!(", request {id}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_carry_code_status_and_request_id_only() {
        assert_eq!(
            describe("service error", Some("ThrottlingException"), Some(400), Some("ABC")),
            "service error, code ThrottlingException, status 400, request ABC"
        );
        assert_eq!(describe("timeout", None, None, None), "timeout");
    }
}
