//! Ingestion: changes per second through the ingest handler against a baseline that sends
//! the very same DynamoDB requests directly, bulk onboarding (`import --bulk`) against raw
//! `BatchWriteItem` of the same items, and the time from the handler's receipt of a change to
//! its appearance in an incremental pull.
//!
//! The baseline is exact rather than modelled: while the handler runs, an SDK interceptor
//! records every request it sends (headers and body) and every answer's status; the table is
//! then recreated with the same name and the same data, and the recorded requests are sent
//! again in the same order over plain HTTP. The handler runs its messages one at a time, so
//! the replay meets the same table states and must get the same statuses (checked), and must
//! leave the table with as many items as the handler did (checked: a transaction replayed with
//! its recorded idempotency token is answered from DynamoDB's cache without writing, so each
//! replay sends fresh tokens). What the ratio measures is everything the handler adds:
//! parsing, planning, SDK serialization and signing, response decoding.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use serde_json::{json, Value};
use shared::api::{self, AppState};
use shared::ingest::queue::{self, SqsBatch, SqsMessage};
use shared::store::bulk::TenantDataset;
use shared::store::writer::{Clock, Writer};
use shared::store::{bulk, table, Store};

use crate::counting;
use crate::setup::{self, fresh_table, Fixture};
use crate::stats::{ms, ratio, Samples};

/// Messages per SQS batch, as the event source mapping's default batch size.
const BATCH: usize = 10;

/// Runs the three ingestion figures and prints their tables.
pub async fn run(changes: usize, rounds: usize, users: usize) -> anyhow::Result<()> {
    throughput(changes, rounds).await?;
    latency(200).await?;
    onboarding(users).await
}

/// One recorded request: the SDK's input, the HTTP request it became, and the status its
/// answer had.
#[derive(Debug, Clone, Default)]
struct Recorded {
    input: Option<SdkInput>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    status: Option<u16>,
    /// When the SDK took the input, and how long until the answer arrived.
    started: Option<Instant>,
    took: Option<Duration>,
}

/// The inputs of the operations the writer sends.
// Recorded once and replayed once each: their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum SdkInput {
    Get(GetItemInput),
    Query(QueryInput),
    BatchGet(BatchGetItemInput),
    Transact(TransactWriteItemsInput),
}

impl SdkInput {
    /// Sends the same operation with the SDK; whether it succeeded.
    async fn send(self, client: &aws_sdk_dynamodb::Client) -> bool {
        match self {
            Self::Get(i) => client
                .get_item()
                .set_table_name(i.table_name)
                .set_key(i.key)
                .set_attributes_to_get(i.attributes_to_get)
                .set_consistent_read(i.consistent_read)
                .set_return_consumed_capacity(i.return_consumed_capacity)
                .set_projection_expression(i.projection_expression)
                .set_expression_attribute_names(i.expression_attribute_names)
                .send()
                .await
                .is_ok(),
            Self::Query(i) => client
                .query()
                .set_table_name(i.table_name)
                .set_index_name(i.index_name)
                .set_select(i.select)
                .set_attributes_to_get(i.attributes_to_get)
                .set_limit(i.limit)
                .set_consistent_read(i.consistent_read)
                .set_key_conditions(i.key_conditions)
                .set_query_filter(i.query_filter)
                .set_conditional_operator(i.conditional_operator)
                .set_scan_index_forward(i.scan_index_forward)
                .set_exclusive_start_key(i.exclusive_start_key)
                .set_return_consumed_capacity(i.return_consumed_capacity)
                .set_projection_expression(i.projection_expression)
                .set_filter_expression(i.filter_expression)
                .set_key_condition_expression(i.key_condition_expression)
                .set_expression_attribute_names(i.expression_attribute_names)
                .set_expression_attribute_values(i.expression_attribute_values)
                .send()
                .await
                .is_ok(),
            Self::BatchGet(i) => client
                .batch_get_item()
                .set_request_items(i.request_items)
                .set_return_consumed_capacity(i.return_consumed_capacity)
                .send()
                .await
                .is_ok(),
            Self::Transact(i) => client
                .transact_write_items()
                .set_transact_items(i.transact_items)
                .set_return_consumed_capacity(i.return_consumed_capacity)
                .set_return_item_collection_metrics(i.return_item_collection_metrics)
                // A fresh token, as the handler's own send gets: DynamoDB (Local too) answers a
                // repeated token from its idempotency cache without writing, across a recreated
                // table, which made an earlier baseline skip every write.
                .set_client_request_token(None)
                .send()
                .await
                .is_ok(),
        }
    }
}

