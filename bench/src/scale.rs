//! Sync at scale, and seed and import throughput.
//!
//! The sync runs in a child process (`wrapper-bench sync-child`), which alternates a plain
//! paged read of the tenant's items with a full sync run in process and the worker's two
//! paths (one task; a task per phase), and reports its own peak RSS, so the memory figure is
//! the sync process's alone.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::{stream, TryStreamExt};
use serde_json::{json, Value};
use shared::seed::ScaleSpec;
use shared::store::item::RawItem;
use shared::store::keys::{tenant_pk, Collection};
use shared::store::writer::{Clock, Writer};
use shared::store::{bulk, Store};
use shared::sync::events::EventPublisher;
use shared::sync::launch::StepFunctions;
use shared::sync::record::{self, RunOptions};
use shared::sync::run::{new_sync_id, run_phases, SyncOptions};
use shared::sync::worker::{Worker, DEFAULT_ONE_TASK_MAX_ITEMS};

use crate::setup::{self, fresh_table, table_config};
use crate::stats::{ms, ratio, verdict, Samples};

/// The issue's scale: 50,000 users, 5,000 entities, 100,000 role assignments, 50,000 memberships.
pub const FULL_SCALE: ScaleSpec =
    ScaleSpec { users: 50_000, entities: 5_000, role_assignments: 100_000, memberships: 50_000 };

/// Seeds the scale tenant (timing seed against raw `BatchWriteItem`), measures import, then
/// runs the sync child. Prints the tables.
pub async fn run(scale: ScaleSpec, rounds: usize) -> anyhow::Result<()> {
    println!(
        "\n## Seed and import throughput\n\nScale tenant: {} users, {} entities, {} role assignments, {} memberships.\n",
        scale.users, scale.entities, scale.role_assignments, scale.memberships
    );
    let generated = Instant::now();
    let data = setup::generate(Some(scale));
    let generation = generated.elapsed();
    let tenant = data.tenants.last().expect("the scale tenant").clone();
    let at = shared::seed::seed_clock();

    let (config, store) = fresh_table("scale").await?;
    bulk::load_platform(&store, &data.platform, at).await?;
    let seeding = Instant::now();
    let items = bulk::tenant_items(&tenant, at)?;
    let count = items.len();
    bulk::write_items(&store, items.clone(), &|_| {}).await?;
    let seed_time = seeding.elapsed();
    let (_, raw_store) = fresh_table("raw").await?;
    let raw_time = raw_batch_write(&raw_store, items).await?;
    println!("| what | items | seconds | items/s | ratio to raw BatchWriteItem |");
    println!("|---|---|---|---|---|");
    println!(
        "| generate the data set (in memory) | {count} | {:.1} | {:.0} | |",
        generation.as_secs_f64(),
        per_second(count, generation)
    );
    println!(
        "| seed (items built by the bulk loader, BatchWriteItem, 8 in flight) | {count} | {:.1} | {:.0} | {:.2} |",
        seed_time.as_secs_f64(),
        per_second(count, seed_time),
        ratio(seed_time, raw_time)
    );
    println!(
        "| raw BatchWriteItem of the same items (25 per batch, 8 in flight) | {count} | {:.1} | {:.0} | 1.00 |",
        raw_time.as_secs_f64(),
        per_second(count, raw_time)
    );
    import_throughput(&data).await?;

    println!("\n## Sync at scale ({rounds} alternations in one child process)\n");
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["sync-child", "--table", &config.table_name, "--tenant", &tenant.tenant.tenant_id])
        .args(["--rounds", &rounds.to_string()])
        .output()?;
    anyhow::ensure!(child.status.success(), "sync child failed: {}", String::from_utf8_lossy(&child.stderr));
    let report: Value = serde_json::from_slice(&child.stdout)?;
    let figure = |name: &str| report[name].as_f64().unwrap_or(0.0);
    let (sync, plain, worker) = (figure("syncMedianMs"), figure("plainMedianMs"), figure("workerMedianMs"));
    let one_task = figure("workerOneTaskMedianMs");
    let peak = figure("peakRssKiB") / 1024.0;
    let r = sync / plain;
    println!("| figure | value | target |");
    println!("|---|---|---|");
    println!("| items read by the plain read (each collection once) | {} | |", report["items"]);
    println!("| plain paged read, median | {plain:.0} ms (CPU {:.0} ms) | |", figure("plainCpuMs"));
    println!(
        "| sync run in process (`run_phases`: one read of every collection), median | {sync:.0} ms (CPU {:.0} ms) | |",
        figure("syncCpuMs")
    );
    println!("| ratio sync / plain read | {r:.2} | 1.3 ({}) |", verdict(r, 1.3));
    println!(
        "| worker, one task (the tenant is within `SYNC_ONE_TASK_MAX_ITEMS`, default {DEFAULT_ONE_TASK_MAX_ITEMS}), median | {one_task:.0} ms (CPU {:.0} ms) | |",
        figure("workerOneTaskCpuMs")
    );
    println!(
        "| ratio worker one task / plain read | {:.2} | 1.3 ({}) |",
        one_task / plain,
        verdict(one_task / plain, 1.3)
    );
    println!(
        "| worker, a task per phase (tenants over the limit), median | {worker:.0} ms (CPU {:.0} ms) | |",
        figure("workerCpuMs")
    );
    println!("| ratio worker task per phase / plain read | {:.2} | |", worker / plain);
    println!(
        "| peak RSS of the sync process | {peak:.1} MiB | 128 MiB ({}) |",
        if peak <= 128.0 { "met" } else { "MISSED" }
    );
    println!("| sync run outcome | success {}, issues {} | |", report["success"], report["issues"]);
    println!("\nRuns (ms): sync {}, plain read {}.", report["syncRunsMs"], report["plainRunsMs"]);
    crate::bootstrap::run(&setup::Fixture::over(config, data).await?, 3).await
}

