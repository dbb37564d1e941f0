//! Drives the Step Functions definitions in `statemachine/` in process: a small interpreter
//! reads the ASL, executes the states in order and calls the sync-worker handler with
//! exactly the inputs the states build (Parameters with `.$` paths, ResultPath, Choice, Pass,
//! Map, Retry, Catch), so the definitions and the worker cannot drift apart.

use std::path::Path;

use futures::future::BoxFuture;
use integration_tests::http::Bench;
use serde_json::{json, Map, Value};
use shared::store::writer::{Clock, Writer};
use shared::sync::events::EventPublisher;
use shared::sync::record::{self, RunOptions, RunStatus};
use shared::sync::worker::{self, WorkerInput};

const WORKER: &str = "${SyncWorkerArn}";
const START_SYNC: &str = "arn:aws:states:::states:startExecution.sync:2";

fn machine(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../statemachine").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("ASL file exists")).expect("ASL is JSON")
}

/// A failed task or a Fail state: (error name, cause).
type Failure = (String, String);

struct Driver {
    writer: Writer,
    /// Makes every task with this `action` fail with `StoreFailed` (failure injection).
    fail_action: Option<&'static str>,
    /// Every worker input sent, in order.
    calls: std::sync::Mutex<Vec<Value>>,
}

fn lookup<'v>(data: &'v Value, item: &'v Value, path: &str) -> Option<&'v Value> {
    if path == "$$.Map.Item.Value" {
        return Some(item);
    }
    let rest = path.strip_prefix('$')?;
    rest.split('.').filter(|p| !p.is_empty()).try_fold(data, |value, key| value.get(key))
}

