//! The single DynamoDB table: its definition, key layout, readers and the one writer.
//!
//! See `docs/data-model.md` for the layout and every access pattern with its request.

pub mod bulk;
pub mod clock;
pub mod cursor_keys;
pub mod decode;
pub mod derive;
pub mod error;
pub mod item;
pub mod keys;
pub mod loading;
pub mod query;
pub mod reader;
pub mod size;
pub mod table;
pub mod writer;

use std::sync::Arc;

use aws_sdk_dynamodb::Client;

use crate::config::StoreConfig;

pub use error::StoreError;

/// A DynamoDB client bound to the table, with the watch on this host's clock that its
/// answers feed. Cheap to clone; build it once per process.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    clock: Arc<clock::ClockWatch>,
}

impl Store {
    /// Builds the client from explicit configuration (no provider-chain discovery).
    pub fn new(config: &StoreConfig) -> Self {
        Self::with_client_config(config, |builder| builder)
    }

    /// A store whose client configuration `customize` extends (the benchmarks add a
    /// request-counting interceptor). The clock interceptor is always installed.
    pub fn with_client_config(
        config: &StoreConfig,
        customize: impl FnOnce(aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder,
    ) -> Self {
        let watch = Arc::new(clock::ClockWatch::default());
        let builder = client_config(config)
            .interceptor(clock::ClockInterceptor(watch.clone()))
            .interceptor(crate::metrics::meter::MeterInterceptor);
        Self { client: Client::from_conf(customize(builder).build()), table: config.table_name.clone(), clock: watch }
    }

    /// The watch on this host's clock, fed by every answer of the table.
    pub fn clock(&self) -> &clock::ClockWatch {
        &self.clock
    }

    /// `Err(StoreError::ClockSkew)` while this host's clock is further from DynamoDB's than
    /// [`clock::MAX_CLOCK_SKEW_MS`]: change times stamped or watermarks fixed now could let an
    /// incremental pull miss a change.
    pub fn check_clock(&self) -> Result<(), StoreError> {
        if self.clock.within_margin() {
            Ok(())
        } else {
            Err(StoreError::ClockSkew { skew_ms: self.clock.skew_ms().unwrap_or_default() })
        }
    }

    /// The underlying SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The HTTP client the store's SDK client was built with: a Secrets Manager client that
    /// overlaps a cold start reuses its TLS configuration instead of building its own on
    /// the cold path.
    pub fn http_client(&self) -> aws_sdk_dynamodb::config::SharedHttpClient {
        self.client.config().http_client().unwrap_or_else(aws_http_client)
    }
}

/// The roots AWS service endpoints chain to (Amazon Root CA 1 to 4 and Starfield Services
/// Root G2, as published by Amazon Trust Services), compiled in.
const AWS_ROOTS: &[u8] = include_bytes!("../../certs/aws-roots.pem");

/// A new HTTP client for an AWS SDK client. TLS trusts only [`AWS_ROOTS`]: the SDK's default
/// client reads the machine's whole certificate store (about 150 files) when a client is
/// built, which was most of a function's cold-start init time (`docs/benchmarks.md`).
///
/// Not cached process-wide: a client's connection pool belongs to the Tokio runtime of its
/// first request, and a pooled connection of a runtime that has ended fails every later
/// request ("dispatch failure"), which is what a process running several runtimes (the test
/// harness) meets. Clients that should share connections and TLS set-up take the store's
/// ([`Store::http_client`]) instead.
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let trust = TrustStore::empty().with_native_roots(false).with_pem_certificate(AWS_ROOTS);
    let context = TlsContext::builder().with_trust_store(trust).build().unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// The attempt and operation timeouts of every AWS SDK client here. One value everywhere
/// also means one connector (the HTTP client caches them by connect timeout) for the clients
/// that share one HTTP client.
pub fn aws_timeouts(config: &StoreConfig) -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(config.attempt_timeout.min(std::time::Duration::from_secs(2)))
        .operation_attempt_timeout(config.attempt_timeout)
        .operation_timeout(config.operation_timeout)
        .build()
}

/// The SDK configuration the store's client is built from: region, credentials, endpoint and
/// HTTP client set explicitly, so building it reads nothing from disk or the network; the
/// SDK's standard retries (3 attempts) within the configured attempt and operation timeouts.
pub fn client_config(config: &StoreConfig) -> aws_sdk_dynamodb::config::Builder {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    let mut builder = aws_sdk_dynamodb::Config::builder()
        .timeout_config(aws_timeouts(config))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .http_client(aws_http_client())
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(config.region.clone()))
        .credentials_provider(config.credentials());
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder
}