/// Records every request a client sends, in order, with its answer's status.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Recorded>>>);

impl Recorder {
    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let input = None
            .or_else(|| input.downcast_ref::<GetItemInput>().cloned().map(SdkInput::Get))
            .or_else(|| input.downcast_ref::<QueryInput>().cloned().map(SdkInput::Query))
            .or_else(|| input.downcast_ref::<BatchGetItemInput>().cloned().map(SdkInput::BatchGet))
            .or_else(|| input.downcast_ref::<TransactWriteItemsInput>().cloned().map(SdkInput::Transact));
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(Recorded {
            input,
            started: Some(Instant::now()),
            ..Recorded::default()
        });
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let headers = request
            .headers()
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let body = request.body().bytes().unwrap_or_default().to_vec();
        if let Some(last) = self.0.lock().unwrap_or_else(|p| p.into_inner()).last_mut() {
            (last.headers, last.body) = (headers, body);
        }
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let status = context.response().status().as_u16();
        if let Some(last) = self.0.lock().unwrap_or_else(|p| p.into_inner()).last_mut() {
            last.status = Some(status);
            last.took = last.started.map(|at| at.elapsed());
        }
        Ok(())
    }
}

/// A mixed change history for `tenant`: renames of existing users, new users and their
/// memberships, entity renames (which cascade into memberships) and membership deletes.
fn change_bodies(tenant: &TenantDataset, count: usize) -> Vec<String> {
    let t = tenant.tenant.tenant_id.as_str();
    let new_user = |i: usize| format!("u-bench-{i}");
    let membership_of = |i: usize| {
        let mut m = tenant.memberships[0].clone();
        m.membership_id = format!("m-bench-{i}");
        m.user_id = new_user(i - 2);
        m.entity_id = tenant.entities[i % tenant.entities.len()].entity_id.clone();
        m.is_primary = Some(false);
        m.employee_id = None;
        m
    };
    (0..count)
        .map(|i| {
            let version = i as u64 + 1;
            let (kind, op, body) = match i % 10 {
                0..=3 => {
                    let mut user = tenant.users[i % tenant.users.len()].clone();
                    user.last_name = Some(format!("Bench-{i}"));
                    ("user", "upsert", json!({ "record": user }))
                }
                4 | 5 => {
                    let mut user = tenant.users[i % tenant.users.len()].clone();
                    (user.user_id, user.email, user.kinde_user_id) =
                        (new_user(i), format!("bench-{i}@bench.example"), None);
                    ("user", "upsert", json!({ "record": user }))
                }
                6 | 7 => ("membership", "upsert", json!({ "record": membership_of(i) })),
                8 => {
                    let mut entity = tenant.entities[i % tenant.entities.len()].clone();
                    entity.entity_name = format!("Bench {i}");
                    ("entity", "upsert", json!({ "record": entity }))
                }
                _ => {
                    let m = membership_of(i - 3);
                    let key = json!({ "membershipId": m.membership_id, "userId": m.user_id, "entityId": m.entity_id });
                    ("membership", "delete", json!({ "key": key }))
                }
            };
            let mut change = json!({ "changeId": format!("bench-{i}"), "type": kind, "op": op, "tenantId": t,
                "sourceVersion": version });
            change.as_object_mut().expect("an object").extend(body.as_object().expect("an object").clone());
            change.to_string()
        })
        .collect()
}

/// Sends `bodies` through the SQS handler in batches of [`BATCH`], one batch after the other.
async fn through_handler(writer: &Writer, bodies: &[String]) -> anyhow::Result<Duration> {
    let audit = shared::audit::AuditLog::new(writer.store().clone(), shared::audit::DEFAULT_RETENTION_DAYS);
    let started = Instant::now();
    for (n, chunk) in bodies.chunks(BATCH).enumerate() {
        let records = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| SqsMessage { message_id: format!("{n}-{i}"), body: body.clone() })
            .collect();
        let answer = queue::handle_batch(writer, &audit, SqsBatch { records }).await;
        anyhow::ensure!(answer.batch_item_failures.is_empty(), "messages failed: {:?}", answer.batch_item_failures);
    }
    Ok(started.elapsed())
}

