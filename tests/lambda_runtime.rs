//! The function binaries on the real Lambda runtime. `cargo lambda watch` (cargo lambda's
//! emulation of the Lambda control plane) runs all six functions against a seeded DynamoDB
//! Local; every file in `events/` is invoked, as it is, with `cargo lambda invoke`; and HTTP
//! requests with real tokens go through cargo lambda's function-URL emulation. Needs
//! `cargo-lambda` on the PATH (`scripts/test.sh` installs it).

use std::path::{Path, PathBuf};

use integration_tests::contract;
use integration_tests::http::{bench_key, service_keys, Reply, TestIssuer};
use integration_tests::watch::{cargo, function_env, workspace, EnvFile, Watch};
use serde_json::{json, Value};
use shared::auth::dev;
use shared::store::Store;
use shared::sync::record::{self, RunOptions};

const NORTHWIND: &str = "2c7d7dac-1dd6-4354-86a4-971df10ddb6a";
const NORTHWIND_ORG: &str = "org_7713cb18f2e";
const INITECH: &str = "b0603ca7-e204-4f85-8704-740f4fcfa2bc";
/// The run the phase events in `events/sync-worker/` name.
const EVENT_RUN: &str = "01JPB6Q3Z8N4V7K2XWQ5R9T0DM";
/// The run `events/sync-worker/finalize.json` names.
const FINALIZE_RUN: &str = "01JPB6Q3Z8N4V7K2XWQ5R9T0DN";
const FUNCTIONS: [&str; 6] = ["tenants-api", "roles-api", "credits-api", "sync-api", "sync-worker", "ingest"];

fn env_file(store: &Store, issuer: &str) -> EnvFile {
    EnvFile::write(&function_env(store, issuer).join("\n"))
}

/// A crm service token for Northwind, signed with the test's development service keys.
fn northwind_token() -> String {
    let now = dev::now_seconds();
    let claims =
        json!({ "type": "service_token", "service": "crm", "tenant_id": NORTHWIND, "iat": now, "exp": now + 600 });
    service_keys().sign("crm", &claims).unwrap()
}

fn event_files(function: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("events").join(function))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Method and path of an API Gateway event (v2 or v1).
fn request_of(event: &Value) -> (String, String) {
    match event["version"].as_str() {
        Some("2.0") => (
            event["requestContext"]["http"]["method"].as_str().unwrap().to_owned(),
            event["rawPath"].as_str().unwrap().to_owned(),
        ),
        _ => (event["httpMethod"].as_str().unwrap().to_owned(), event["path"].as_str().unwrap().to_owned()),
    }
}

