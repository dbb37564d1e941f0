//! `sync-worker`: answers Step Functions task inputs (`{ "action": ... }`, see
//! `docs/sync-worker.md`), EventBridge scheduled events, and Step Functions execution status
//! events for stopped tenant syncs. A failure is reported with the worker's error name as its
//! Lambda error type, which the state machines' `Retry` and `Catch` match, and the reason as
//! its message, which the execution's history shows.

use std::sync::Arc;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use shared::store::writer::{Clock, Writer};
use shared::sync::events::EventPublisher;
use shared::sync::launch::StepFunctions;
use shared::sync::worker::{one_task_max_items, Worker, WorkerError};

/// A task failure as Lambda reports it to Step Functions.
#[derive(Debug)]
struct TaskError(WorkerError);

impl From<TaskError> for Diagnostic {
    fn from(error: TaskError) -> Self {
        Diagnostic { error_type: error.0.error_type().to_owned(), error_message: error.0.to_string() }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::init_logging();
    let config = shared::config::StoreConfig::from_env().unwrap_or_else(|e| shared::runtime::exit_on_config_error(e));
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let worker = Worker {
        events: Arc::new(EventPublisher::from_lookup(lookup, &config)),
        step_functions: StepFunctions::from_lookup(lookup, &config),
        writer: Writer::new(shared::store::Store::new(&config), Clock::System),
        one_task_max_items: one_task_max_items(lookup).unwrap_or_else(|e| shared::runtime::exit_on_config_error(e)),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let worker = worker.clone();
        async move { worker.handle_payload(event.payload).await.map_err(TaskError) }
    }))
    .await
}
