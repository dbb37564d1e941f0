//! `ingest`: the one function that writes the platform's changes (`docs/ingest-format.md`).
//!
//! It receives two kinds of event: SQS batches from the ingest queue, applied through the
//! writer and answered with `batchItemFailures` so only failed messages are delivered again;
//! and API Gateway requests of the HTTP change routes (`POST .../changes`), served by the
//! shared router. Keeping both here keeps write permissions on one function.

use lambda_http::request::LambdaRequest;
use lambda_http::{lambda_runtime, service_fn, Adapter, Error, LambdaEvent, Service};
use serde_json::Value;
use shared::ingest::queue::{handle_batch, SqsBatch};
use shared::store::writer::{Clock, Writer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::runtime::init_logging();
    let state = shared::runtime::state_from_env().unwrap_or_else(|e| shared::runtime::exit_on_config_error(e));
    let writer = Writer::new(state.store.clone(), Clock::System);
    let audit = state.audit.clone();
    let router = shared::api::serve(shared::api::ingest_routes(), state);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let writer = writer.clone();
        let audit = audit.clone();
        let router = router.clone();
        async move {
            let LambdaEvent { payload, context } = event;
            if payload.get("Records").is_some() {
                let batch: SqsBatch = serde_json::from_value(payload).map_err(|_| "not an SQS event")?;
                return Ok::<_, Error>(serde_json::to_value(handle_batch(&writer, &audit, batch).await)?);
            }
            let request: LambdaRequest = serde_json::from_value(payload).map_err(|_| "neither SQS nor HTTP")?;
            let response = Adapter::from(router).call(LambdaEvent::new(request, context)).await?;
            Ok(serde_json::to_value(response)?)
        }
    }))
    .await
}
