//! Cold start: each function's release binary started under a minimal Lambda Runtime API
//! (served here, on loopback), alternated with a bare `lambda_runtime` hello-world built with
//! the same profile. Per start: *init* is spawn until the first `GET .../invocation/next`
//! (what Lambda reports as Init Duration); *first response* is spawn until the answer to a
//! real first request; the same process then answers warm requests, whose median is
//! subtracted to get the *cold penalty*.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};

use crate::setup::Fixture;
use crate::stats::{ms, ratio, verdict, Samples};

const FUNCTIONS: [&str; 5] = ["tenants-api", "roles-api", "credits-api", "sync-api", "sync-worker"];
const BASELINE: &str = "bench-hello";
/// Where the secrets are in the runtime-secret variants: the variables moved into the secret
/// (the rest stays in the environment).
const SECRET_VARIANTS: [(&str, &[&str]); 2] = [
    ("cursor key (SERVICE_KEYS in env)", &["CURSOR_SIGNING_KEY"]),
    ("cursor key and SERVICE_KEYS", &["CURSOR_SIGNING_KEY", "SERVICE_KEYS"]),
];
/// The variant with the cursor keys in the table and no secret.
const TABLE_VARIANT: &str = "cursor key in the table (SERVICE_KEYS in env, no secret)";
/// A directory of the same functions built from an earlier commit that still took the shared
/// service secret (for example the commit before per-service keys), started in the same rounds
/// with every secret in the environment: the "before" of the runtime-secret change.
const BEFORE_DIR: &str = "COLD_BEFORE_DIR";
/// Warm requests after the first, per start.
const WARM_REQUESTS: usize = 10;

/// One start's figures.
struct Start {
    init: Duration,
    first_response: Duration,
    warm: Samples,
}

/// What the emulated Runtime API shares with its handlers during one start.
struct Trial {
    first_next: OnceLock<Instant>,
    events: Mutex<mpsc::UnboundedReceiver<Value>>,
    answers: mpsc::UnboundedSender<Result<Instant, String>>,
}

/// Where release binaries are (`CARGO_TARGET_DIR` or `target/`).
pub fn release_binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("target"));
    target.join("release").join(name)
}