/// Sends the recorded requests again, in order, over plain HTTP; checks each status.
async fn replay(endpoint: &str, requests: &[Recorded]) -> anyhow::Result<Duration> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let replay = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros();
    for (n, request) in requests.iter().enumerate() {
        let mut builder = client.post(endpoint).body(fresh_token(&request.body, &format!("{replay:x}-{n}")));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        anyhow::ensure!(Some(status) == request.status, "request {n}: {status}, recorded {:?}", request.status);
    }
    Ok(started.elapsed())
}

/// `body` with its `ClientRequestToken` (a transaction's idempotency token) replaced by
/// `token`: a replayed token would be answered from DynamoDB's idempotency cache without
/// writing anything. DynamoDB Local does not check the signature the body no longer matches.
fn fresh_token(body: &[u8], token: &str) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut operation)) if operation.contains_key("ClientRequestToken") => {
            operation.insert("ClientRequestToken".into(), Value::String(token.to_owned()));
            Value::Object(operation).to_string().into_bytes()
        }
        _ => body.to_vec(),
    }
}

/// Sends the recorded operations again, in order, with the SDK (a client without the
/// recorder); checks that each succeeds or fails as it did.
async fn replay_sdk(store: &Store, requests: &[Recorded]) -> anyhow::Result<Duration> {
    let inputs: Vec<(SdkInput, bool)> = requests
        .iter()
        .map(|r| {
            Ok((
                r.input.clone().ok_or_else(|| anyhow::anyhow!("an operation the replay does not know"))?,
                r.status == Some(200),
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let client = store.client();
    let started = Instant::now();
    for (n, (input, succeeded)) in inputs.into_iter().enumerate() {
        let ok = input.send(client).await;
        anyhow::ensure!(ok == succeeded, "operation {n}: succeeded {ok}, recorded {succeeded}");
    }
    Ok(started.elapsed())
}

/// A table named `name`, empty, then loaded with the platform data and `tenant`.
async fn reset(store: &Store, data: &shared::seed::SeedData, tenant: &TenantDataset) -> anyhow::Result<()> {
    let _ = table::delete(store).await;
    table::create(store).await?;
    let at = shared::seed::seed_clock();
    bulk::load_platform(store, &data.platform, at).await?;
    bulk::load_tenant(store, tenant, at, &|_| {}).await?;
    Ok(())
}

/// How many items the table holds (a consistent scan).
async fn item_count(store: &Store) -> anyhow::Result<i64> {
    let mut pages = store
        .client()
        .scan()
        .table_name(store.table())
        .select(aws_sdk_dynamodb::types::Select::Count)
        .consistent_read(true)
        .into_paginator()
        .send();
    let mut count = 0;
    while let Some(page) = pages.next().await {
        count += i64::from(page?.count);
    }
    Ok(count)
}

/// Fails unless the table holds `expected` items after `path`: a replay whose writes did not
/// happen (all its answers can still be 200) would otherwise look like a fast baseline.
async fn same_items(store: &Store, expected: i64, path: &str) -> anyhow::Result<()> {
    let count = item_count(store).await?;
    anyhow::ensure!(count == expected, "{path} left {count} items, the handler {expected}");
    Ok(())
}

/// Wall and CPU time of one way of applying the changes, over the measured rounds.
#[derive(Default)]
struct Path {
    wall: Samples,
    cpu: Duration,
}

impl Path {
    /// Runs `run`, recording its wall time (which it returns) and this process's CPU time.
    async fn time(
        &mut self,
        measured: bool,
        run: impl std::future::Future<Output = anyhow::Result<Duration>>,
    ) -> anyhow::Result<()> {
        let cpu = process_cpu();
        let wall = run.await?;
        if measured {
            self.wall.push(wall);
            self.cpu += process_cpu() - cpu;
        }
        Ok(())
    }
}

async fn throughput(count: usize, rounds: usize) -> anyhow::Result<()> {
    let data = setup::generate(None);
    let tenant = data.tenants.first().expect("a demo tenant").clone();
    let bodies = change_bodies(&tenant, count);
    let (config, _) = fresh_table("ingest").await?;
    let recorder = Recorder::default();
    let store = Store::with_client_config(&config, |builder| builder.interceptor(recorder.clone()));
    let plain = Store::new(&config);
    // The loads between runs go through a client of their own, so each measured client's
    // connection pool holds only what its own run opened.
    let loader = Store::new(&config);
    let endpoint = config.endpoint.clone().unwrap_or_default();
    let (mut handler, mut sdk, mut http) = (Path::default(), Path::default(), Path::default());
    let mut recorded = Vec::new();
    let mut recording_took = Duration::ZERO;
    // One warm-up round each way (connections, caches), then the measured alternations.
    for round in 0..=rounds {
        // The recording run gives the operations the replays send; the measured handler runs
        // on a client without the recorder, whose copying would be charged to the handler.
        reset(&loader, &data, &tenant).await?;
        recording_took = through_handler(&Writer::new(store.clone(), Clock::System), &bodies).await?;
        recorded = recorder.take();
        reset(&loader, &data, &tenant).await?;
        let measured = Store::new(&config);
        handler.time(round > 0, through_handler(&Writer::new(measured, Clock::System), &bodies)).await?;
        let expected = item_count(&loader).await?;
        reset(&loader, &data, &tenant).await?;
        sdk.time(round > 0, replay_sdk(&plain, &recorded)).await?;
        same_items(&loader, expected, "the SDK replay").await?;
        reset(&loader, &data, &tenant).await?;
        http.time(round > 0, replay(&endpoint, &recorded)).await?;
        same_items(&loader, expected, "the HTTP replay").await?;
    }
    let _ = table::delete(&store).await;
    let h = handler.wall.median();
    println!("\n## Ingest throughput\n");
    println!(
        "{count} changes (users renamed and created, memberships created and deleted, entities renamed) for one demo \
         tenant, in SQS batches of {BATCH} through `queue::handle_batch`, one message at a time as one function instance \
         applies them. The baseline sends the same {} DynamoDB requests ({}) in the same order with the SDK; the floor \
         sends them as recorded over plain HTTP. Medians of {rounds} alternations; CPU is this process's (user and \
         system, /proc/self/stat) per change.\n",
        recorded.len(),
        counting::describe(&operation_counts(&recorded))
    );
    println!("| path | median s | changes/s | CPU ms per change | ratio (throughput to the baseline) | target |");
    println!("|---|---|---|---|---|---|");
    let per_change = |path: &Path| ms(path.cpu / (count * rounds.max(1)) as u32);
    let per_second = |took: Duration| count as f64 / took.as_secs_f64();
    for (name, path, target) in [
        ("ingest handler", &handler, true),
        ("baseline: the same requests with the SDK", &sdk, false),
        ("floor: the same requests over plain HTTP", &http, false),
    ] {
        let median = path.wall.median();
        let r = ratio(sdk.wall.median(), median);
        let verdict = if target { format!("0.8 ({})", at_least(r, 0.8)) } else { String::new() };
        println!(
            "| {name} | {:.2} | {:.0} | {} | {r:.2} | {verdict} |",
            median.as_secs_f64(),
            per_second(median),
            per_change(path)
        );
    }
    println!(
        "\nRuns (s): handler {}, SDK {}, HTTP {}. Handler against the floor: {:.2}. Answers that were errors \
         (cancelled transactions, failed conditions): {}.",
        seconds(handler.wall.values()),
        seconds(sdk.wall.values()),
        seconds(http.wall.values()),
        ratio(http.wall.median(), h),
        recorded.iter().filter(|r| r.status != Some(200)).count()
    );
    let in_sdk: Duration = recorded.iter().filter_map(|r| r.took).sum();
    println!(
        "In the last recording run, the handler's {} SDK operations took {:.2} s from taking their input to their \
         answer's arrival, in a run of {:.2} s (the SDK replay of the same operations: {:.2} s in all).",
        recorded.len(),
        in_sdk.as_secs_f64(),
        recording_took.as_secs_f64(),
        sdk.wall.values().last().unwrap_or_default().as_secs_f64()
    );
    Ok(())
}

/// CPU time (user and system) this process has used so far, from `/proc/self/stat` (Linux,
/// in clock ticks of 10 ms); zero where it cannot be read.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn operation_counts(requests: &[Recorded]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for request in requests {
        let target = request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("x-amz-target"));
        *counts.entry(counting::operation(target.map(|(_, v)| v.as_str())).to_owned()).or_default() += 1;
    }
    counts
}

fn seconds(values: impl Iterator<Item = Duration>) -> String {
    values.map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>().join(", ")
}

/// `met` when `value` is at least `target`.
fn at_least(value: f64, target: f64) -> &'static str {
    if value >= target {
        "met"
    } else {
        "MISSED"
    }
}