fn per_second(items: usize, took: Duration) -> f64 {
    items as f64 / took.as_secs_f64()
}

/// `BatchWriteItem` straight from the SDK: 25 items per request, 8 requests in flight,
/// unprocessed items sent again.
pub(crate) async fn raw_batch_write(store: &Store, items: Vec<RawItem>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let batches: Vec<Vec<RawItem>> = items.chunks(25).map(<[RawItem]>::to_vec).collect();
    stream::iter(batches.into_iter().map(Ok))
        .try_for_each_concurrent(8, |batch| async move {
            let mut pending: Vec<WriteRequest> = batch
                .into_iter()
                .map(|item| {
                    Ok(WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build()?).build())
                })
                .collect::<anyhow::Result<_>>()?;
            while !pending.is_empty() {
                let output = store.client().batch_write_item().request_items(store.table(), pending).send().await?;
                pending = output.unprocessed_items.unwrap_or_default().remove(store.table()).unwrap_or_default();
            }
            Ok::<(), anyhow::Error>(())
        })
        .await?;
    Ok(started.elapsed())
}

/// `import` of a demo tenant (records through the writer, one at a time) against raw
/// `BatchWriteItem` of the items the same tenant occupies.
async fn import_throughput(data: &shared::seed::SeedData) -> anyhow::Result<()> {
    let tenant = data.tenants.first().expect("a demo tenant");
    let lines = shared::import::to_lines(&data.platform, std::slice::from_ref(tenant));
    let (records, problems) = shared::import::parse(&lines);
    anyhow::ensure!(problems.is_empty(), "the export does not import: {problems:?}");
    let (_, store) = fresh_table("import").await?;
    let writer = Writer::new(store.clone(), Clock::System);
    let started = Instant::now();
    let count = records.len();
    shared::import::apply(&writer, records, &|| {}).await?;
    let took = started.elapsed();
    let items = bulk::tenant_items(tenant, shared::seed::seed_clock())?;
    let item_count = items.len();
    let (_, raw_store) = fresh_table("import-raw").await?;
    let raw = raw_batch_write(&raw_store, items).await?;
    println!("| import of {} (records through the writer, one at a time) | {count} records | {:.1} | {:.0} records/s | {:.1} |",
        tenant.tenant.company_name, took.as_secs_f64(), per_second(count, took), ratio(took, raw));
    println!(
        "| raw BatchWriteItem of that tenant's items | {item_count} | {:.2} | {:.0} | 1.00 |",
        raw.as_secs_f64(),
        per_second(item_count, raw)
    );
    Ok(())
}

