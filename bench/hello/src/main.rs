//! The cold-start benchmark's baseline: a `lambda_runtime` function that answers every event
//! with the event itself, built with the same profile and runtime as the real functions, so
//! the difference is what our start-up and first request add.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) })).await
}