/// A consumer polls incremental pulls as fast as it can while renames arrive through the
/// handler every 20 ms; each rename's latency runs from just before the handler receives it to
/// the end of the first pull that shows it.
async fn latency(renames: usize) -> anyhow::Result<()> {
    let (config, store) = fresh_table("lag").await?;
    let data = setup::generate(None);
    setup::load(&store, &data).await?;
    let fixture = Fixture::over(config, data).await?;
    let tenant = fixture.tenant().clone();
    let (auth, cursors) = fixture.auth()?;
    let state = AppState::new(store.clone(), auth, cursors).with_limits(shared::api::limits::RateLimits::unlimited());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/api/sync/tenants/{}/users", listener.local_addr()?, tenant.tenant.tenant_id);
    tokio::spawn(async move { axum::serve(listener, api::serve(api::all_routes(), state)).await });
    let token = fixture.service_token()?;

    let expected: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = tokio::spawn(poll(base, token, expected.clone(), done.clone()));
    let writer = Writer::new(store.clone(), Clock::System);
    let audit = shared::audit::AuditLog::new(store.clone(), shared::audit::DEFAULT_RETENTION_DAYS);
    let users = &tenant.users[..tenant.users.len().min(100)];
    let t = tenant.tenant.tenant_id.clone();
    for k in 0..renames {
        let mut user = users[k % users.len()].clone();
        let name = format!("Lag-{k}");
        user.last_name = Some(name.clone());
        let body = json!({ "changeId": format!("lag-{k}"), "type": "user", "tenantId": t,
            "sourceVersion": 1_000_000 + k as u64, "record": user })
        .to_string();
        expected.lock().unwrap_or_else(|p| p.into_inner()).insert(name, Instant::now());
        let answer = queue::handle_batch(
            &writer,
            &audit,
            SqsBatch { records: vec![SqsMessage { message_id: k.to_string(), body }] },
        )
        .await;
        anyhow::ensure!(answer.batch_item_failures.is_empty(), "rename {k} failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !expected.lock().unwrap_or_else(|p| p.into_inner()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (samples, polls) = poller.await??;
    let unseen = expected.lock().unwrap_or_else(|p| p.into_inner()).len();
    println!("\n## From receipt to an incremental pull\n");
    println!(
        "{renames} user renames through the handler, one every 20 ms, while one consumer pulls `users?updatedSince=<its \
         watermark>` over HTTP (loopback, the whole router) back to back ({polls} pulls).\n"
    );
    println!("| figure | value | target |");
    println!("|---|---|---|");
    println!("| renames seen | {} of {renames} | all |", samples.values().count());
    println!("| median | {} ms | |", ms(samples.median()));
    println!(
        "| p99 | {} ms | under 1,000 ms ({}) |",
        ms(samples.p99()),
        if samples.p99() < Duration::from_secs(1) && unseen == 0 { "met" } else { "MISSED" }
    );
    println!("| max | {} ms | |", ms(samples.quantile(1.0)));
    let _ = table::delete(&store).await;
    Ok(())
}

/// The consumer: pulls from its watermark until `done`, recording when each expected last
/// name first shows up.
async fn poll(
    base: String,
    token: String,
    expected: Arc<Mutex<HashMap<String, Instant>>>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<(Samples, usize)> {
    let client = reqwest::Client::new();
    let mut watermark = "1970-01-01T00:00:00.000Z".to_owned();
    let mut samples = Samples::default();
    let mut polls = 0;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let mut cursor: Option<String> = None;
        let mut next_watermark = None;
        loop {
            let mut url = format!("{base}?limit=500&updatedSince={watermark}");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page: Value =
                serde_json::from_slice(&client.get(url).bearer_auth(&token).send().await?.bytes().await?)?;
            let seen = Instant::now();
            for user in page["data"].as_array().into_iter().flatten() {
                if let Some(name) = user["personalInfo"]["lastName"].as_str() {
                    if let Some(sent) = expected.lock().unwrap_or_else(|p| p.into_inner()).remove(name) {
                        samples.push(seen - sent);
                    }
                }
            }
            next_watermark = next_watermark.or_else(|| page["pagination"]["watermark"].as_str().map(str::to_owned));
            match page["pagination"]["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        polls += 1;
        watermark = next_watermark.ok_or_else(|| anyhow::anyhow!("an incremental pull without a watermark"))?;
    }
    Ok((samples, polls))
}

/// `import --bulk` of a tenant of `users` users (from its import lines, parsing included)
/// against raw `BatchWriteItem` of the items that tenant occupies.
async fn onboarding(users: usize) -> anyhow::Result<()> {
    let spec = shared::seed::ScaleSpec { users, entities: users / 10, role_assignments: users * 2, memberships: users };
    let data = setup::generate(Some(spec));
    let tenant = data.tenants.last().expect("the scale tenant").clone();
    let lines = shared::import::to_lines(&Default::default(), std::slice::from_ref(&tenant));
    let (_, store) = fresh_table("onboard").await?;
    bulk::load_platform(&store, &data.platform, shared::seed::seed_clock()).await?;
    let writer = Writer::new(store.clone(), Clock::System);
    let started = Instant::now();
    let (records, problems) = shared::import::parse(&lines);
    anyhow::ensure!(problems.is_empty(), "the export does not import: {problems:?}");
    let plan = shared::import::bulk::plan(&store, records).await?;
    anyhow::ensure!(plan.tenants.len() == 1 && plan.after.is_empty(), "everything loads in bulk");
    let report = shared::import::bulk::load(&store, &writer, plan, shared::time::Timestamp::now(), &|_| {}).await?;
    let bulk_time = started.elapsed();
    let items = bulk::tenant_items(&tenant, shared::seed::seed_clock())?;
    let (_, raw_store) = fresh_table("onboard-raw").await?;
    let raw_time = crate::scale::raw_batch_write(&raw_store, items.clone()).await?;
    let _ = table::delete(&store).await;
    let _ = table::delete(&raw_store).await;
    let r = ratio(raw_time, bulk_time);
    println!("\n## Bulk onboarding\n");
    println!(
        "A new tenant of {} users, {} entities, {} role assignments and {} memberships: `import --bulk` from its \
         {} import lines (parse, plan, BatchWriteItem) against raw BatchWriteItem of the same items (25 per batch, 8 in \
         flight).\n",
        spec.users,
        spec.entities,
        spec.role_assignments,
        spec.memberships,
        lines.lines().count()
    );
    println!("| path | items | seconds | items/s | ratio (throughput to raw) | target |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| import --bulk | {} | {:.1} | {:.0} | {r:.2} | 0.7 ({}) |",
        report.items,
        bulk_time.as_secs_f64(),
        report.items as f64 / bulk_time.as_secs_f64(),
        at_least(r, 0.7)
    );
    println!(
        "| raw BatchWriteItem | {} | {:.1} | {:.0} | 1.00 | |",
        items.len(),
        raw_time.as_secs_f64(),
        items.len() as f64 / raw_time.as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_history_is_valid_and_versions_grow() {
        let data = setup::generate(None);
        let bodies = change_bodies(&data.tenants[0], 100);
        for body in &bodies {
            queue::change_of_body(body).unwrap();
        }
        let versions: Vec<u64> = bodies
            .iter()
            .map(|b| serde_json::from_str::<Value>(b).unwrap()["sourceVersion"].as_u64().unwrap())
            .collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
    }
}
