//! DynamoDB requests and consumed capacity per API request: an SDK interceptor on the store's
//! client counts into the meter of the task it runs in, which the request middleware sets up
//! ([`metered`]). Outside a metered task (the worker, background refreshes) it does nothing,
//! and it asks DynamoDB for `ReturnConsumedCapacity=TOTAL` only inside one.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::client::interceptors::context::{Input, Output};

tokio::task_local! {
    static METER: Arc<Meter>;
}

/// Counts of one metered task.
#[derive(Debug, Default)]
struct Meter {
    requests: AtomicU64,
    /// Capacity units in thousandths (DynamoDB reports halves and more).
    capacity_milli: AtomicU64,
}

/// What a metered task asked of DynamoDB.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metered {
    /// Requests sent (retries included).
    pub requests: u64,
    /// Read and write capacity units DynamoDB reported consuming.
    pub capacity_units: f64,
}

/// Runs `work` with a meter of its own and answers what it asked of DynamoDB beside its output.
pub async fn metered<F: Future>(work: F) -> (F::Output, Metered) {
    let meter = Arc::new(Meter::default());
    let output = METER.scope(meter.clone(), work).await;
    let metered = Metered {
        requests: meter.requests.load(Ordering::Relaxed),
        capacity_units: meter.capacity_milli.load(Ordering::Relaxed) as f64 / 1000.0,
    };
    (output, metered)
}

fn with_meter(count: impl FnOnce(&Meter)) {
    let _ = METER.try_with(|meter| count(meter));
}

fn in_metered_task() -> bool {
    METER.try_with(|_| ()).is_ok()
}

/// The interceptor of the store's client (inert outside a [`metered`] task).
#[derive(Debug, Clone, Copy, Default)]
pub struct MeterInterceptor;

impl Intercept for MeterInterceptor {
    fn name(&self) -> &'static str {
        "MeterInterceptor"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if in_metered_task() {
            ask_for_consumed_capacity(context.input_mut());
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        with_meter(|meter| {
            meter.requests.fetch_add(1, Ordering::Relaxed);
        });
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
        let units = consumed_capacity(output);
        with_meter(|meter| {
            meter.capacity_milli.fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
        });
        Ok(())
    }
}

/// Sets `ReturnConsumedCapacity=TOTAL` on a request of an operation that reports capacity
/// (the reads and writes the store sends); other inputs are left as they are.
pub fn ask_for_consumed_capacity(input: &mut Input) {
    let total = Some(ReturnConsumedCapacity::Total);
    if let Some(query) = input.downcast_mut::<QueryInput>() {
        query.return_consumed_capacity = total;
    } else if let Some(get) = input.downcast_mut::<GetItemInput>() {
        get.return_consumed_capacity = total;
    } else if let Some(batch) = input.downcast_mut::<BatchGetItemInput>() {
        batch.return_consumed_capacity = total;
    } else if let Some(put) = input.downcast_mut::<PutItemInput>() {
        put.return_consumed_capacity = total;
    } else if let Some(transaction) = input.downcast_mut::<TransactWriteItemsInput>() {
        transaction.return_consumed_capacity = total;
    }
}

/// The capacity units a response reports (0 for operations [`ask_for_consumed_capacity`]
/// does not cover, or when none was asked for).
pub fn consumed_capacity(output: &Output) -> f64 {
    let one = |c: Option<&ConsumedCapacity>| c.and_then(ConsumedCapacity::capacity_units).unwrap_or(0.0);
    let many = |c: &[ConsumedCapacity]| c.iter().filter_map(ConsumedCapacity::capacity_units).sum::<f64>();
    if let Some(o) = output.downcast_ref::<QueryOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<GetItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
        many(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
        many(o.consumed_capacity())
    } else {
        0.0
    }
}
