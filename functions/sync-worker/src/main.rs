//! `sync-worker`: answers Step Functions task inputs (`{ "action": ... }`, see
//! `docs/sync-worker.md`) and EventBridge scheduled events. Errors carry the worker's error
//! name as their type, which the state machines' `Retry` and `Catch` match.

use std::sync::Arc;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use shared::store::writer::{Clock, Writer};
use shared::sync::events::EventPublisher;
use shared::sync::worker::{self, WorkerError, WorkerInput};

/// A task failure as Lambda reports it to Step Functions.
#[derive(Debug)]
struct TaskError(String);

impl From<TaskError> for Diagnostic {
    fn from(error: TaskError) -> Self {
        Diagnostic { error_type: error.0.clone(), error_message: error.0 }
    }
}

impl From<WorkerError> for TaskError {
    fn from(error: WorkerError) -> Self {
        Self(error.to_string())
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::init_logging();
    let config = shared::config::StoreConfig::from_env().unwrap_or_else(|e| shared::runtime::exit_on_config_error(e));
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let events = Arc::new(EventPublisher::from_lookup(lookup, &config));
    let writer = Writer::new(shared::store::Store::new(&config), Clock::System);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (writer, events) = (writer.clone(), events.clone());
        async move {
            if worker::is_scheduled_event(&event.payload) {
                return Ok::<Value, TaskError>(worker::run_scheduled_inline(&writer, &events).await?);
            }
            let input: WorkerInput =
                serde_json::from_value(event.payload).map_err(|e| TaskError(format!("InvalidInput: {e}")))?;
            Ok(worker::handle(&writer, &events, input).await?)
        }
    }))
    .await
}
