//! DynamoDB requests counted at the client: an SDK interceptor that tallies each request by
//! its operation (`x-amz-target`), so the report can compare what a route does with the
//! request budget in `docs/api.md`, and one that adds up the read capacity DynamoDB reports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
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
        let operation = operation(context.request().headers().get("x-amz-target")).to_owned();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()).entry(operation).or_default() += 1;
        Ok(())
    }
}

/// The operation an `x-amz-target` header names (`DynamoDB_20120810.Query` is `Query`).
pub fn operation(target: Option<&str>) -> &str {
    let target = target.unwrap_or("unknown");
    target.rsplit('.').next().unwrap_or(target)
}

/// A store whose client counts its requests with `counter`.
pub fn counting_store(config: &StoreConfig, counter: &RequestCounter) -> Store {
    Store::with_client_config(config, |builder| builder.interceptor(counter.clone()))
}

/// `Query 1, GetItem 1`.
pub fn describe(counts: &BTreeMap<String, u64>) -> String {
    counts.iter().map(|(operation, n)| format!("{operation} {n}")).collect::<Vec<_>>().join(", ")
}

/// Capacity DynamoDB reports for the calls of a client: an interceptor that asks for
/// `ReturnConsumedCapacity=TOTAL` on each (as the request meter does) and adds up the answers.
#[derive(Debug, Clone, Default)]
pub struct CapacityCounter(Arc<Mutex<f64>>);

impl CapacityCounter {
    /// Capacity units consumed so far, and resets the sum.
    pub fn take(&self) -> f64 {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for CapacityCounter {
    fn name(&self) -> &'static str {
        "CapacityCounter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        shared::metrics::meter::ask_for_consumed_capacity(context.input_mut());
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += shared::metrics::meter::consumed_capacity(output);
        Ok(())
    }
}