/// Runs `rounds` alternations per function and prints the table.
pub async fn run(fixture: &Fixture, rounds: usize) -> anyhow::Result<()> {
    for name in FUNCTIONS.iter().chain([&BASELINE]) {
        anyhow::ensure!(release_binary(name).exists(), "build first: cargo build --release -p {name}");
    }
    let before = std::env::var_os(BEFORE_DIR).map(PathBuf::from);
    if let Some(dir) = &before {
        for name in FUNCTIONS.iter().filter(|name| name.ends_with("-api")) {
            anyhow::ensure!(dir.join(name).exists(), "{BEFORE_DIR}: {} has no {name}", dir.display());
        }
    }
    println!("\n## Cold start ({rounds} starts per binary, alternated with {BASELINE})\n");
    println!("| function | stripped size MB | init median ms | hello init ms | init ratio (target 1.5) | first response ms | warm median ms | cold penalty ms | hello spawn-to-response ms | penalty ratio (target 2) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut decomposition = Vec::new();
    let mut variants = Vec::new();
    for (label, secret_names) in SECRET_VARIANTS {
        if let Some(env) = fixture.runtime_secret_env(secret_names).await? {
            variants.push((label, env));
        }
    }
    // The deployed default: the cursor keys from the table's item (created here once, as the
    // first function of a stack does), the services' public keys in the environment, no secret.
    shared::store::Store::new(&fixture.config).cursor_keys_or_create().await?;
    let mut table_env: Vec<(String, String)> =
        fixture.function_env().into_iter().filter(|(name, _)| !name.starts_with("CURSOR_SIGNING_KEY")).collect();
    table_env.push(("CURSOR_KEY_SOURCE".into(), "table".into()));
    variants.push((TABLE_VARIANT, table_env));
    let mut with_secret = Vec::new();
    let mut against_before = Vec::new();
    for function in FUNCTIONS {
        let event = event_for(fixture, function, &fixture.service_token()?)?;
        let before_event = event_for(fixture, function, &fixture.shared_secret_service_token()?)?;
        let (mut before_init, mut before_first) = (Samples::default(), Samples::default());
        let (mut init, mut first, mut warm) = (Samples::default(), Samples::default(), Samples::default());
        let (mut hello_init, mut hello_first) = (Samples::default(), Samples::default());
        let mut secret = vec![(Samples::default(), Samples::default()); variants.len()];
        for _ in 0..rounds {
            let real = start(&release_binary(function), &event, fixture.function_env()).await?;
            init.push(real.init);
            first.push(real.first_response);
            real.warm.values().for_each(|v| warm.push(v));
            for ((_, env), (secret_init, secret_first)) in variants.iter().zip(secret.iter_mut()) {
                if function.ends_with("-api") {
                    let started = start(&release_binary(function), &event, env.clone()).await?;
                    secret_init.push(started.init);
                    secret_first.push(started.first_response);
                }
            }
            if let Some(dir) = before.as_ref().filter(|_| function.ends_with("-api")) {
                let earlier = start(&dir.join(function), &before_event, fixture.shared_secret_env()).await?;
                before_init.push(earlier.init);
                before_first.push(earlier.first_response);
            }
            let hello = start(&release_binary(BASELINE), &json!({ "hello": "world" }), fixture.function_env()).await?;
            hello_init.push(hello.init);
            hello_first.push(hello.first_response);
        }
        if function.ends_with("-api") {
            for ((label, _), (secret_init, secret_first)) in variants.iter().zip(&secret) {
                if before.is_some() {
                    against_before.push((
                        function,
                        *label,
                        [before_init.median(), secret_init.median()],
                        [before_first.median(), first.median(), secret_first.median()],
                    ));
                }
                with_secret.push((
                    function,
                    *label,
                    init.median(),
                    first.median(),
                    secret_init.median(),
                    secret_first.median(),
                ));
            }
        }
        let penalty = first.median().saturating_sub(warm.median());
        let init_ratio = ratio(init.median(), hello_init.median());
        let penalty_ratio = ratio(penalty, hello_first.median());
        decomposition.push((function, in_process_first_request(fixture, function, &event, rounds).await?));
        let size = std::fs::metadata(release_binary(function))?.len() as f64 / 1_048_576.0;
        println!(
            "| {function} | {size:.1} | {} | {} | {init_ratio:.2} ({}) | {} | {} | {} | {} | {penalty_ratio:.2} ({}) |",
            ms(init.median()),
            ms(hello_init.median()),
            verdict(init_ratio, 1.5),
            ms(first.median()),
            ms(warm.median()),
            ms(penalty),
            ms(hello_first.median()),
            verdict(penalty_ratio, 2.0),
        );
    }
    let hello_size = std::fs::metadata(release_binary(BASELINE))?.len() as f64 / 1_048_576.0;
    println!("\n{BASELINE}: stripped size {hello_size:.1} MB.");
    if std::env::var_os("MOTO_ENDPOINT").is_none() {
        println!("\n(No MOTO_ENDPOINT: the Secrets Manager variants were not measured.)");
    }
    {
        println!(
            "\nSecrets read at runtime (Secrets Manager: moto on loopback, APP_SYNC_SECRET_ID; or the cursor keys"
        );
        println!("from the table's item) against every secret in the environment, same binaries, alternated in the rounds above:\n");
        println!("| function | where the secrets are | init, env ms | init, runtime secret ms | first response, env ms | first response, runtime secret ms | ratio (first response) |");
        println!("|---|---|---|---|---|---|---|");
        for (function, label, init, first, secret_init, secret_first) in with_secret {
            println!(
                "| {function} | {label} | {} | {} | {} | {} | {:.2} |",
                ms(init),
                ms(secret_init),
                ms(first),
                ms(secret_first),
                ratio(secret_first, first)
            );
        }
    }
    if !against_before.is_empty() {
        print_against_before(&against_before);
    }
    println!("\nWhere the first request's extra time goes, measured in this process (a new SDK client and");
    println!("empty caches per trial, against the same request again on them):\n");
    println!("| function | first request, new client and caches, median ms | same request again, median ms | difference ms | DynamoDB requests, first | DynamoDB requests, again |");
    println!("|---|---|---|---|---|---|");
    for (function, first) in decomposition {
        println!(
            "| {function} | {} | {} | {} | {} | {} |",
            ms(first.cold.median()),
            ms(first.warm.median()),
            ms(first.cold.median().saturating_sub(first.warm.median())),
            first.cold_requests,
            first.warm_requests
        );
    }
    Ok(())
}

/// The runtime-secret starts against the earlier build's, every figure a median of one run.
fn print_against_before(rows: &[(&str, &str, [Duration; 2], [Duration; 3])]) {
    println!("\nAgainst the earlier build in {BEFORE_DIR} (shared service secret and cursor key in the environment),");
    println!("alternated in the rounds above:\n");
    println!("| function | where the secrets are | init, before ms | init, runtime secret ms | first response, before ms | first response, now with env secrets ms | first response, runtime secret ms | ratio (runtime secret / before) |");
    println!("|---|---|---|---|---|---|---|---|");
    for (function, label, [before_init, init], [before, env, secret]) in rows {
        println!(
            "| {function} | {label} | {} | {} | {} | {} | {} | {:.2} |",
            ms(*before_init),
            ms(*init),
            ms(*before),
            ms(*env),
            ms(*secret),
            ratio(*secret, *before)
        );
    }
}

/// A first request on a fresh client with empty caches, against the same request again.
struct FirstRequest {
    cold: Samples,
    warm: Samples,
    cold_requests: String,
    warm_requests: String,
}

/// What a cold process's first request costs beyond a warm one, without the process start:
/// the same request as the function's event, in this process, on a new store client and new
/// caches each time.
async fn in_process_first_request(
    fixture: &Fixture,
    function: &str,
    event: &Value,
    rounds: usize,
) -> anyhow::Result<FirstRequest> {
    use crate::counting::{counting_store, describe, RequestCounter};
    let mut result = FirstRequest {
        cold: Samples::default(),
        warm: Samples::default(),
        cold_requests: String::new(),
        warm_requests: String::new(),
    };
    for _ in 0..rounds {
        let counter = RequestCounter::default();
        let store = counting_store(&fixture.config, &counter);
        let once = |store: shared::store::Store, app: Option<axum::Router>| async move {
            let started = Instant::now();
            match app {
                Some(app) => {
                    use tower::ServiceExt;
                    let path = event["rawPath"].as_str().unwrap_or_default();
                    let token = event["headers"]["authorization"].as_str().unwrap_or_default();
                    let request =
                        axum::http::Request::get(path).header("authorization", token).body(axum::body::Body::empty())?;
                    let response = app.oneshot(request).await?;
                    anyhow::ensure!(response.status() == 200, "{path}: {}", response.status());
                    http_body_util::BodyExt::collect(response.into_body()).await?;
                }
                None => {
                    shared::store::reader::active_tenant_ids(&store, None, 50).await?;
                }
            }
            Ok::<Duration, anyhow::Error>(started.elapsed())
        };
        let app = if function == "sync-worker" {
            None
        } else {
            let (auth, secrets) = fixture.auth()?;
            let state = shared::api::AppState::new(store.clone(), auth, secrets)
                .with_limits(shared::api::limits::RateLimits::unlimited());
            Some(shared::api::serve(shared::api::all_routes(), state))
        };
        result.cold.push(once(store.clone(), app.clone()).await?);
        result.cold_requests = describe(&counter.take());
        result.warm.push(once(store.clone(), app).await?);
        result.warm_requests = describe(&counter.take());
    }
    Ok(result)
}

/// The first (and every warm) request a function gets: a `users` page through API Gateway
/// v2 for the API functions, `listActiveTenants` for the worker.
fn event_for(fixture: &Fixture, function: &str, token: &str) -> anyhow::Result<Value> {
    if function == "sync-worker" {
        return Ok(json!({ "action": "listActiveTenants", "after": null, "limit": 50 }));
    }
    let tenant = &fixture.tenant().tenant.tenant_id;
    let route = match function {
        "roles-api" => "roles",
        "credits-api" => "entity-credits",
        "sync-api" => "sync/status",
        _ => "users",
    };
    Ok(crate::setup::http_api_event(&format!("/api/sync/tenants/{tenant}/{route}"), "", token))
}

/// Starts `binary` with environment `env` under a fresh emulated Runtime API, sends `event`
/// once cold and `WARM_REQUESTS` times warm, and stops it.
async fn start(binary: &std::path::Path, event: &Value, env: Vec<(String, String)>) -> anyhow::Result<Start> {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (answers_tx, mut answers_rx) = mpsc::unbounded_channel();
    let trial = Arc::new(Trial { first_next: OnceLock::new(), events: Mutex::new(events_rx), answers: answers_tx });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = runtime_api(trial.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let spawned = Instant::now();
    let name = binary.file_name().and_then(|name| name.to_str()).unwrap_or("function");
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(env)
        .envs(lambda_env(name, &address.to_string()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    events_tx.send(event.clone())?;
    let answered = wait_answer(&mut answers_rx).await?;
    let init = trial.first_next.get().map(|at| *at - spawned).unwrap_or_default();
    let mut warm = Samples::default();
    for _ in 0..WARM_REQUESTS {
        let sent = Instant::now();
        events_tx.send(event.clone())?;
        warm.push(wait_answer(&mut answers_rx).await? - sent);
    }
    child.kill().await?;
    server.abort();
    Ok(Start { init, first_response: answered - spawned, warm })
}

async fn wait_answer(answers: &mut mpsc::UnboundedReceiver<Result<Instant, String>>) -> anyhow::Result<Instant> {
    match tokio::time::timeout(Duration::from_secs(30), answers.recv()).await {
        Ok(Some(Ok(at))) => Ok(at),
        Ok(Some(Err(error))) => anyhow::bail!("the function reported an error: {error}"),
        Ok(None) | Err(_) => anyhow::bail!("no answer within 30 s"),
    }
}

/// The variables Lambda sets for a function.
fn lambda_env(function: &str, runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "bench"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The part of the Lambda Runtime API a function uses.
fn runtime_api(trial: Arc<Trial>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_event))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(answered))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(failed))
        .route("/2018-06-01/runtime/init/error", post(failed_init))
        .with_state(trial)
}

async fn next_event(State(trial): State<Arc<Trial>>) -> axum::response::Response {
    trial.first_next.get_or_init(Instant::now);
    let Some(event) = trial.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
        + Duration::from_secs(30);
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", HeaderValue::from_static("bench-request"));
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline.as_millis() as u64));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    headers.insert("lambda-runtime-trace-id", HeaderValue::from_static("Root=1-00000000-000000000000000000000000"));
    (headers, axum::Json(event)).into_response()
}

/// Records the answer's time; an API Gateway answer other than 200 fails the start, so a
/// refused or failed request is never timed as a response.
async fn answered(State(trial): State<Arc<Trial>>, Path(_id): Path<String>, body: String) -> StatusCode {
    let at = Instant::now();
    let status = serde_json::from_str::<Value>(&body).ok().and_then(|answer| answer["statusCode"].as_u64());
    let _ = trial.answers.send(match status {
        Some(status) if status != 200 => Err(format!("answered {status}")),
        _ => Ok(at),
    });
    StatusCode::ACCEPTED
}

async fn failed(State(trial): State<Arc<Trial>>, Path(_id): Path<String>, body: String) -> StatusCode {
    let _ = trial.answers.send(Err(body));
    StatusCode::ACCEPTED
}

async fn failed_init(State(trial): State<Arc<Trial>>, body: String) -> StatusCode {
    let _ = trial.answers.send(Err(format!("init: {body}")));
    StatusCode::ACCEPTED
}
