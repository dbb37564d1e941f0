//! Configuration read from the environment once per process (per Lambda cold start).
//!
//! The DynamoDB client is built explicitly from these values instead of walking the AWS
//! default provider chains, which costs milliseconds at every cold start and needs nothing
//! that Lambda (or the local stack) does not already put in the environment.

use std::env;

/// Table name used when `TABLE_NAME` is not set.
pub const DEFAULT_TABLE_NAME: &str = "wrapper-app-sync";
/// Region used locally when `AWS_REGION` is not set.
pub const DEFAULT_LOCAL_REGION: &str = "us-east-1";
/// Default of `DYNAMODB_ATTEMPT_TIMEOUT_MS`: one attempt of a DynamoDB call.
pub const DEFAULT_ATTEMPT_TIMEOUT_MS: u64 = 3_000;
/// Default of `DYNAMODB_OPERATION_TIMEOUT_MS`: a call with all its retries (the SDK's
/// standard mode, 3 attempts). Well below API Gateway's 29 s, so a stalled store becomes
/// our 503 with `Retry-After` rather than a bare gateway timeout.
pub const DEFAULT_OPERATION_TIMEOUT_MS: u64 = 9_000;

/// A configuration value that cannot be used. Reported once at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is missing.
    #[error("{0} must be set")]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why it cannot be used (never the value itself: it may be a secret).
        reason: String,
    },
}

/// Where and how to reach DynamoDB.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The single table's name (`TABLE_NAME`).
    pub table_name: String,
    /// AWS region (`AWS_REGION`, or `AWS_DEFAULT_REGION`).
    pub region: String,
    /// Endpoint override for DynamoDB Local (`DYNAMODB_ENDPOINT`, e.g. `http://127.0.0.1:8000`).
    pub endpoint: Option<String>,
    /// Static credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
    /// `AWS_SESSION_TOKEN`. With a local endpoint and none given, dummy credentials are used.
    pub credentials: Option<StaticCredentials>,
    /// Longest wait for one attempt of a call (`DYNAMODB_ATTEMPT_TIMEOUT_MS`).
    pub attempt_timeout: std::time::Duration,
    /// Longest wait for a call with its retries (`DYNAMODB_OPERATION_TIMEOUT_MS`).
    pub operation_timeout: std::time::Duration,
}

/// Credentials taken from the environment, as Lambda provides them.
#[derive(Clone)]
pub struct StaticCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticCredentials(<redacted>)")
    }
}

impl StoreConfig {
    /// Reads the store settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads the store settings through `lookup`, so tests need not touch the real
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let endpoint = lookup("DYNAMODB_ENDPOINT");
        if let Some(endpoint) = &endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    name: "DYNAMODB_ENDPOINT",
                    reason: "must be an http:// or https:// URL".into(),
                });
            }
        }
        let region = lookup("AWS_REGION").or_else(|| lookup("AWS_DEFAULT_REGION"));
        let region = match (region, &endpoint) {
            (Some(region), _) => region,
            (None, Some(_)) => DEFAULT_LOCAL_REGION.to_owned(),
            (None, None) => return Err(ConfigError::Missing("AWS_REGION")),
        };
        let credentials = match (lookup("AWS_ACCESS_KEY_ID"), lookup("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => {
                Some(StaticCredentials { access_key_id, secret_access_key, session_token: lookup("AWS_SESSION_TOKEN") })
            }
            _ => None,
        };
        let millis = |name: &'static str, default: u64| -> Result<std::time::Duration, ConfigError> {
            match lookup(name) {
                None => Ok(std::time::Duration::from_millis(default)),
                Some(text) => text
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (10..=60_000).contains(ms))
                    .map(std::time::Duration::from_millis)
                    .ok_or(ConfigError::Invalid { name, reason: "must be milliseconds from 10 to 60000".into() }),
            }
        };
        let attempt_timeout = millis("DYNAMODB_ATTEMPT_TIMEOUT_MS", DEFAULT_ATTEMPT_TIMEOUT_MS)?;
        let operation_timeout = millis("DYNAMODB_OPERATION_TIMEOUT_MS", DEFAULT_OPERATION_TIMEOUT_MS)?;
        if operation_timeout < attempt_timeout {
            return Err(ConfigError::Invalid {
                name: "DYNAMODB_OPERATION_TIMEOUT_MS",
                reason: "must not be shorter than DYNAMODB_ATTEMPT_TIMEOUT_MS".into(),
            });
        }
        Ok(Self {
            table_name: lookup("TABLE_NAME").unwrap_or_else(|| DEFAULT_TABLE_NAME.to_owned()),
            region,
            endpoint,
            credentials,
            attempt_timeout,
            operation_timeout,
        })
    }
}

impl StoreConfig {
    /// The credentials every AWS client of the process uses: the environment's, or dummy
    /// ones for a local endpoint.
    pub fn credentials(&self) -> aws_credential_types::Credentials {
        match &self.credentials {
            Some(c) => aws_credential_types::Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                c.session_token.clone(),
                None,
                "environment",
            ),
            None => aws_credential_types::Credentials::new("local", "local", None, None, "local"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn local_endpoint_needs_no_region_or_credentials() {
        let config = StoreConfig::from_lookup(lookup(&[("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")])).unwrap();
        assert_eq!(config.region, DEFAULT_LOCAL_REGION);
        assert_eq!(config.table_name, DEFAULT_TABLE_NAME);
        assert!(config.credentials.is_none());
    }

    #[test]
    fn aws_needs_a_region() {
        assert!(matches!(StoreConfig::from_lookup(lookup(&[])), Err(ConfigError::Missing("AWS_REGION"))));
    }

    #[test]
    fn endpoint_must_be_a_url() {
        let result = StoreConfig::from_lookup(lookup(&[("DYNAMODB_ENDPOINT", "127.0.0.1:8000")]));
        assert!(matches!(result, Err(ConfigError::Invalid { name: "DYNAMODB_ENDPOINT", .. })));
    }

    #[test]
    fn timeouts_default_below_the_gateway_limit_and_are_checked() {
        let config = StoreConfig::from_lookup(lookup(&[("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")])).unwrap();
        assert_eq!(config.attempt_timeout.as_millis(), 3_000);
        assert_eq!(config.operation_timeout.as_millis(), 9_000);
        let bad = StoreConfig::from_lookup(lookup(&[
            ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
            ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "5000"),
            ("DYNAMODB_OPERATION_TIMEOUT_MS", "1000"),
        ]));
        assert!(matches!(bad, Err(ConfigError::Invalid { name: "DYNAMODB_OPERATION_TIMEOUT_MS", .. })));
        let junk = StoreConfig::from_lookup(lookup(&[
            ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
            ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "soon"),
        ]));
        assert!(matches!(junk, Err(ConfigError::Invalid { name: "DYNAMODB_ATTEMPT_TIMEOUT_MS", .. })));
    }

    #[test]
    fn credentials_never_print() {
        let config = StoreConfig::from_lookup(lookup(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
        ]))
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("very-secret") && !printed.contains("AKIAEXAMPLE"));
    }
}