/// The child: alternates plain read and sync `rounds` times, prints one JSON report.
pub async fn child(table: &str, tenant: &str, rounds: usize) -> anyhow::Result<()> {
    let config = table_config(table)?;
    let store = Store::new(&config);
    let writer = Writer::new(store.clone(), Clock::System);
    let catalog = shared::store::reader::catalog(&store).await?;
    let [mut syncs, mut plains, mut workers, mut sync_cpu, mut plain_cpu, mut worker_cpu, mut one_tasks, mut one_task_cpu] =
        std::array::from_fn(|_| Samples::default());
    let worker = |one_task_max_items| Worker {
        writer: writer.clone(),
        events: std::sync::Arc::new(EventPublisher::Log),
        step_functions: StepFunctions::from_lookup(|_| None, &config),
        one_task_max_items,
    };
    let (one_task_worker, phase_worker) = (worker(DEFAULT_ONE_TASK_MAX_ITEMS), worker(0));
    let (mut items, mut success, mut issues) = (0, false, Vec::<String>::new());
    for _ in 0..rounds {
        let (started, cpu) = (Instant::now(), crate::cpu::process_cpu());
        let results = run_phases(&writer, &catalog, tenant, &new_sync_id(), SyncOptions::default()).await;
        syncs.push(started.elapsed());
        sync_cpu.push(crate::cpu::process_cpu() - cpu);
        success = results.success;
        issues =
            results.phases.validation.validation.issues.iter().map(|i| format!("{} ({})", i.code, i.count)).collect();
        let (started, cpu) = (Instant::now(), crate::cpu::process_cpu());
        anyhow::ensure!(worker_run(&one_task_worker, tenant).await?, "the scale tenant fits one task");
        one_tasks.push(started.elapsed());
        one_task_cpu.push(crate::cpu::process_cpu() - cpu);
        let (started, cpu) = (Instant::now(), crate::cpu::process_cpu());
        anyhow::ensure!(!worker_run(&phase_worker, tenant).await?, "a limit of 0 runs a task per phase");
        workers.push(started.elapsed());
        worker_cpu.push(crate::cpu::process_cpu() - cpu);
        let (started, cpu) = (Instant::now(), crate::cpu::process_cpu());
        items = plain_read(&store, tenant).await?;
        plains.push(started.elapsed());
        plain_cpu.push(crate::cpu::process_cpu() - cpu);
    }
    let millis = |samples: &Samples| samples.median().as_secs_f64() * 1000.0;
    let report = json!({
        "syncMedianMs": millis(&syncs),
        "plainMedianMs": millis(&plains),
        "workerMedianMs": millis(&workers),
        "syncCpuMs": millis(&sync_cpu),
        "plainCpuMs": millis(&plain_cpu),
        "workerCpuMs": millis(&worker_cpu),
        "workerOneTaskMedianMs": millis(&one_tasks),
        "workerOneTaskCpuMs": millis(&one_task_cpu),
        "syncRunsMs": syncs.values().map(ms).collect::<Vec<_>>(),
        "plainRunsMs": plains.values().map(ms).collect::<Vec<_>>(),
        "items": items,
        "success": success,
        "issues": issues,
        "peakRssKiB": peak_rss_kib(),
    });
    println!("{report}");
    Ok(())
}

/// One run as the tenant-sync state machine drives the worker: each task's input through
/// `Worker::handle_payload`, built from nothing but the run's ids and the earlier results (the
/// state between tasks, at most 256 KB), then finalize, which frees the lease for the next
/// run. Returns whether the essential task ran the whole run (a one-task run).
async fn worker_run(worker: &Worker, tenant: &str) -> anyhow::Result<bool> {
    let run = record::start(worker.writer.store(), tenant, "bench", RunOptions::default(), None).await?;
    let task = |action: &str| json!({ "action": action, "tenantId": tenant, "syncId": run.sync_id });
    let essential = worker.handle_payload(task("essential")).await?;
    let (essential, reference, validation, one_task) = match essential.get("oneTask") {
        Some(rest) => (
            json!({ "success": essential["success"], "data": essential["data"] }),
            rest["reference"].clone(),
            rest["validation"].clone(),
            true,
        ),
        None => {
            let reference = worker.handle_payload(task("reference")).await?;
            let validation = worker.handle_payload(task("validation")).await?;
            (essential, reference, validation, false)
        }
    };
    let mut finalize = task("finalize");
    finalize["essential"] = essential;
    finalize["reference"] = reference;
    finalize["validation"] = validation;
    let finalized = worker.handle_payload(finalize).await?;
    anyhow::ensure!(finalized["status"] == "succeeded", "the worker's run did not succeed: {finalized}");
    Ok(one_task)
}

/// Every item of the collections the sync covers, each collection read once with plain
/// paged queries (strongly consistent, like the sync), all collections at once.
async fn plain_read(store: &Store, tenant: &str) -> anyhow::Result<usize> {
    let reads = Collection::ALL.map(|collection| read_prefix(store, tenant, collection.key_prefix()));
    let counts = futures::future::try_join_all(reads).await?;
    Ok(counts.into_iter().sum())
}

async fn read_prefix(store: &Store, tenant: &str, prefix: String) -> anyhow::Result<usize> {
    let mut pages = store
        .client()
        .query()
        .table_name(store.table())
        .consistent_read(true)
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(tenant_pk(tenant)))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix))
        .into_paginator()
        .send();
    let mut count = 0;
    while let Some(page) = pages.next().await {
        count += page?.items().len();
    }
    Ok(count)
}

/// `VmHWM` of this process (Linux), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
