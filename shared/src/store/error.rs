//! Errors of the store layer.

use std::fmt::Display;

/// What can go wrong talking to the table. Messages never contain item contents, only
/// what kind of failure it was; the SDK's own error goes to the log, not to callers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB throttled us or was unavailable; worth retrying later.
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

impl StoreError {
    /// Classifies an SDK error: throttling and service unavailability are transient.
    pub fn from_sdk<E: Display>(error: E, debug: impl std::fmt::Debug) -> Self {
        let detail = format!("{debug:?}");
        let transient = [
            "Throttling",
            "ProvisionedThroughputExceeded",
            "RequestLimitExceeded",
            "ServiceUnavailable",
            "InternalServerError",
            "DispatchFailure",
            "TimeoutError",
        ];
        if transient.iter().any(|marker| detail.contains(marker)) {
            Self::Unavailable(error.to_string())
        } else {
            Self::Request(format!("{error}: {detail}"))
        }
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(error: serde_dynamo::Error) -> Self {
        Self::Corrupt(error.to_string())
    }
}

/// Converts any SDK operation error into a [`StoreError`].
pub fn sdk<E, R>(error: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let display = aws_sdk_dynamodb::error::DisplayErrorContext(&error).to_string();
    StoreError::from_sdk(display, &error)
}
