//! `ingest`: applies SQS batches of the platform's changes (`docs/ingest-format.md`) through
//! the writer and answers `batchItemFailures`, so only failed messages are delivered again.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::ingest::queue::{handle_batch, SqsBatch};
use shared::store::writer::{Clock, Writer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::runtime::init_logging();
    let config = shared::config::StoreConfig::from_env().unwrap_or_else(|e| shared::runtime::exit_on_config_error(e));
    let writer = Writer::new(shared::store::Store::new(&config), Clock::System);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let writer = writer.clone();
        async move {
            let batch: SqsBatch = serde_json::from_value(event.payload).map_err(|_| "not an SQS event")?;
            Ok::<_, Error>(serde_json::to_value(handle_batch(&writer, batch).await)?)
        }
    }))
    .await
}
