//! The orchestration end to end on emulated AWS: moto runs the project's state machines (its
//! real execution mode, the template's substitutions applied), their tasks invoke the real
//! `sync-worker` binary under `cargo lambda watch`, and the real `sync-api` binary starts runs
//! with `STATE_MACHINE_ARN`, all against DynamoDB Local. Completed runs reach an SQS queue
//! through an EventBridge rule on moto, and each event's `detail` is checked against
//! `docs/schemas/tenant-sync-completed.schema.json`. The functions reach DynamoDB Local
//! through a proxy that can fail requests, for the machine's retry of `StoreUnavailable`.
//! One test, run once: retry waits and the scheduler's waits run in real time.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use integration_tests::emulator::{register, step_functions, Emulator};
use integration_tests::http::{bench_key, pause, service_keys, Reply, TestIssuer};
use integration_tests::proxy::{Distortion, Proxy};
use integration_tests::watch::{cargo, free_port, function_env, workspace, EnvFile, Watch};
use serde_json::{json, Value};
use shared::auth::dev;
use shared::sync::record::{self, RunOptions, RunStatus};

const NORTHWIND: &str = "2c7d7dac-1dd6-4354-86a4-971df10ddb6a";
const INITECH: &str = "b0603ca7-e204-4f85-8704-740f4fcfa2bc";
const WORKER_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:sync-worker";
const BUS: &str = "app-sync-e2e";

fn eventbridge(url: &str) -> aws_sdk_eventbridge::Client {
    use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

/// One SQS call in its JSON protocol (moto speaks it; no SQS SDK is built for the tests).
async fn sqs(client: &reqwest::Client, url: &str, action: &str, body: Value) -> Value {
    let answer = client
        .post(url)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("AmazonSQS.{action}"))
        // moto routes by the service a signature names; it does not check the signature.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261203/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("SQS {action}: {e}"));
    assert!(answer.status().is_success(), "SQS {action}: {}", answer.status());
    serde_json::from_slice(&answer.bytes().await.expect("an answer")).expect("SQS answers JSON")
}

/// A definition as the template deploys it.
fn definition(name: &str, tenant_sync_arn: &str) -> String {
    std::fs::read_to_string(workspace().join("statemachine").join(name))
        .expect("ASL file")
        .replace("${SyncWorkerArn}", WORKER_ARN)
        .replace("${TenantSyncStateMachineArn}", tenant_sync_arn)
        .replace("${ScheduledSyncConcurrency}", "2")
}

/// A queue that receives what the rule `name` on `bus` (the default bus when `None`) matches
/// with `pattern`; returns the queue's URL.
async fn rule_to_queue(
    events: &aws_sdk_eventbridge::Client,
    http: &reqwest::Client,
    url: &str,
    name: &str,
    bus: Option<&str>,
    pattern: &Value,
) -> String {
    let queue = sqs(http, url, "CreateQueue", json!({ "QueueName": name })).await;
    let queue_url = queue["QueueUrl"].as_str().expect("queue URL").to_owned();
    let attributes =
        sqs(http, url, "GetQueueAttributes", json!({ "QueueUrl": queue_url, "AttributeNames": ["QueueArn"] })).await;
    let rule = events.put_rule().name(name).set_event_bus_name(bus.map(str::to_owned));
    rule.event_pattern(pattern.to_string()).send().await.expect("rule");
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(attributes["Attributes"]["QueueArn"].as_str().expect("queue ARN"))
        .build()
        .expect("a target");
    events
        .put_targets()
        .rule(name)
        .set_event_bus_name(bus.map(str::to_owned))
        .targets(target)
        .send()
        .await
        .expect("target");
    queue_url
}

/// Starts an execution of `state_machine_arn` named `name` and waits for it to close.
async fn execute(
    client: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    name: &str,
    input: &Value,
    within: Duration,
) -> (ExecutionStatus, Vec<HistoryEvent>) {
    client
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: {}", aws_sdk_sfn::error::DisplayErrorContext(&e)));
    finished(client, &execution_arn(state_machine_arn, name), within).await
}

fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!("{}:{name}", state_machine_arn.replace(":stateMachine:", ":execution:"))
}

/// Waits for the execution to close; returns its status and history.
async fn finished(client: &aws_sdk_sfn::Client, arn: &str, within: Duration) -> (ExecutionStatus, Vec<HistoryEvent>) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(described) = client.describe_execution().execution_arn(arn).send().await {
            if described.status() != &ExecutionStatus::Running {
                let history = client.get_execution_history().execution_arn(arn).send().await.expect("history");
                return (described.status().clone(), history.events().to_vec());
            }
        }
        assert!(Instant::now() < deadline, "{arn} still running after {within:?}");
        pause(250).await;
    }
}