fn resolve(template: &Value, data: &Value, item: &Value) -> Value {
    match template {
        Value::Object(members) => {
            let mut out = Map::new();
            for (key, value) in members {
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let path = value.as_str().expect("paths are strings");
                        out.insert(name.to_owned(), lookup(data, item, path).cloned().unwrap_or(Value::Null));
                    }
                    None => {
                        out.insert(key.clone(), resolve(value, data, item));
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
    fn run<'a>(&'a self, asl: &'a Value, input: Value, item: Value) -> BoxFuture<'a, Result<Value, Failure>> {
        Box::pin(async move {
            let states = &asl["States"];
            let mut current = asl["StartAt"].as_str().unwrap().to_owned();
            let mut data = input;
            loop {
                let state = &states[&current];
                let next = match state["Type"].as_str().unwrap() {
                    "Task" => match self.task(state, &data, &item).await {
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
                            (None, Some(parameters)) => resolve(parameters, &data, &item),
                            (None, None) => data.clone(),
                        };
                        data = apply_result_path(data, state, result);
                        state["Next"].as_str().map(str::to_owned)
                    }
                    "Choice" => {
                        let chosen = state["Choices"].as_array().unwrap().iter().find(|choice| {
                            let value = lookup(&data, &item, choice["Variable"].as_str().unwrap());
                            if let Some(expected) = choice.get("BooleanEquals") {
                                value == Some(expected)
                            } else if let Some(is_null) = choice.get("IsNull") {
                                value.is_none_or(Value::is_null) == is_null.as_bool().unwrap()
                            } else {
                                panic!("unsupported choice {choice}")
                            }
                        });
                        Some(chosen.map_or(&state["Default"], |c| &c["Next"]).as_str().unwrap().to_owned())
                    }
                    "Map" => {
                        let items =
                            lookup(&data, &item, state["ItemsPath"].as_str().unwrap()).cloned().unwrap_or(json!([]));
                        let mut results = Vec::new();
                        for element in items.as_array().unwrap() {
                            let element_input = resolve(&state["ItemSelector"], &data, element);
                            results.push(self.run(&state["ItemProcessor"], element_input, element.clone()).await?);
                        }
                        data = apply_result_path(data, state, Value::Array(results));
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

    async fn task(&self, state: &Value, data: &Value, item: &Value) -> Result<Value, Failure> {
        let parameters = resolve(&state["Parameters"], data, item);
        match state["Resource"].as_str().unwrap() {
            WORKER => {
                for attempt in 0..3 {
                    match self.call_worker(&parameters).await {
                        Err((name, _))
                            if attempt < 2
                                && state.get("Retry").is_some_and(|r| {
                                    r.as_array().unwrap().iter().any(|r| matches(&r["ErrorEquals"], &name))
                                })
                                && name != "StoreFailed" =>
                        {
                            continue
                        }
                        other => return other,
                    }
                }
                unreachable!()
            }
            START_SYNC => {
                assert_eq!(parameters["StateMachineArn"], "${TenantSyncStateMachineArn}");
                self.run(&machine("tenant-sync.asl.json"), parameters["Input"].clone(), Value::Null).await
            }
            other => panic!("unknown resource {other}"),
        }
    }

    async fn call_worker(&self, parameters: &Value) -> Result<Value, Failure> {
        self.calls.lock().unwrap().push(parameters.clone());
        if self.fail_action.is_some_and(|a| parameters["action"] == a) {
            return Err(("StoreFailed".into(), "injected failure".into()));
        }
        let input: WorkerInput =
            serde_json::from_value(parameters.clone()).map_err(|e| ("InvalidInput".to_owned(), e.to_string()))?;
        worker::handle(&self.writer, &EventPublisher::Log, input).await.map_err(|e| (e.to_string(), String::new()))
    }
}

async fn driver(fail_action: Option<&'static str>) -> (Driver, Bench, shared::seed::SeedData) {
    let (bench, data) = Bench::seeded().await;
    let writer = Writer::new(bench.store.clone(), Clock::System);
    (Driver { writer, fail_action, calls: Default::default() }, bench, data)
}

#[tokio::test]
async fn the_tenant_sync_succeeds_and_records_the_run() {
    let (driver, bench, data) = driver(None).await;
    let t = &data.tenants[2].tenant.tenant_id;
    let run = record::start(&bench.store, t, "crm", RunOptions::default(), None).await.unwrap();
    let input = json!({ "tenantId": t, "syncId": run.sync_id, "options": { "skipReferenceData": false } });
    let output = driver.run(&machine("tenant-sync.asl.json"), input, Value::Null).await.unwrap();
    assert_eq!(output["finalized"]["status"], "succeeded");
    let actions: Vec<String> =
        driver.calls.lock().unwrap().iter().map(|c| c["action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(actions, ["essential", "reference", "validation", "finalize"]);
    let recorded = record::run(&bench.store, t, &run.sync_id).await.unwrap().unwrap();
    assert_eq!(recorded.status, RunStatus::Succeeded);
    let results = recorded.results.unwrap();
    assert_eq!(
        results.phases.essential.data.user_profiles.count as usize,
        data.tenants[2].users.iter().filter(|u| u.active()).count()
    );
    assert!(output.to_string().len() < 256 * 1024, "state stays small");
    assert!(record::status(&bench.store, t).await.unwrap().current_run.is_none(), "lease released");
}

#[tokio::test]
async fn skipping_reference_data_passes_the_skipped_phase() {
    let (driver, bench, data) = driver(None).await;
    let t = &data.tenants[1].tenant.tenant_id;
    let options = RunOptions { skip_reference_data: true, ..Default::default() };
    let run = record::start(&bench.store, t, "crm", options, None).await.unwrap();
    let input = json!({ "tenantId": t, "syncId": run.sync_id, "options": { "skipReferenceData": true } });
    driver.run(&machine("tenant-sync.asl.json"), input, Value::Null).await.unwrap();
    let actions: Vec<String> =
        driver.calls.lock().unwrap().iter().map(|c| c["action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(actions, ["essential", "validation", "finalize"]);
    let results = record::run(&bench.store, t, &run.sync_id).await.unwrap().unwrap().results.unwrap();
    assert!(results.phases.reference.skipped && results.success);
}

#[tokio::test]
async fn a_failing_task_ends_in_a_failed_run_and_a_free_lease() {
    let (driver, bench, data) = driver(Some("validation")).await;
    let t = &data.tenants[2].tenant.tenant_id;
    let run = record::start(&bench.store, t, "crm", RunOptions::default(), None).await.unwrap();
    let input = json!({ "tenantId": t, "syncId": run.sync_id, "options": { "skipReferenceData": false } });
    let failure = driver.run(&machine("tenant-sync.asl.json"), input, Value::Null).await.unwrap_err();
    assert_eq!(failure.0, "SyncFailed");
    let actions: Vec<String> =
        driver.calls.lock().unwrap().iter().map(|c| c["action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(actions, ["essential", "reference", "validation", "finalizeFailed"]);
    assert_eq!(record::run(&bench.store, t, &run.sync_id).await.unwrap().unwrap().status, RunStatus::Failed);
    assert!(record::start(&bench.store, t, "crm", RunOptions::default(), None).await.is_ok(), "the lease is free");
}

#[tokio::test]
async fn the_scheduled_sync_runs_every_active_tenant_once() {
    let (driver, bench, data) = driver(None).await;
    let output = driver.run(&machine("scheduled-sync.asl.json"), json!({ "next": null }), Value::Null).await.unwrap();
    assert!(output["page"]["next"].is_null());
    for tenant in &data.tenants {
        let status = record::status(&bench.store, &tenant.tenant.tenant_id).await.unwrap();
        if tenant.tenant.active() {
            assert_eq!(status.last_run.map(|r| r.status), Some(RunStatus::Succeeded), "{}", tenant.tenant.company_name);
        } else {
            assert!(status.last_run.is_none(), "inactive tenants are not synced");
        }
    }
    let starts = driver.calls.lock().unwrap().iter().filter(|c| c["action"] == "startScheduledRun").count();
    assert_eq!(starts, data.tenants.iter().filter(|t| t.tenant.active()).count());
}

#[tokio::test]
async fn an_eventbridge_schedule_event_syncs_every_active_tenant_inline() {
    let (driver, bench, data) = driver(None).await;
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/sync-worker/scheduled-event.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(worker::is_scheduled_event(&event));
    assert!(!worker::is_scheduled_event(&json!({ "action": "essential" })));
    let outcome = worker::run_scheduled_inline(&driver.writer, &EventPublisher::Log).await.unwrap();
    let active = data.tenants.iter().filter(|t| t.tenant.active()).count();
    assert_eq!(outcome, json!({ "started": active, "skipped": 0 }));
    for tenant in data.tenants.iter().filter(|t| t.tenant.active()) {
        let status = record::status(&bench.store, &tenant.tenant.tenant_id).await.unwrap();
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
