//! DynamoDB requests counted at the client: an SDK interceptor that tallies each request by
//! its operation (`x-amz-target`), so the report can compare what a route does with the
//! request budget in `docs/api.md`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use shared::config::StoreConfig;
use shared::store::Store;

/// Requests sent, by operation name (`Query`, `GetItem`, ...).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl RequestCounter {
    /// The counts so far, and resets them.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("unknown");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()).entry(operation).or_default() += 1;
        Ok(())
    }
}

/// A store whose client counts its requests with `counter`.
pub fn counting_store(config: &StoreConfig, counter: &RequestCounter) -> Store {
    Store::with_client_config(config, |builder| builder.interceptor(counter.clone()))
}

/// `Query 1, GetItem 1`.
pub fn describe(counts: &BTreeMap<String, u64>) -> String {
    counts.iter().map(|(operation, n)| format!("{operation} {n}")).collect::<Vec<_>>().join(", ")
}
