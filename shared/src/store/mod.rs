//! The single DynamoDB table: its definition, key layout, readers and the one writer.
//!
//! See `docs/data-model.md` for the layout and every access pattern with its request.

pub mod bulk;
pub mod derive;
pub mod error;
pub mod item;
pub mod keys;
pub mod query;
pub mod reader;
pub mod table;
pub mod writer;

use aws_sdk_dynamodb::Client;

use crate::config::StoreConfig;

pub use error::StoreError;

/// A DynamoDB client bound to the table. Cheap to clone; build it once per process.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    /// Builds the client from explicit configuration (no provider-chain discovery).
    pub fn new(config: &StoreConfig) -> Self {
        Self::from_client(Client::from_conf(client_config(config).build()), &config.table_name)
    }

    /// A store over a client built elsewhere from [`client_config`] (the benchmarks add a
    /// request-counting interceptor to it).
    pub fn from_client(client: Client, table: &str) -> Self {
        Self { client, table: table.to_owned() }
    }

    /// The underlying SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// The roots AWS service endpoints chain to (Amazon Root CA 1 to 4 and Starfield Services
/// Root G2, as published by Amazon Trust Services), compiled in.
const AWS_ROOTS: &[u8] = include_bytes!("../../certs/aws-roots.pem");

/// The HTTP client of every AWS SDK client here. TLS trusts only [`AWS_ROOTS`]: the SDK's
/// default client reads the machine's whole certificate store (about 150 files) when a client
/// is built, which was most of a function's cold-start init time (`docs/benchmarks.md`).
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let trust = TrustStore::empty().with_native_roots(false).with_pem_certificate(AWS_ROOTS);
    let context = TlsContext::builder().with_trust_store(trust).build().unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// The SDK configuration the store's client is built from: region, credentials, endpoint and
/// HTTP client set explicitly, so building it reads nothing from disk or the network.
pub fn client_config(config: &StoreConfig) -> aws_sdk_dynamodb::config::Builder {
    let mut builder = aws_sdk_dynamodb::Config::builder()
        .http_client(aws_http_client())
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(config.region.clone()))
        .credentials_provider(config.credentials());
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder
}
