//! Bootstrap of a large tenant (contract 9.15): one request through the Lambda handler, as
//! the runtime drives it, against the floor of the same reads made directly with the SDK
//! (every collection at once, as many items as bootstrap keeps), with the answer's size as
//! Lambda carries it against its 6 MB limit.

use lambda_http::Adapter;
use shared::api::{self, AppState};
use shared::store::keys::Collection;
use shared::store::Store;

use crate::cpu::{through_handler, timed};
use crate::setup::{http_api_post_event, Fixture};
use crate::stats::{ms, ratio, Samples};

/// Lambda's limit on a synchronous response.
const LAMBDA_RESPONSE_LIMIT: usize = 6 * 1024 * 1024;

/// Bootstraps the fixture's tenant `rounds` times through the handler, alternated with the
/// floor, on a thread of its own (CPU is that thread's), and prints the table.
pub async fn run(fixture: &Fixture, rounds: usize) -> anyhow::Result<()> {
    let (auth, secrets) = fixture.auth()?;
    let store = Store::new(&fixture.config);
    let state = AppState::new(store.clone(), auth, secrets).with_limits(api::limits::RateLimits::unlimited());
    let tenant = fixture.tenant().tenant.tenant_id.clone();
    let event = serde_json::to_vec(&http_api_post_event(
        &format!("/api/sync/tenants/{tenant}/bootstrap"),
        &fixture.service_token()?,
        &serde_json::json!({ "appCode": "crm" }),
    ))?;
    let measured = tokio::task::spawn_blocking(move || -> anyhow::Result<Measured> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(measure(state, store, tenant, event, rounds))
    })
    .await??;
    print(&measured, rounds);
    Ok(())
}

struct Measured {
    samples: [Samples; 4],
    carried_bytes: usize,
    counts: serde_json::Value,
    warnings: serde_json::Value,
    floor_items: usize,
}

async fn measure(
    state: AppState,
    store: Store,
    tenant: String,
    event: Vec<u8>,
    rounds: usize,
) -> anyhow::Result<Measured> {
    let mut adapter = Adapter::from(api::serve(api::all_routes(), state));
    let answer = through_handler(&mut adapter, &event).await?;
    let response: serde_json::Value = serde_json::from_slice(&answer)?;
    let body: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap_or("null"))?;
    let floor_items = floor(&store, &tenant).await?;
    let mut samples: [Samples; 4] = Default::default();
    for _ in 0..rounds {
        let (cpu, wall) = timed(through_handler(&mut adapter, &event)).await?;
        samples[0].push(cpu);
        samples[2].push(wall);
        let (cpu, wall) = timed(floor(&store, &tenant)).await?;
        samples[1].push(cpu);
        samples[3].push(wall);
    }
    Ok(Measured {
        samples,
        carried_bytes: answer.len(),
        counts: body["recordCounts"].clone(),
        warnings: body["warnings"].clone(),
        floor_items,
    })
}

/// The reads bootstrap makes, directly: the tenant's profile and, at once, each collection's
/// default pull up to bootstrap's cap plus one (`MAX_RECORDS`). Returns the items read.
async fn floor(store: &Store, tenant: &str) -> anyhow::Result<usize> {
    let profile = crate::warm::tenant_item(store, tenant, shared::store::keys::PROFILE_SK).send();
    let reads = Collection::ALL.map(|collection| read_capped(store, tenant, collection));
    let (profile, counts) = tokio::join!(profile, futures::future::try_join_all(reads));
    Ok(usize::from(profile?.item().is_some()) + counts?.into_iter().sum::<usize>())
}

async fn read_capped(store: &Store, tenant: &str, collection: Collection) -> anyhow::Result<usize> {
    let cap = api::bootstrap::MAX_RECORDS + 1;
    let (mut read, mut start) = (0, None);
    loop {
        let output = crate::warm::active_pull(store, tenant, collection)
            .limit((cap - read) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        read += output.items().len();
        match output.last_evaluated_key {
            Some(key) if read < cap => start = Some(key),
            _ => return Ok(read),
        }
    }
}

fn print(m: &Measured, rounds: usize) {
    let [cpu, floor_cpu, wall, floor_wall] = m.samples.each_ref().map(Samples::median);
    println!("\n## Bootstrap of the scale tenant ({rounds} alternations, `appCode` crm)\n");
    println!("| figure | value | note |");
    println!("|---|---|---|");
    println!("| through the Lambda handler, median | {} ms (CPU {} ms) | |", ms(wall), ms(cpu));
    println!(
        "| floor: the same reads with the SDK at once ({} items), median | {} ms (CPU {} ms) | |",
        m.floor_items,
        ms(floor_wall),
        ms(floor_cpu)
    );
    println!("| ratio, wall / CPU | {:.2} / {:.2} | |", ratio(wall, floor_wall), ratio(cpu, floor_cpu));
    println!(
        "| answer as Lambda carries it | {} bytes | limit {LAMBDA_RESPONSE_LIMIT} ({:.0} %) |",
        m.carried_bytes,
        100.0 * m.carried_bytes as f64 / LAMBDA_RESPONSE_LIMIT as f64
    );
    println!("| record counts | `{}` | |", m.counts);
    println!("| warnings | `{}` | |", m.warnings);
}
