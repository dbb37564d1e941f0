//! Where a started run executes: inline in the calling process (local mode), or as an
//! execution of the tenant-sync state machine when `STATE_MACHINE_ARN` is configured.

use serde_json::json;

use super::record::RunRecord;
use crate::config::StoreConfig;
use crate::store::StoreError;

/// How runs are executed.
#[derive(Debug)]
pub enum Launcher {
    /// In the process that started the run.
    Inline,
    /// As a Step Functions execution named after the run.
    StepFunctions {
        /// The Step Functions client.
        client: aws_sdk_sfn::Client,
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
        let mut builder = aws_sdk_sfn::Config::builder()
            .http_client(crate::store::aws_http_client())
            .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
            .region(aws_sdk_sfn::config::Region::new(aws.region.clone()))
            .credentials_provider(aws.credentials());
        if let Some(endpoint) = lookup("STEP_FUNCTIONS_ENDPOINT") {
            builder = builder.endpoint_url(endpoint);
        }
        Self::StepFunctions { client: aws_sdk_sfn::Client::from_conf(builder.build()), state_machine_arn }
    }

    /// Starts the execution of `run` (Step Functions only; inline runs are executed by the
    /// caller). The execution is named after the run, so a duplicate start is refused by
    /// Step Functions itself.
    pub async fn start(&self, run: &RunRecord) -> Result<(), StoreError> {
        let Self::StepFunctions { client, state_machine_arn } = self else {
            return Ok(());
        };
        let input = json!({ "tenantId": run.tenant_id, "syncId": run.sync_id, "options": run.options.sync() });
        client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(&run.sync_id)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(aws_sdk_sfn::error::DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}
