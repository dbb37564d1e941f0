//! Drives the Step Functions definitions in `statemachine/` in process: a small interpreter
//! reads the ASL, executes the states in order and calls the sync-worker handler with
//! exactly the inputs the states build (Parameters with `.$` paths and the context object,
//! ResultPath, Choice, Pass, Wait, Retry, Catch), so the definitions and the worker cannot
//! drift apart. The executions the worker starts go to moto's Step Functions (which
//! `scripts/test.sh` starts, in its default mode that records executions without running
//! them); while a scheduled sync waits, the driver runs the tenant-sync executions moto
//! holds, with the input the worker gave them, as Step Functions would.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::BoxFuture;
use integration_tests::emulator;
use integration_tests::http::Bench;
use serde_json::{json, Map, Value};
use shared::sync::record::{self, RunOptions, RunStatus};
use shared::sync::schedule;
use shared::sync::worker::{self, Worker, WorkerInput};
use shared::time::Timestamp;

const WORKER: &str = "${SyncWorkerArn}";

fn machine_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../statemachine").join(name);
    std::fs::read_to_string(path).expect("ASL file exists")
}

fn machine(name: &str) -> Value {
    serde_json::from_str(&machine_text(name)).expect("ASL is JSON")
}

fn moto() -> String {
    std::env::var("MOTO_ENDPOINT")
        .unwrap_or_else(|_| panic!("MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto"))
}

/// A state machine registered on moto under a unique name; returns its ARN.
async fn register(sfn: &aws_sdk_sfn::Client, kind: &str) -> String {
    let name = format!("{kind}-{}", uuid::Uuid::new_v4().simple());
    emulator::register(sfn, &name, machine_text(&format!("{kind}.asl.json"))).await
}