/// The names of the states the execution entered, in order.
fn entered(history: &[HistoryEvent]) -> Vec<String> {
    history.iter().filter_map(|e| e.state_entered_event_details()).map(|d| d.name().to_owned()).collect()
}

/// Every (error, cause) a failed task or execution recorded.
fn failures(history: &[HistoryEvent]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for event in history {
        let (error, cause) = match event.r#type() {
            HistoryEventType::LambdaFunctionFailed => {
                let d = event.lambda_function_failed_event_details();
                (d.and_then(|d| d.error()), d.and_then(|d| d.cause()))
            }
            HistoryEventType::TaskFailed => {
                let d = event.task_failed_event_details();
                (d.and_then(|d| d.error()), d.and_then(|d| d.cause()))
            }
            HistoryEventType::ExecutionFailed => {
                let d = event.execution_failed_event_details();
                (d.and_then(|d| d.error()), d.and_then(|d| d.cause()))
            }
            _ => continue,
        };
        out.push((error.unwrap_or_default().to_owned(), cause.unwrap_or_default().to_owned()));
    }
    out
}

fn token(tenant_id: &str) -> String {
    let now = dev::now_seconds();
    let claims =
        json!({ "type": "service_token", "service": "crm", "tenant_id": tenant_id, "iat": now, "exp": now + 900 });
    service_keys().sign("crm", &claims).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_machines_run_the_real_worker_on_emulated_aws() {
    let started = Instant::now();
    for function in ["sync-api", "sync-worker"] {
        let status = cargo().args(["build", "--quiet", "--bin", function]).status();
        assert!(status.is_ok_and(|s| s.success()), "{function} builds");
    }
    let (store, data) = integration_tests::seeded_store().await;
    let issuer = TestIssuer::start(&[&bench_key()]).await;
    let watch_port = free_port();
    let emulator = Emulator::start(watch_port).await;
    let (states, events, http) = (step_functions(&emulator.url), eventbridge(&emulator.url), reqwest::Client::new());

    // Events out: the bus, and a rule sending TenantSyncCompleted to a queue.
    events.create_event_bus().name(BUS).send().await.expect("bus");
    let pattern =
        json!({ "source": [shared::sync::events::SOURCE], "detail-type": [shared::sync::events::DETAIL_TYPE] });
    let queue_url = rule_to_queue(&events, &http, &emulator.url, "sync-completed", Some(BUS), &pattern).await;

    let tenant_sync = register(&states, "tenant-sync", definition("tenant-sync.asl.json", "")).await;
    let scheduler = register(&states, "scheduled-sync", definition("scheduled-sync.asl.json", &tenant_sync)).await;
    // The functions reach DynamoDB Local through a proxy that can fail requests on demand.
    let dynamodb = Proxy::start(Distortion::default()).await;
    let mut env: Vec<String> =
        function_env(&store, &issuer.url)
            .into_iter()
            .map(|line| {
                if line.starts_with("DYNAMODB_ENDPOINT=") {
                    format!("DYNAMODB_ENDPOINT={}", dynamodb.url)
                } else {
                    line
                }
            })
            .collect();
    // Initech (the smallest active tenant) syncs in one task, the others one task per phase.
    let one_task_limit = integration_tests::live_items(&store, INITECH).await;
    env.extend([
        format!("SYNC_ONE_TASK_MAX_ITEMS={one_task_limit}"),
        format!("STATE_MACHINE_ARN={tenant_sync}"),
        format!("STEP_FUNCTIONS_ENDPOINT={}", emulator.url),
        format!("EVENT_BUS_NAME={BUS}"),
        format!("EVENTBRIDGE_ENDPOINT={}", emulator.url),
    ]);
    let env = EnvFile::write(&env.join("\n"));
    let mut watch = Watch::start_on(&env.0, watch_port);
    watch.ready().await;
    let mut completed = Vec::new();

    // A full run through the real sync-api: it starts the execution and waits for it.
    let sync = |query: &'static str| {
        let url = format!("{}/api/sync/tenants/{NORTHWIND}/sync?{query}", watch.url("sync-api"));
        Reply::fetch(http.post(url).bearer_auth(token(NORTHWIND)))
    };
    let full = sync("wait=true").await;
    assert_eq!((full.status, full.body["results"]["success"].as_bool()), (200, Some(true)), "{}", full.text);
    let full_id = full.body["results"]["syncId"].as_str().expect("a syncId").to_owned();
    let (status, history) = finished(&states, &execution_arn(&tenant_sync, &full_id), Duration::from_secs(30)).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(entered(&history), ["Essential", "OneTask?", "SkipReference?", "Reference", "Validation", "Finalize"]);
    completed.push(full_id.clone());

    // skipReferenceData: the Pass state stands in for the reference phase.
    let skipped = sync("wait=true&skipReferenceData=true").await;
    assert_eq!(skipped.status, 200, "{}", skipped.text);
    let skipped_id = skipped.body["results"]["syncId"].as_str().unwrap().to_owned();
    let (_, history) = finished(&states, &execution_arn(&tenant_sync, &skipped_id), Duration::from_secs(30)).await;
    assert_eq!(
        entered(&history),
        ["Essential", "OneTask?", "SkipReference?", "ReferenceSkipped", "Validation", "Finalize"]
    );
    assert_eq!(skipped.body["results"]["phases"]["reference"]["skipped"], json!(true), "{}", skipped.text);
    completed.push(skipped_id);

    // A hard failure: an input the worker refuses (InvalidInput, not retried) goes through
    // FinalizeFailed, which records the run as failed and frees the lease.
    let run = record::start(&store, INITECH, "e2e", RunOptions::default(), None).await.unwrap();
    let bad = json!({ "tenantId": INITECH, "syncId": run.sync_id, "options": { "skipReferenceData": "yes" } });
    let (status, history) = execute(&states, &tenant_sync, &run.sync_id, &bad, Duration::from_secs(60)).await;
    assert_eq!(status, ExecutionStatus::Failed);
    let path = entered(&history);
    assert_eq!(path[path.len() - 2..], ["FinalizeFailed", "Failed"], "{path:?}");
    let errors = failures(&history);
    let invalid = errors.iter().find(|(error, _)| error == "InvalidInput").unwrap_or_else(|| panic!("{errors:?}"));
    assert!(
        invalid.1.contains("skipReferenceData") || invalid.1.contains("boolean"),
        "the cause says why: {invalid:?}"
    );
    assert_eq!(record::run(&store, INITECH, &run.sync_id).await.unwrap().unwrap().status, RunStatus::Failed);
    assert!(record::status(&store, INITECH).await.unwrap().current_run.is_none(), "the lease is free");
    completed.push(run.sync_id.clone());

    // A transient store failure: the worker's three attempts at its first request fail, the
    // task reports StoreUnavailable, and the machine's Retry runs it again after 2 s.
    let retried = record::start(&store, INITECH, "e2e", RunOptions::default(), None).await.unwrap();
    let input = json!({ "tenantId": INITECH, "syncId": retried.sync_id, "options": { "skipReferenceData": true } });
    dynamodb.fail_next(3);
    let (status, history) = execute(&states, &tenant_sync, &retried.sync_id, &input, Duration::from_secs(60)).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{:?}", failures(&history));
    let errors = failures(&history);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "StoreUnavailable");
    assert!(errors[0].1.contains("InternalServerError"), "the message says why: {errors:?}");
    // Initech is within the one-task limit: its essential task ran every phase.
    assert_eq!(entered(&history), ["Essential", "OneTask?", "OneTaskResults", "Finalize"]);
    let results = record::run(&store, INITECH, &retried.sync_id).await.unwrap().unwrap().results.unwrap();
    assert!(results.success && results.phases.reference.skipped, "{:?}", results.phases);
    completed.push(retried.sync_id.clone());

    // A scheduled sync over pages of two: one child execution per active tenant.
    let before = states.list_executions().state_machine_arn(&tenant_sync).send().await.unwrap().executions().len();
    let initial = json!({ "scheduleId": null, "next": null, "count": 0 });
    let (status, history) = execute(&states, &scheduler, "tick-e2e", &initial, Duration::from_secs(180)).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{:?}", failures(&history));
    let active: Vec<&str> =
        data.tenants.iter().filter(|t| t.tenant.active()).map(|t| t.tenant.tenant_id.as_str()).collect();
    let pages = entered(&history).iter().filter(|s| *s == "StartPage").count();
    // moto writes its own history; docs/sync-worker.md counts AWS's documented events.
    let (_, child_history) = finished(&states, &execution_arn(&tenant_sync, &full_id), Duration::from_secs(5)).await;
    println!(
        "moto history events: scheduler {} for {} pages of {} tenants; one tenant sync {}",
        history.len(),
        pages,
        active.len(),
        child_history.len()
    );
    assert_eq!(pages, active.len().div_ceil(2), "{:?}", entered(&history));
    assert!(entered(&history).contains(&"CheckPage".to_owned()), "pages wait for their runs");
    let children = states.list_executions().state_machine_arn(&tenant_sync).send().await.unwrap();
    assert_eq!(children.executions().len() - before, active.len(), "one child execution per active tenant");
    for tenant_id in &active {
        let last = record::status(&store, tenant_id).await.unwrap().last_run.expect("a run");
        assert_eq!((last.principal.as_str(), last.status), ("scheduler", RunStatus::Succeeded), "{tenant_id}");
        completed.push(last.sync_id);
    }

    // Every finished run was announced; each detail matches the published schema.
    let schema_text =
        std::fs::read_to_string(workspace().join("docs/schemas/tenant-sync-completed.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::draft202012::options().should_validate_formats(true).build(&schema).unwrap();
    let mut announced = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while announced.len() < completed.len() && Instant::now() < deadline {
        let received = sqs(
            &http,
            &emulator.url,
            "ReceiveMessage",
            json!({ "QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1 }),
        )
        .await;
        for message in received["Messages"].as_array().into_iter().flatten() {
            let envelope: Value = serde_json::from_str(message["Body"].as_str().unwrap()).unwrap();
            assert_eq!(envelope["detail-type"], shared::sync::events::DETAIL_TYPE);
            let detail = &envelope["detail"];
            let problems: Vec<String> = validator.iter_errors(detail).map(|e| e.to_string()).collect();
            assert!(problems.is_empty(), "{detail}: {problems:?}");
            announced.push((detail["syncId"].as_str().unwrap().to_owned(), detail["status"].clone()));
        }
    }
    for sync_id in &completed {
        assert!(announced.iter().any(|(id, _)| id == sync_id), "{sync_id} was announced: {announced:?}");
    }
    assert!(announced.iter().any(|(id, status)| *id == run.sync_id && status == "failed"), "the failed run too");
    stopped_executions_reach_the_worker_through_the_template_rule(&watch, &store, &emulator.url, &tenant_sync).await;
    println!("emulated suite: {:.1} s", started.elapsed().as_secs_f64());
}

/// The template's `TenantSyncStoppedRule` pattern on moto's default bus, with its target
/// replaced by a queue (moto emits no Step Functions status events and its Lambda targets
/// need Docker): a synthetic status event of a timed-out execution is delivered, a succeeded
/// one is not, and the delivered event, sent to the real worker, frees the run's lease.
async fn stopped_executions_reach_the_worker_through_the_template_rule(
    watch: &Watch,
    store: &shared::store::Store,
    url: &str,
    tenant_sync: &str,
) {
    let (events, http) = (eventbridge(url), reqwest::Client::new());
    let template: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(workspace().join("template.yaml")).unwrap()).unwrap();
    let mut pattern: Value =
        serde_json::to_value(&template["Resources"]["TenantSyncStoppedRule"]["Properties"]["EventPattern"]).unwrap();
    pattern["detail"]["stateMachineArn"] = json!([tenant_sync]);
    let queue_url = rule_to_queue(&events, &http, url, "sync-stopped", None, &pattern).await;

    let run = record::start(store, NORTHWIND, "e2e", RunOptions::default(), None).await.unwrap();
    let input = json!({ "tenantId": NORTHWIND, "syncId": run.sync_id, "options": { "skipReferenceData": false } });
    for status in ["SUCCEEDED", "TIMED_OUT"] {
        let detail = json!({ "executionArn": execution_arn(tenant_sync, &run.sync_id), "stateMachineArn": tenant_sync,
            "name": run.sync_id, "status": status, "input": input.to_string() });
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source("aws.states")
            .detail_type(shared::sync::stopped::STATUS_CHANGE)
            .detail(detail.to_string())
            .build();
        events.put_events().entries(entry).send().await.unwrap();
    }
    let received = sqs(
        &http,
        url,
        "ReceiveMessage",
        json!({ "QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 2 }),
    )
    .await;
    let delivered: Vec<&Value> = received["Messages"].as_array().map(|m| m.iter().collect()).unwrap_or_default();
    assert_eq!(delivered.len(), 1, "only the stop matches: {received}");
    let event = EnvFile::write(delivered[0]["Body"].as_str().unwrap());
    let answer = watch.invoke("sync-worker", &event.0).expect("the worker answers the status event");
    assert_eq!(
        (answer["status"].as_str(), answer["execution"].as_str()),
        (Some("failed"), Some("TIMED_OUT")),
        "{answer}"
    );
    assert!(record::status(store, NORTHWIND).await.unwrap().current_run.is_none(), "the lease is free");
}
