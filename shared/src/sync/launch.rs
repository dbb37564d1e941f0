//! Where a started run executes: inline in the calling process (local mode), or as an
//! execution of the tenant-sync state machine when `STATE_MACHINE_ARN` is configured.

use serde_json::{json, Value};

use super::record::RunRecord;
use crate::config::StoreConfig;
use crate::store::StoreError;

/// A Step Functions client with the project's HTTP stack and endpoint override: the sync API
/// starts a requested run with it, the worker a scheduled run and the next scheduler segment.
#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: aws_sdk_sfn::Client,
}

/// Why an execution could not be started.
#[derive(Debug, thiserror::Error)]
#[error("StartExecution of {name} failed: {message}")]
pub struct StartExecutionError {
    /// The execution's name.
    pub name: String,
    /// What Step Functions (or the connection) said.
    pub message: String,
}

impl StepFunctions {
    /// A client for `aws`'s region and credentials; `STEP_FUNCTIONS_ENDPOINT` overrides the
    /// endpoint (an emulator).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, aws: &StoreConfig) -> Self {
        let mut builder = aws_sdk_sfn::Config::builder()
            .http_client(crate::store::aws_http_client())
            .timeout_config(crate::store::aws_timeouts(aws))
            .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
            .region(aws_sdk_sfn::config::Region::new(aws.region.clone()))
            .credentials_provider(aws.credentials());
        if let Some(endpoint) = lookup("STEP_FUNCTIONS_ENDPOINT") {
            builder = builder.endpoint_url(endpoint);
        }
        Self { client: aws_sdk_sfn::Client::from_conf(builder.build()) }
    }

    /// Starts an execution of `state_machine_arn` named `name`. For a Standard workflow a
    /// second start with the same name and the same input while the first still runs returns
    /// the first execution (no second one is created): a retried start is harmless. Only a
    /// closed execution of that name, or a different input, is refused
    /// (`ExecutionAlreadyExists`).
    pub async fn start(&self, state_machine_arn: &str, name: &str, input: &Value) -> Result<(), StartExecutionError> {
        self.client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| StartExecutionError {
                name: name.to_owned(),
                message: aws_sdk_sfn::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }

    /// Starts the tenant-sync execution of `run`, named after the run.
    pub async fn start_run(&self, state_machine_arn: &str, run: &RunRecord) -> Result<(), StartExecutionError> {
        self.start(state_machine_arn, &run.sync_id, &run_input(run)).await
    }
}

/// The tenant-sync state machine's input for `run`.
pub fn run_input(run: &RunRecord) -> Value {
    json!({ "tenantId": run.tenant_id, "syncId": run.sync_id, "options": run.options.sync() })
}

/// How runs are executed.
#[derive(Debug)]
pub enum Launcher {
    /// In the process that started the run.
    Inline,
    /// As a Step Functions execution named after the run.
    StepFunctions {
        /// The Step Functions client.
        client: StepFunctions,
        /// The tenant-sync state machine.
        state_machine_arn: String,
    },
}

impl Launcher {
    /// Step Functions when `STATE_MACHINE_ARN` is set (`STEP_FUNCTIONS_ENDPOINT` overrides the
    /// endpoint), inline otherwise.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, aws: &StoreConfig) -> Self {
        let Some(state_machine_arn) = lookup("STATE_MACHINE_ARN") else {
            return Self::Inline;
        };
        Self::StepFunctions { client: StepFunctions::from_lookup(lookup, aws), state_machine_arn }
    }

    /// Starts the execution of `run` (Step Functions only; inline runs are executed by the
    /// caller). The execution is named after the run, so a retried start of the same run
    /// returns the execution already running instead of starting a second one.
    pub async fn start(&self, run: &RunRecord) -> Result<(), StoreError> {
        let Self::StepFunctions { client, state_machine_arn } = self else {
            return Ok(());
        };
        client.start_run(state_machine_arn, run).await.map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}