/// The executions moto holds for `arn`: (name, input), oldest first.
async fn executions(sfn: &aws_sdk_sfn::Client, arn: &str) -> Vec<(String, Value)> {
    let listed = sfn.list_executions().state_machine_arn(arn).send().await.expect("moto lists executions");
    let mut out = Vec::new();
    for execution in listed.executions() {
        let described =
            sfn.describe_execution().execution_arn(execution.execution_arn()).send().await.expect("described");
        let input = serde_json::from_str(described.input().unwrap_or("{}")).expect("input is JSON");
        out.push((execution.name().to_owned(), input));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A failed task or a Fail state: (error name, cause).
type Failure = (String, String);

struct Driver {
    worker: Worker,
    /// Makes every task with one of these actions fail with `StoreFailed` (failure injection).
    fail_actions: Vec<&'static str>,
    /// Every worker input sent, in order.
    calls: Mutex<Vec<Value>>,
    /// The moto client, and the machines registered there.
    sfn: aws_sdk_sfn::Client,
    tenant_sync_arn: String,
    scheduler_arn: String,
    /// `${...}` values of the scheduled-sync definition besides the ARNs.
    concurrency: String,
    pages_per_execution: u32,
    /// Tenant-sync executions (by name) the driver has run.
    ran: Mutex<BTreeSet<String>>,
}

/// The context object, by path: `$$.Execution.Name` and `$$.StateMachine.Id`.
fn context(execution_name: &str, state_machine_arn: &str) -> Value {
    json!({ "$$.Execution.Name": execution_name, "$$.StateMachine.Id": state_machine_arn })
}

fn lookup<'v>(data: &'v Value, context: &'v Value, path: &str) -> Option<&'v Value> {
    if path.starts_with("$$.") {
        return context.get(path);
    }
    let rest = path.strip_prefix('$')?;
    rest.split('.').filter(|p| !p.is_empty()).try_fold(data, |value, key| value.get(key))
}

fn resolve(template: &Value, data: &Value, context: &Value) -> Value {
    match template {
        Value::Object(members) => {
            let mut out = Map::new();
            for (key, value) in members {
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let path = value.as_str().expect("paths are strings");
                        out.insert(name.to_owned(), lookup(data, context, path).cloned().unwrap_or(Value::Null));
                    }
                    None => {
                        out.insert(key.clone(), resolve(value, data, context));
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn apply_result_path(data: Value, state: &Value, result: Value) -> Value {
    match state.get("ResultPath") {
        Some(Value::Null) => data,
        None => result,
        Some(Value::String(path)) if path == "$" => result,
        Some(Value::String(path)) => {
            let mut data = data;
            let keys: Vec<&str> = path.trim_start_matches("$.").split('.').collect();
            let mut target = &mut data;
            for key in &keys[..keys.len() - 1] {
                target = target.as_object_mut().unwrap().entry(key.to_string()).or_insert(json!({}));
            }
            target.as_object_mut().unwrap().insert(keys[keys.len() - 1].to_owned(), result);
            data
        }
        Some(other) => panic!("unsupported ResultPath {other}"),
    }
}

fn matches(errors: &Value, name: &str) -> bool {
    errors.as_array().unwrap().iter().any(|e| e == "States.ALL" || e == name)
}

impl Driver {
    /// A definition with the template's substitutions filled in (the worker's stays a marker).
    fn definition(&self, name: &str) -> Value {
        let text = machine_text(name)
            .replace("${TenantSyncStateMachineArn}", &self.tenant_sync_arn)
            .replace("${ScheduledSyncConcurrency}", &self.concurrency);
        let mut asl: Value = serde_json::from_str(&text).expect("ASL is JSON");
        if let Some(choice) = asl["States"].get_mut("Continue?") {
            choice["Choices"][0]["NumericGreaterThanEquals"] = json!(self.pages_per_execution);
        }
        asl
    }

    fn run<'a>(&'a self, asl: &'a Value, input: Value, context: Value) -> BoxFuture<'a, Result<Value, Failure>> {
        Box::pin(async move {
            let states = &asl["States"];
            let mut current = asl["StartAt"].as_str().unwrap().to_owned();
            let mut data = input;
            loop {
                let state = &states[&current];
                let next = match state["Type"].as_str().unwrap() {
                    "Task" => match self.task(state, &data, &context).await {
                        Ok(result) => {
                            data = apply_result_path(data, state, result);
                            state.get("Next").and_then(Value::as_str).map(str::to_owned)
                        }
                        Err((name, cause)) => {
                            let catcher = state
                                .get("Catch")
                                .and_then(Value::as_array)
                                .and_then(|c| c.iter().find(|c| matches(&c["ErrorEquals"], &name)).cloned());
                            let Some(catcher) = catcher else { return Err((name, cause)) };
                            data = apply_result_path(data, &catcher, json!({ "Error": name, "Cause": cause }));
                            catcher["Next"].as_str().map(str::to_owned)
                        }
                    },
                    "Pass" => {
                        let result = match (state.get("Result"), state.get("Parameters")) {
                            (Some(result), _) => result.clone(),
                            (None, Some(parameters)) => resolve(parameters, &data, &context),
                            (None, None) => data.clone(),
                        };
                        data = apply_result_path(data, state, result);
                        state["Next"].as_str().map(str::to_owned)
                    }
                    "Choice" => {
                        let chosen = state["Choices"].as_array().unwrap().iter().find(|choice| {
                            let value = lookup(&data, &context, choice["Variable"].as_str().unwrap());
                            if let Some(expected) = choice.get("BooleanEquals") {
                                value == Some(expected)
                            } else if let Some(present) = choice.get("IsPresent") {
                                value.is_some() == present.as_bool().unwrap()
                            } else if let Some(is_null) = choice.get("IsNull") {
                                value.is_none_or(Value::is_null) == is_null.as_bool().unwrap()
                            } else if let Some(bound) = choice.get("NumericGreaterThanEquals") {
                                value.and_then(Value::as_f64).is_some_and(|v| v >= bound.as_f64().unwrap())
                            } else {
                                panic!("unsupported choice {choice}")
                            }
                        });
                        Some(chosen.map_or(&state["Default"], |c| &c["Next"]).as_str().unwrap().to_owned())
                    }
                    "Wait" => {
                        let seconds = match state.get("SecondsPath") {
                            Some(path) => lookup(&data, &context, path.as_str().unwrap()).cloned(),
                            None => state.get("Seconds").cloned(),
                        };
                        assert!(seconds.is_some_and(|s| s.is_u64()), "a Wait waits a number of seconds");
                        // Step Functions runs the started executions meanwhile.
                        self.run_started_tenant_syncs().await;
                        state["Next"].as_str().map(str::to_owned)
                    }
                    "Succeed" => return Ok(data),
                    "Fail" => {
                        return Err((
                            state["Error"].as_str().unwrap().to_owned(),
                            state["Cause"].as_str().unwrap_or("").to_owned(),
                        ))
                    }
                    other => panic!("unsupported state type {other}"),
                };
                match next {
                    Some(next) if state.get("End") != Some(&Value::Bool(true)) => current = next,
                    _ => return Ok(data),
                }
            }
        })
    }

    async fn task(&self, state: &Value, data: &Value, context: &Value) -> Result<Value, Failure> {
        let parameters = resolve(&state["Parameters"], data, context);
        assert_eq!(state["Resource"], WORKER, "every task calls the worker");
        let retries = state.get("Retry").and_then(Value::as_array).cloned().unwrap_or_default();
        for attempt in 0.. {
            match self.call_worker(&parameters).await {
                Err((name, cause)) => {
                    let retry = retries.iter().find(|r| matches(&r["ErrorEquals"], &name));
                    let allowed = retry.map_or(0, |r| r["MaxAttempts"].as_u64().unwrap());
                    if let Some(retry) = retry {
                        assert!(retry["IntervalSeconds"].is_u64(), "IntervalSeconds must be a number");
                    }
                    if attempt >= allowed {
                        return Err((name, cause));
                    }
                }
                ok => return ok,
            }
        }
        unreachable!()
    }

    async fn call_worker(&self, parameters: &Value) -> Result<Value, Failure> {
        self.calls.lock().unwrap().push(parameters.clone());
        if self.fail_actions.iter().any(|a| parameters["action"] == *a) {
            return Err(("StoreFailed".into(), "injected failure".into()));
        }
        self.worker.handle_payload(parameters.clone()).await.map_err(|e| (e.error_type().to_owned(), e.to_string()))
    }

    /// Runs, once each, the tenant-sync executions moto holds, with their recorded input.
    async fn run_started_tenant_syncs(&self) {
        let asl = self.definition("tenant-sync.asl.json");
        for (name, input) in executions(&self.sfn, &self.tenant_sync_arn).await {
            if self.ran.lock().unwrap().insert(name.clone()) {
                let _ = self.run(&asl, input, context(&name, &self.tenant_sync_arn)).await;
            }
        }
    }

    /// Runs a scheduled sync as the schedule starts it, then each segment it continued in.
    async fn scheduled_sync(&self) -> Vec<Result<Value, Failure>> {
        let asl = self.definition("scheduled-sync.asl.json");
        let first = json!({ "scheduleId": null, "next": null, "count": 0 });
        let mut outcomes = vec![self.run(&asl, first, context("tick-1", &self.scheduler_arn)).await];
        let mut done: BTreeSet<String> = BTreeSet::new();
        loop {
            let pending: Vec<(String, Value)> = executions(&self.sfn, &self.scheduler_arn)
                .await
                .into_iter()
                .filter(|(name, _)| !done.contains(name))
                .collect();
            let Some((name, input)) = pending.into_iter().next() else { return outcomes };
            done.insert(name.clone());
            outcomes.push(self.run(&asl, input, context(&name, &self.scheduler_arn)).await);
        }
    }

    fn actions(&self) -> Vec<String> {
        self.calls.lock().unwrap().iter().map(|c| c["action"].as_str().unwrap().to_owned()).collect()
    }
}

/// A driver whose worker runs one task per phase (its one-task limit is 0).
async fn driver(fail_actions: &[&'static str]) -> (Driver, Bench, shared::seed::SeedData) {
    driver_with_one_task_limit(fail_actions, 0).await
}

async fn driver_with_one_task_limit(
    fail_actions: &[&'static str],
    one_task_max_items: u64,
) -> (Driver, Bench, shared::seed::SeedData) {
    let (bench, data) = Bench::seeded().await;
    let sfn = emulator::step_functions(&moto());
    let tenant_sync_arn = register(&sfn, "tenant-sync").await;
    let scheduler_arn = register(&sfn, "scheduled-sync").await;
    let worker = integration_tests::worker(&bench.store, one_task_max_items, Some(moto()));
    let driver = Driver {
        worker,
        fail_actions: fail_actions.to_vec(),
        calls: Default::default(),
        sfn,
        tenant_sync_arn,
        scheduler_arn,
        concurrency: "2".into(),
        pages_per_execution: schedule::PAGES_PER_EXECUTION,
        ran: Default::default(),
    };
    (driver, bench, data)
}

fn active(data: &shared::seed::SeedData) -> Vec<String> {
    data.tenants.iter().filter(|t| t.tenant.active()).map(|t| t.tenant.tenant_id.clone()).collect()
}

#[tokio::test]
async fn the_tenant_sync_succeeds_and_records_the_run() {
    let (driver, bench, data) = driver(&[]).await;
    let t = &data.tenants[2].tenant.tenant_id;
    let recorded = execute_run(&driver, &bench, t, RunOptions::default()).await;
    assert_eq!(driver.actions(), ["essential", "reference", "validation", "finalize"]);
    assert_eq!(recorded.status, RunStatus::Succeeded);
    let results = recorded.results.unwrap();
    assert_eq!(
        results.phases.essential.data.user_profiles.count as usize,
        data.tenants[2].users.iter().filter(|u| u.active()).count()
    );
    assert!(record::status(&bench.store, t).await.unwrap().current_run.is_none(), "lease released");
}

#[tokio::test]
async fn skipping_reference_data_passes_the_skipped_phase() {
    let (driver, bench, data) = driver(&[]).await;
    let t = &data.tenants[1].tenant.tenant_id;
    let options = RunOptions { skip_reference_data: true, ..Default::default() };
    let results = execute_run(&driver, &bench, t, options).await.results.unwrap();
    assert_eq!(driver.actions(), ["essential", "validation", "finalize"]);
    assert!(results.phases.reference.skipped && results.success);
}

/// Starts a run of `tenant_id` and executes the tenant-sync machine for it; returns the
/// finished run record.
async fn execute_run(driver: &Driver, bench: &Bench, tenant_id: &str, options: RunOptions) -> record::RunRecord {
    let run = record::start(&bench.store, tenant_id, "crm", options, None).await.unwrap();
    let skip = options.skip_reference_data;
    let input = json!({ "tenantId": tenant_id, "syncId": run.sync_id, "options": { "skipReferenceData": skip } });
    let output = driver.run(&driver.definition("tenant-sync.asl.json"), input, Value::Null).await.unwrap();
    assert_eq!(output["finalized"]["status"], "succeeded", "{output}");
    assert!(output.to_string().len() < 256 * 1024, "state stays small");
    record::run(&bench.store, tenant_id, &run.sync_id).await.unwrap().unwrap()
}

/// A tenant within the limit syncs in its essential task, and the phases it reports are those
/// the separate phase tasks report for the same data; one item over the limit, it runs one
/// task per phase again.
#[tokio::test]
async fn a_tenant_within_the_one_task_limit_syncs_in_one_task_with_the_phase_tasks_results() {
    let (mut driver, bench, data) = driver_with_one_task_limit(&[], u64::MAX).await;
    let t = &data.tenants[2].tenant.tenant_id;
    let size = integration_tests::live_items(&bench.store, t).await;
    assert!(size > 10, "the tenant has data: {size} items");

    driver.worker.one_task_max_items = size;
    let one = execute_run(&driver, &bench, t, RunOptions::default()).await;
    assert_eq!(driver.actions(), ["essential", "finalize"], "at the limit: one task");

    driver.worker.one_task_max_items = size - 1;
    let phased = execute_run(&driver, &bench, t, RunOptions::default()).await;
    assert_eq!(
        driver.actions()[2..],
        ["essential", "reference", "validation", "finalize"],
        "over it: a task per phase"
    );

    let (one, phased) = (one.results.unwrap(), phased.results.unwrap());
    assert!(one.success && !one.phases.reference.skipped);
    assert_eq!(one.phases, phased.phases, "the same data gives the same phases either way");
    assert!(record::status(&bench.store, t).await.unwrap().current_run.is_none(), "lease released");
}

#[tokio::test]
async fn a_one_task_run_skips_reference_data_when_asked() {
    let (driver, bench, data) = driver_with_one_task_limit(&[], u64::MAX).await;
    let t = &data.tenants[1].tenant.tenant_id;
    let options = RunOptions { skip_reference_data: true, ..Default::default() };
    let results = execute_run(&driver, &bench, t, options).await.results.unwrap();
    assert_eq!(driver.actions(), ["essential", "finalize"]);
    assert!(results.success && results.phases.reference.skipped, "{:?}", results.phases.reference);
    assert!(results.phases.reference.data.tenant_users.is_none());
}

/// Runs a tenant sync of the third tenant with `fail_actions` failing; returns the driver,
/// the bench, the tenant and the run after the execution ended, which must have failed.
async fn failing_tenant_sync(fail_actions: &[&'static str]) -> (Driver, Bench, String, record::RunRecord) {
    let (driver, bench, data) = driver(fail_actions).await;
    let t = data.tenants[2].tenant.tenant_id.clone();
    let run = record::start(&bench.store, &t, "crm", RunOptions::default(), None).await.unwrap();
    let input = json!({ "tenantId": t, "syncId": run.sync_id, "options": { "skipReferenceData": false } });
    let failure = driver.run(&driver.definition("tenant-sync.asl.json"), input, Value::Null).await.unwrap_err();
    assert_eq!(failure.0, "SyncFailed");
    assert_eq!(driver.actions(), ["essential", "reference", "validation", "finalizeFailed"]);
    (driver, bench, t, run)
}

#[tokio::test]
async fn a_failing_task_ends_in_a_failed_run_and_a_free_lease() {
    let (_driver, bench, t, run) = failing_tenant_sync(&["validation"]).await;
    assert_eq!(record::run(&bench.store, &t, &run.sync_id).await.unwrap().unwrap().status, RunStatus::Failed);
    assert!(record::start(&bench.store, &t, "crm", RunOptions::default(), None).await.is_ok(), "the lease is free");
}

/// `FinalizeFailed` failing too still ends the execution in a failure (whose status event
/// frees the lease: `a_stopped_execution_frees_its_lease_once`), never in success.
#[tokio::test]
async fn a_failing_failure_step_fails_the_execution() {
    let (_driver, bench, t, run) = failing_tenant_sync(&["validation", "finalizeFailed"]).await;
    assert_eq!(record::run(&bench.store, &t, &run.sync_id).await.unwrap().unwrap().status, RunStatus::Running);
}

/// The status event Step Functions sends for a tenant-sync execution that ended `status`.
fn status_event(status: &str, tenant_id: &str, sync_id: &str) -> Value {
    let input = json!({ "tenantId": tenant_id, "syncId": sync_id, "options": { "skipReferenceData": false } });
    json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(), "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change", "account": "123456789012", "region": "us-east-1",
        "time": "2026-12-03T12:00:00Z", "resources": [format!("arn:aws:states:us-east-1:123456789012:execution:m:{sync_id}")],
        "detail": { "executionArn": format!("arn:aws:states:us-east-1:123456789012:execution:m:{sync_id}"),
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m", "name": sync_id,
            "status": status, "input": input.to_string(), "output": null }
    })
}

#[tokio::test]
async fn a_stopped_execution_frees_its_lease_once() {
    let (driver, bench, data) = driver(&[]).await;
    for (tenant, status) in data.tenants.iter().zip(["FAILED", "TIMED_OUT", "ABORTED"]) {
        let t = &tenant.tenant.tenant_id;
        let run = record::start(&bench.store, t, "crm", RunOptions::default(), None).await.unwrap();
        let event = status_event(status, t, &run.sync_id);
        let answer = driver.worker.handle_payload(event.clone()).await.unwrap();
        assert_eq!(answer["status"], "failed", "{status}: {answer}");
        assert_eq!(record::run(&bench.store, t, &run.sync_id).await.unwrap().unwrap().status, RunStatus::Failed);
        assert!(record::status(&bench.store, t).await.unwrap().current_run.is_none(), "{status}: lease freed");
        let again = driver.worker.handle_payload(event).await.unwrap();
        assert_eq!(again["alreadyFinished"], true, "a second delivery changes nothing: {again}");
    }
    let t = &data.tenants[0].tenant.tenant_id;
    let run = record::start(&bench.store, t, "crm", RunOptions::default(), None).await.unwrap();
    let answer = driver.worker.handle_payload(status_event("SUCCEEDED", t, &run.sync_id)).await.unwrap();
    assert_eq!(answer["status"], "ignored");
    assert_eq!(record::run(&bench.store, t, &run.sync_id).await.unwrap().unwrap().status, RunStatus::Running);
}

#[tokio::test]
async fn worker_errors_carry_their_type_and_a_message() {
    let (driver, _bench, _data) = driver(&[]).await;
    let error = driver.worker.handle_payload(json!({ "action": "nonsense" })).await.unwrap_err();
    assert_eq!(error.error_type(), "InvalidInput");
    assert!(error.to_string().contains("nonsense"), "{error}");
    let error = driver
        .worker
        .handle_payload(json!({ "action": "essential", "tenantId": "t", "syncId": "s" }))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "RunSuperseded");
    assert!(error.to_string().contains("run s of tenant t"), "{error}");
    let error = driver
        .worker
        .handle_payload(json!({ "action": "finalizeFailed", "tenantId": "t", "syncId": "s" }))
        .await
        .unwrap_err();
    assert_eq!((error.error_type(), error.to_string().as_str()), ("RunNotFound", "tenant t has no run s"));
}

#[tokio::test]
async fn the_scheduled_sync_runs_every_active_tenant_once_page_by_page() {
    let (driver, bench, data) = driver(&[]).await;
    let active = active(&data);
    assert!(active.len() > 2, "more than one page of two");
    let outcomes = driver.scheduled_sync().await;
    assert_eq!(outcomes.len(), 1, "one execution");
    outcomes[0].as_ref().unwrap();
    for tenant in &data.tenants {
        let status = record::status(&bench.store, &tenant.tenant.tenant_id).await.unwrap();
        if tenant.tenant.active() {
            assert_eq!(status.last_run.map(|r| r.status), Some(RunStatus::Succeeded), "{}", tenant.tenant.company_name);
        } else {
            assert!(status.last_run.is_none(), "inactive tenants are not synced");
        }
    }
    let started = executions(&driver.sfn, &driver.tenant_sync_arn).await;
    let mut tenants: Vec<String> =
        started.iter().map(|(_, input)| input["tenantId"].as_str().unwrap().to_owned()).collect();
    tenants.sort();
    let mut expected = active.clone();
    expected.sort();
    assert_eq!(tenants, expected, "one execution per active tenant");
    let pages = driver.actions().iter().filter(|a| *a == "startScheduledPage").count();
    assert_eq!(pages, active.len().div_ceil(2), "pages of two");
    assert!(driver.actions().contains(&"checkScheduledPage".to_owned()), "each page waited for its runs");
    assert_eq!(driver.actions().last().map(String::as_str), Some("endSchedule"));
    // The schedule lease is free: the next tick proceeds.
    let begin =
        driver.worker.handle_payload(json!({ "action": "beginSchedule", "executionName": "tick-2" })).await.unwrap();
    assert_eq!(begin["proceed"], true);
}

#[tokio::test]
async fn a_long_schedule_continues_in_new_executions() {
    let (mut driver, bench, data) = driver(&[]).await;
    driver.pages_per_execution = 1;
    let outcomes = driver.scheduled_sync().await;
    let active = active(&data);
    assert_eq!(outcomes.len(), active.len().div_ceil(2), "one execution per page");
    assert!(outcomes.iter().all(Result::is_ok));
    for t in &active {
        let status = record::status(&bench.store, t).await.unwrap();
        assert_eq!(status.last_run.map(|r| r.status), Some(RunStatus::Succeeded));
    }
    assert_eq!(executions(&driver.sfn, &driver.tenant_sync_arn).await.len(), active.len(), "each tenant once");
}

#[tokio::test]
async fn a_schedule_skips_while_the_previous_one_runs() {
    let (driver, _bench, _data) = driver(&[]).await;
    let held =
        driver.worker.handle_payload(json!({ "action": "beginSchedule", "executionName": "earlier" })).await.unwrap();
    assert_eq!(held["proceed"], true);
    let outcomes = driver.scheduled_sync().await;
    assert!(outcomes[0].is_ok());
    assert_eq!(driver.actions(), ["beginSchedule"], "the tick ends at Overlapping");
    assert!(executions(&driver.sfn, &driver.tenant_sync_arn).await.is_empty());
}

/// Sets a running run's lease end into the past, as a crashed holder leaves it.
async fn expire_lease(store: &shared::store::Store, tenant_id: &str, sync_id: &str) {
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(format!("TENANT#{tenant_id}")))
        .key("SK", AttributeValue::S(format!("SYNC#{sync_id}")))
        .update_expression("SET leaseExpiresAt = :past")
        .expression_attribute_values(":past", AttributeValue::S(Timestamp::from_millis(0).unwrap().to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_scheduler_reclaims_an_expired_lease_and_leaves_a_live_one() {
    let (driver, bench, data) = driver(&[]).await;
    let active = active(&data);
    let stranded = record::start(&bench.store, &active[0], "crm", RunOptions::default(), None).await.unwrap();
    expire_lease(&bench.store, &active[0], &stranded.sync_id).await;
    let live = record::start(&bench.store, &active[1], "crm", RunOptions::default(), None).await.unwrap();
    driver.scheduled_sync().await[0].as_ref().unwrap();
    let old = record::run(&bench.store, &active[0], &stranded.sync_id).await.unwrap().unwrap();
    assert_eq!(old.status, RunStatus::Superseded);
    let status = record::status(&bench.store, &active[0]).await.unwrap();
    assert_eq!(status.last_run.map(|r| (r.status, r.principal)), Some((RunStatus::Succeeded, "scheduler".into())));
    let held = record::run(&bench.store, &active[1], &live.sync_id).await.unwrap().unwrap();
    assert_eq!(held.status, RunStatus::Running, "a live lease is left alone");
}

#[tokio::test]
async fn a_retried_page_recognises_its_own_runs() {
    let (driver, bench, data) = driver(&[]).await;
    driver.worker.handle_payload(json!({ "action": "beginSchedule", "executionName": "tick" })).await.unwrap();
    let page = json!({ "action": "startScheduledPage", "scheduleId": "tick", "after": null, "limit": "2",
        "tenantSyncArn": driver.tenant_sync_arn, "count": 0 });
    let first = driver.worker.handle_payload(page.clone()).await.unwrap();
    // The answer was lost; Step Functions retries the task.
    let second = driver.worker.handle_payload(page).await.unwrap();
    assert_eq!(first["runs"], second["runs"], "the same runs, not new ones");
    assert_eq!(first["runs"].as_array().unwrap().len(), 2);
    let started = executions(&driver.sfn, &driver.tenant_sync_arn).await;
    assert_eq!(started.len(), 2, "Step Functions holds one execution per run");
    for run in first["runs"].as_array().unwrap() {
        let t = run["tenantId"].as_str().unwrap();
        assert_eq!(record::status(&bench.store, t).await.unwrap().current_run.unwrap().sync_id, run["syncId"]);
    }
    let _ = data;
}

/// A page does not wait for a run that lost its execution without a status event: once the
/// run's lease has expired it no longer holds the page (the next schedule replaces it).
#[tokio::test]
async fn a_page_stops_waiting_for_a_run_whose_lease_expired() {
    let (driver, bench, _data) = driver(&[]).await;
    driver.worker.handle_payload(json!({ "action": "beginSchedule", "executionName": "tick" })).await.unwrap();
    let page = json!({ "action": "startScheduledPage", "scheduleId": "tick", "after": null, "limit": 2,
        "tenantSyncArn": driver.tenant_sync_arn, "count": 0 });
    let page = driver.worker.handle_payload(page).await.unwrap();
    let check = json!({ "action": "checkScheduledPage", "scheduleId": "tick", "page": page });
    let waiting = driver.worker.handle_payload(check.clone()).await.unwrap();
    assert_eq!((waiting["pending"].as_bool(), waiting["runs"].as_array().map(Vec::len)), (Some(true), Some(2)));
    let lost = &page["runs"][0];
    expire_lease(&bench.store, lost["tenantId"].as_str().unwrap(), lost["syncId"].as_str().unwrap()).await;
    let checked = driver.worker.handle_payload(check).await.unwrap();
    assert_eq!(checked["runs"], json!([page["runs"][1]]), "only the live run still holds the page");
    assert_eq!(checked["waitSeconds"], json!(schedule::FIRST_WAIT_SECONDS * 2));
}

#[tokio::test]
async fn a_run_whose_execution_cannot_start_is_failed_and_frees_its_lease() {
    let (driver, bench, data) = driver(&[]).await;
    driver.worker.handle_payload(json!({ "action": "beginSchedule", "executionName": "tick" })).await.unwrap();
    let missing = "arn:aws:states:us-east-1:123456789012:stateMachine:does-not-exist";
    let page = json!({ "action": "startScheduledPage", "scheduleId": "tick", "after": null, "limit": 2,
        "tenantSyncArn": missing, "count": 0 });
    let answer = driver.worker.handle_payload(page).await.unwrap();
    assert_eq!((answer["failedToStart"].as_u64(), answer["pending"].as_bool()), (Some(2), Some(false)), "{answer}");
    for t in active(&data).iter().take(2) {
        let status = record::status(&bench.store, t).await.unwrap();
        assert!(status.current_run.is_none(), "lease freed");
        assert_eq!(status.last_run.map(|r| r.status), Some(RunStatus::Failed));
    }
}

#[test]
fn the_continuation_threshold_is_the_documented_one() {
    let asl = machine("scheduled-sync.asl.json");
    assert_eq!(
        asl["States"]["Continue?"]["Choices"][0]["NumericGreaterThanEquals"],
        json!(schedule::PAGES_PER_EXECUTION)
    );
    assert!(asl["TimeoutSeconds"].is_u64() && machine("tenant-sync.asl.json")["TimeoutSeconds"].is_u64());
}

#[tokio::test]
async fn an_eventbridge_schedule_event_syncs_every_active_tenant_inline() {
    let (driver, bench, data) = driver(&[]).await;
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/sync-worker/scheduled-event.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(worker::is_scheduled_event(&event));
    assert!(!worker::is_scheduled_event(&json!({ "action": "essential" })));
    let outcome = driver.worker.handle_payload(event).await.unwrap();
    let active = active(&data);
    assert_eq!(outcome, json!({ "started": active.len(), "skipped": 0 }));
    for t in &active {
        let status = record::status(&bench.store, t).await.unwrap();
        assert_eq!(status.last_run.map(|r| r.status), Some(RunStatus::Succeeded));
    }
}

#[tokio::test]
async fn the_sample_task_inputs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/sync-worker");
    let mut parsed = 0;
    for file in std::fs::read_dir(dir).unwrap() {
        let file = file.unwrap().path();
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        if value.get("action").is_some() {
            serde_json::from_value::<WorkerInput>(value).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            parsed += 1;
        }
    }
    assert!(parsed >= 5);
}

/// Every tenant-sync task state that can fail hands the run to a step that frees its lease
/// (`FinalizeFailed`), and that step's own failure ends the execution as failed, which the
/// status rule turns into a freed lease.
#[test]
fn every_tenant_sync_task_catches_into_the_failure_path() {
    let asl = machine("tenant-sync.asl.json");
    for (name, state) in asl["States"].as_object().unwrap() {
        if state["Type"] != "Task" {
            continue;
        }
        let catch = state["Catch"].as_array().unwrap_or_else(|| panic!("{name} has no Catch"));
        let next = catch.iter().find(|c| matches(&c["ErrorEquals"], "States.ALL")).expect("catches everything")["Next"]
            .clone();
        let wanted = if name == "FinalizeFailed" { "Failed" } else { "FinalizeFailed" };
        assert_eq!(next, wanted, "{name}");
    }
}