/// Checks an API function's answer to an event against `docs/openapi.yaml`.
fn check_api_answer(file: &Path, event: &Value, answer: &Value) {
    let (method, path) = request_of(event);
    let status = answer["statusCode"].as_u64().unwrap_or_default() as u16;
    assert_eq!(status, 200, "{}: {answer}", file.display());
    // v2 answers carry `headers`; v1 answers may carry only `multiValueHeaders`.
    let mut headers = reqwest::header::HeaderMap::new();
    let single = answer["headers"].as_object().into_iter().flatten().map(|(n, v)| (n, v.as_str()));
    let multi = answer["multiValueHeaders"].as_object().into_iter().flatten().map(|(n, v)| (n, v[0].as_str()));
    for (name, value) in single.chain(multi) {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
        headers.insert(name, value.unwrap_or_default().parse().unwrap());
    }
    let body = answer["body"].as_str().unwrap_or_default();
    contract::check(&method, &path, status, &headers, body.as_bytes());
    assert_eq!(
        headers.get("x-request-id").and_then(|v| v.to_str().ok()),
        event["headers"]["x-request-id"].as_str(),
        "{}: the event's request id is used",
        file.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_answer_every_sample_event_and_http_on_the_lambda_runtime() {
    // Built the way watch builds them (`cargo run --bin <function>`, each with its own
    // package's features), so the first invocations do not wait on a compiler.
    for function in FUNCTIONS {
        let status = cargo().args(["build", "--quiet", "--bin", function]).status();
        assert!(status.is_ok_and(|s| s.success()), "{function} builds");
    }
    let (store, _) = integration_tests::seeded_store().await;
    let key = bench_key();
    let issuer = TestIssuer::start(&[&key]).await;
    let env = env_file(&store, &issuer.url);
    let mut watch = Watch::start(&env.0);
    watch.ready().await;

    // API functions: every event file, with a fresh token for the placeholder.
    let token = northwind_token();
    let mut api_events = 0;
    for function in &FUNCTIONS[..4] {
        for file in event_files(function) {
            let text = std::fs::read_to_string(&file).unwrap().replace("${SERVICE_TOKEN}", &token);
            let event: Value = serde_json::from_str(&text).unwrap();
            let filled = EnvFile::write(&text);
            let answer = watch.invoke(function, &filled.0).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            check_api_answer(&file, &event, &answer);
            api_events += 1;
        }
    }
    assert!(api_events >= 16, "one event per route at least");

    worker_events_run_a_sync(&watch, &store).await;
    ingest_batch_applies_and_names_the_failed_message(&watch, &store).await;
    ingest_applies_a_change_posted_over_http(&watch);

    // HTTP through the function-URL emulation, with real tokens.
    let client = reqwest::Client::new();
    let service = northwind_token();
    let kinde = key
        .sign(&json!({ "iss": issuer.url, "aud": dev::DEV_KINDE_AUDIENCE, "sub": "kp_e2e", "org_code": NORTHWIND_ORG,
            "exp": dev::now_seconds() + 300 }))
        .unwrap();
    let users = format!("{}/api/sync/tenants/{NORTHWIND}/users?limit=50", watch.url("tenants-api"));
    let first = Reply::fetch(client.get(&users).bearer_auth(&service)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let total = first.body["pagination"]["total"].as_u64().unwrap();
    let mut seen = first.body["data"].as_array().unwrap().len() as u64;
    let mut cursor = first.body["pagination"]["nextCursor"].as_str().map(str::to_owned);
    while let Some(next) = cursor {
        let page = Reply::fetch(client.get(format!("{users}&cursor={next}")).bearer_auth(&kinde)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        seen += page.body["data"].as_array().unwrap().len() as u64;
        cursor = page.body["pagination"]["nextCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, total, "a cursor walk (service token, then Kinde token) returns every user once");
    let alias = format!("{}/api/wrapper/tenants/{NORTHWIND_ORG}/roles", watch.url("roles-api"));
    assert_eq!(Reply::fetch(client.get(&alias).bearer_auth(&kinde)).await.status, 200);
    let other = format!("{}/api/sync/tenants/{INITECH}/entity-credits", watch.url("credits-api"));
    assert_eq!(Reply::fetch(client.get(&other).bearer_auth(&service)).await.status, 403);
    let catch_all = watch.url("sync-api");
    assert_eq!(
        Reply::fetch(client.head(format!("{catch_all}/api/sync/tenants/{NORTHWIND}")).bearer_auth(&service))
            .await
            .status,
        200
    );
    assert_eq!(
        Reply::fetch(client.post(format!("{catch_all}/api/sync/tenants/{NORTHWIND}/users")).bearer_auth(&service))
            .await
            .status,
        405
    );
    assert_eq!(Reply::fetch(client.get(format!("{catch_all}/api/api/wrapper/tenants"))).await.status, 404);
    let sync =
        Reply::fetch(client.post(format!("{catch_all}/api/sync/tenants/{NORTHWIND}/sync")).bearer_auth(&service)).await;
    assert_eq!((sync.status, sync.body["results"]["success"].as_bool()), (200, Some(true)), "{}", sync.text);
}

/// `events/ingest/changes.http-api.json`, with a Northwind write token: the ingest function
/// serves the change route too, and the change is applied once.
fn ingest_applies_a_change_posted_over_http(watch: &Watch) {
    let file = workspace().join("events/ingest/changes.http-api.json");
    let now = dev::now_seconds();
    let claims = json!({ "type": "service_token", "service": "wrapper", "tenant_id": NORTHWIND,
        "permissions": ["platform:write"], "iat": now, "exp": now + 600 });
    let token = service_keys().sign("wrapper", &claims).unwrap();
    let text = std::fs::read_to_string(&file).unwrap().replace("${WRITE_TOKEN}", &token);
    let event: Value = serde_json::from_str(&text).unwrap();
    let filled = EnvFile::write(&text);
    let outcomes: Vec<String> = (0..2)
        .map(|_| {
            let answer = watch.invoke("ingest", &filled.0).unwrap_or_else(|e| panic!("changes.http-api.json: {e}"));
            check_api_answer(&file, &event, &answer);
            let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default()).unwrap();
            body["results"][0]["outcome"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(outcomes, ["applied", "stale"], "applied once, then the same version is stale");
}

/// `events/ingest/sqs-batch.json`: the user it creates and renames is stored renamed, and the
/// malformed message alone comes back.
async fn ingest_batch_applies_and_names_the_failed_message(watch: &Watch, store: &Store) {
    let file = workspace().join("events/ingest/sqs-batch.json");
    let answer = watch.invoke("ingest", &file).unwrap_or_else(|e| panic!("sqs-batch.json: {e}"));
    assert_eq!(answer, json!({ "batchItemFailures": [{ "itemIdentifier": "00000003-sample" }] }));
    let item =
        shared::store::reader::get_item(store, shared::store::keys::tenant_pk(NORTHWIND), "USER#sample-ingest-user")
            .await
            .unwrap()
            .expect("the sample user is stored");
    let last_name = item["rec"].as_m().ok().and_then(|rec| rec.get("lastName")).and_then(|v| v.as_s().ok());
    assert_eq!(last_name.map(String::as_str), Some("Renamed"), "the EventBridge event's newer version won");
}

/// The worker's events, as they are, in the order a run uses them.
async fn worker_events_run_a_sync(watch: &Watch, store: &Store) {
    let file = |name: &str| workspace().join("events/sync-worker").join(name);
    let invoke = |name: &str| watch.invoke("sync-worker", &file(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let plant = |tenant: &'static str, sync_id: &'static str| async move {
        record::start_as(store, tenant, sync_id, "events", RunOptions::default(), None)
            .await
            .unwrap_or_else(|_| panic!("run {sync_id} starts"));
    };

    let listed = invoke("list-active-tenants.json");
    let ids: Vec<&str> = listed["tenantIds"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(ids.contains(&NORTHWIND) && ids.contains(&INITECH), "{listed}");

    plant(INITECH, EVENT_RUN).await;
    let essential = invoke("essential.json");
    assert_eq!((essential["success"].as_bool(), essential["data"]["tenant"]["count"].as_u64()), (Some(true), Some(1)));
    let reference = invoke("reference.json");
    assert_eq!(reference["success"], json!(true), "{reference}");
    assert_eq!(reference["data"].as_object().map(|d| d.len()), Some(6));
    let validation = invoke("validation.json");
    assert!(validation["validation"]["completeness"].is_u64(), "{validation}");
    let failed = invoke("finalize-failed.json");
    assert_eq!(failed, json!({ "syncId": EVENT_RUN, "status": "failed" }));
    let gone = watch.invoke("sync-worker", &file("essential.json"));
    assert!(gone.is_err_and(|e| e.contains("RunSuperseded")), "a finished run's phases are refused");

    plant(NORTHWIND, FINALIZE_RUN).await;
    let finalized = invoke("finalize.json");
    assert_eq!(finalized, json!({ "syncId": FINALIZE_RUN, "status": "succeeded" }));

    let stopped = invoke("execution-failed.json");
    assert_eq!(stopped["alreadyFinished"], json!(true), "the failed run stays as it is: {stopped}");

    let begun = invoke("begin-schedule.json");
    assert_eq!(begun, json!({ "scheduleId": "sample-schedule", "proceed": true }));
    let ended = invoke("end-schedule.json");
    assert_eq!(ended, json!({ "scheduleId": "sample-schedule", "released": true }));
    record::start(store, INITECH, "events", RunOptions::default(), None).await.expect("a live run holds Initech");
    let scheduled = invoke("scheduled-event.json");
    assert!(scheduled["started"].as_u64().is_some_and(|n| n >= 1), "{scheduled}");
    assert!(scheduled["skipped"].as_u64().is_some_and(|n| n >= 1), "Initech's run holds it: {scheduled}");
}
