//! CPU time per request, which is the latency on a small Lambda (at 128 MB a function gets
//! about 7 % of a vCPU): every paged route at `limit` 50 and 500 with both token kinds,
//! through the Lambda handler as the runtime drives it (the API Gateway event's bytes
//! decoded into a `LambdaRequest`, `lambda_http`'s adapter over the function's router, the
//! `LambdaResponse` encoded to bytes), against the floor for the same page measured in the
//! same run: decoding the same event, the SDK's own requests and decoding of the same
//! DynamoDB answers, and `serde_json` writing the same response body.
//!
//! Both run on one thread of their own with a current-thread Tokio runtime, so the thread's
//! CPU time (`getrusage(RUSAGE_THREAD)`) holds all of a request's work, the HTTP client's
//! included, and none of DynamoDB Local's (another process).

use std::time::Duration;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service};
use shared::api::{self, AppState};
use shared::store::keys::Collection;
use shared::store::Store;

use crate::counting::{counting_store, describe, RequestCounter};
use crate::setup::{http_api_event, Fixture};
use crate::stats::{ratio, Samples};

/// Every paged route and the collection its default page reads.
pub const PAGED_ROUTES: [(&str, Collection); 7] = [
    ("users", Collection::Users),
    ("tenant-users", Collection::Users),
    ("organizations", Collection::Entities),
    ("employee-assignments", Collection::Memberships),
    ("roles", Collection::Roles),
    ("role-assignments", Collection::RoleAssignments),
    ("entity-credits", Collection::CreditBalances),
];
const LIMITS: [usize; 2] = [50, 500];
/// Target at 500 items: our CPU at most this many times the floor's.
pub const TARGET: f64 = 1.5;
/// Unmeasured requests per combination first (caches, connections, the key set).
const WARM_UP: usize = 10;

/// One combination's medians, in microseconds of CPU (and of wall time).
#[derive(Debug, Clone)]
pub struct CpuFigure {
    /// Route name.
    pub route: &'static str,
    /// Page size asked for.
    pub limit: usize,
    /// `service` or `kinde`.
    pub token: &'static str,
    /// Items in the page's `data`.
    pub items: usize,
    /// Our CPU per request, median.
    pub ours: Duration,
    /// The floor's CPU per request, median.
    pub floor: Duration,
    /// Our wall time per request, median.
    pub ours_wall: Duration,
    /// The floor's wall time, median.
    pub floor_wall: Duration,
}

/// CPU time this thread has used so far (user and system).
pub fn thread_cpu() -> Duration {
    cpu_of(libc::RUSAGE_THREAD)
}

/// CPU time this process (every thread) has used so far.
pub fn process_cpu() -> Duration {
    cpu_of(libc::RUSAGE_SELF)
}

fn cpu_of(who: libc::c_int) -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given, which points at
    // one; it cannot fail for RUSAGE_SELF and the calling thread's RUSAGE_THREAD.
    let usage = unsafe {
        libc::getrusage(who, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Measures every combination `rounds` times each way, on a thread of its own, prints the
/// table and returns the figures (the memory projection reads them).
pub async fn run(fixture: &Fixture, rounds: usize) -> anyhow::Result<Vec<CpuFigure>> {
    let (auth, secrets) = fixture.auth()?;
    let counter = RequestCounter::default();
    let store = counting_store(&fixture.config, &counter);
    let state = AppState::new(store.clone(), auth, secrets).with_limits(api::limits::RateLimits::unlimited());
    let tenant = fixture.tenant().tenant.tenant_id.clone();
    let tokens = [("service", fixture.service_token()?), ("kinde", fixture.kinde_token()?)];
    let figures = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<CpuFigure>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(measure_all(state, store, counter, tenant, tokens, rounds))
    })
    .await??;
    print(&figures, rounds);
    print_projection(&figures);
    Ok(figures)
}

async fn measure_all(
    state: AppState,
    store: Store,
    counter: RequestCounter,
    tenant: String,
    tokens: [(&'static str, String); 2],
    rounds: usize,
) -> anyhow::Result<Vec<CpuFigure>> {
    let _logs = tracing::subscriber::set_default(lambda_log_subscriber());
    let router = api::serve(api::all_routes(), state);
    let mut figures = Vec::new();
    for (route, collection) in PAGED_ROUTES {
        for limit in LIMITS {
            for (kind, token) in &tokens {
                let event = serde_json::to_vec(&http_api_event(
                    &format!("/api/sync/tenants/{tenant}/{route}"),
                    &format!("limit={limit}"),
                    token,
                ))?;
                let mut adapter = Adapter::from(router.clone());
                for _ in 0..WARM_UP {
                    through_handler(&mut adapter, &event).await?;
                }
                counter.take();
                let answer = through_handler(&mut adapter, &event).await?;
                let requests = describe(&counter.take());
                anyhow::ensure!(requests == "GetItem 1, Query 1", "{route} made {requests}: not the default page");
                let body: serde_json::Value = serde_json::from_str(
                    serde_json::from_slice::<serde_json::Value>(&answer)?["body"].as_str().unwrap_or("null"),
                )?;
                let items = body["data"].as_array().map_or(0, Vec::len);
                let mut samples = [Samples::default(), Samples::default(), Samples::default(), Samples::default()];
                for _ in 0..rounds {
                    let (cpu, wall) = timed(through_handler(&mut adapter, &event)).await?;
                    samples[0].push(cpu);
                    samples[2].push(wall);
                    let (cpu, wall) = timed(floor(&store, &tenant, collection, limit, &event, &body)).await?;
                    samples[1].push(cpu);
                    samples[3].push(wall);
                }
                let [ours, floor, ours_wall, floor_wall] = samples.map(|s| s.median());
                figures.push(CpuFigure { route, limit, token: kind, items, ours, floor, ours_wall, floor_wall });
            }
        }
    }
    Ok(figures)
}

/// The JSON log lines a function writes (`runtime::init_logging`'s format), into nothing:
/// formatting them is part of a request's CPU.
fn lambda_log_subscriber() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info,aws_smithy_runtime=warn,aws_sdk_dynamodb=warn"))
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_writer(std::io::sink)
        .finish()
}

/// CPU and wall time of `work`.
pub async fn timed<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(Duration, Duration)> {
    let (cpu, wall) = (thread_cpu(), std::time::Instant::now());
    work.await?;
    Ok((thread_cpu() - cpu, wall.elapsed()))
}

/// What the Lambda runtime does with one event: decode it, call the handler, encode the
/// answer. Returns the encoded answer.
pub async fn through_handler(
    adapter: &mut Adapter<'static, axum::response::Response, axum::Router>,
    event: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let request: LambdaRequest = serde_json::from_slice(event)?;
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .map_err(|e| anyhow::anyhow!("the handler failed: {e:?}"))?;
    let bytes = serde_json::to_vec(&response)?;
    anyhow::ensure!(
        bytes.starts_with(b"{\"statusCode\":200"),
        "not a 200: {}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
    );
    Ok(bytes)
}

/// The floor: the event decoded, the page's two DynamoDB requests made and decoded by the
/// SDK (concurrently, as the route makes them), and the response body written by serde_json.
async fn floor(
    store: &Store,
    tenant: &str,
    collection: Collection,
    limit: usize,
    event: &[u8],
    body: &serde_json::Value,
) -> anyhow::Result<usize> {
    let request: LambdaRequest = serde_json::from_slice(event)?;
    drop(request);
    let read = crate::warm::raw_requests(store, tenant, collection, limit).await?;
    Ok(read + serde_json::to_vec(body)?.len())
}

fn micros(value: Duration) -> String {
    format!("{:.0}", value.as_secs_f64() * 1e6)
}

fn print(figures: &[CpuFigure], rounds: usize) {
    println!("\n## CPU per request through the Lambda handler ({rounds} alternations each)\n");
    println!("| route | limit | token | items | our CPU µs | floor CPU µs | ratio | target at 500 | our wall ms | floor wall ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for f in figures {
        let r = ratio(f.ours, f.floor);
        let target = match f.limit {
            500 => format!("{TARGET} ({})", crate::stats::verdict(r, TARGET)),
            _ => "-".to_owned(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {r:.2} | {target} | {} | {} |",
            f.route,
            f.limit,
            f.token,
            f.items,
            micros(f.ours),
            micros(f.floor),
            crate::stats::ms(f.ours_wall),
            crate::stats::ms(f.floor_wall)
        );
    }
}

/// Memory sizes the projection covers, in MB.
pub const MEMORY_SIZES: [u32; 5] = [128, 256, 512, 1024, 1769];
/// Lambda's price per GB-second (x86, us-east-1) and per request.
const PRICE_GB_SECOND: f64 = 0.000_016_666_7;
const PRICE_REQUEST: f64 = 0.000_000_2;

/// The latency of a request that waits `wait` on the store and needs `cpu` of a full core, at
/// `memory_mb`: Lambda gives a function `memory_mb / 1769` of a vCPU (one vCPU at 1,769 MB).
pub fn projected_latency(wait: Duration, cpu: Duration, memory_mb: u32) -> Duration {
    let share = (f64::from(memory_mb) / 1769.0).min(1.0);
    wait + cpu.div_f64(share)
}

/// What a million requests of that latency cost at `memory_mb` (GB-seconds and requests;
/// billed per millisecond).
pub fn cost_per_million(latency: Duration, memory_mb: u32) -> f64 {
    let billed_seconds = (latency.as_secs_f64() * 1000.0).ceil() / 1000.0;
    1e6 * (billed_seconds * f64::from(memory_mb) / 1024.0 * PRICE_GB_SECOND + PRICE_REQUEST)
}

/// The API functions and the routes measured for each.
const FUNCTIONS: [(&str, &[&str]); 3] = [
    ("tenants-api", &["users", "tenant-users", "organizations", "employee-assignments"]),
    ("roles-api", &["roles", "role-assignments"]),
    ("credits-api", &["entity-credits"]),
];

/// Projected latency and cost per function at each memory size, from its most expensive
/// measured page (service token) at 50 and at 500 items: the store's wait is our wall time
/// here less our CPU (what does not shrink with a smaller CPU share), the CPU grows as the
/// share shrinks.
fn print_projection(figures: &[CpuFigure]) {
    println!("\n## Latency and cost by memory size (projected from the CPU figures above)\n");
    println!("latency = store wait + CPU / (MB / 1769); cost per million requests at that latency (x86 prices).\n");
    let header: Vec<String> = MEMORY_SIZES.iter().map(|mb| format!("{mb} MB ms / $ per 1M")).collect();
    println!("| function | page | CPU µs | wait ms | {} |", header.join(" | "));
    println!("|---|---|---|---|{}", "---|".repeat(MEMORY_SIZES.len()));
    for (function, routes) in FUNCTIONS {
        for limit in LIMITS {
            let worst = figures
                .iter()
                .filter(|f| f.token == "service" && f.limit == limit && routes.contains(&f.route))
                .max_by_key(|f| f.ours);
            let Some(f) = worst else { continue };
            let wait = f.ours_wall.saturating_sub(f.ours);
            let cells: Vec<String> = MEMORY_SIZES
                .iter()
                .map(|&mb| {
                    let latency = projected_latency(wait, f.ours, mb);
                    format!("{:.1} / {:.2}", latency.as_secs_f64() * 1000.0, cost_per_million(latency, mb))
                })
                .collect();
            println!(
                "| {function} | {} {} | {} | {:.1} | {} |",
                f.route,
                limit,
                micros(f.ours),
                wait.as_secs_f64() * 1000.0,
                cells.join(" | ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_follows_the_cpu_share_and_bills_by_the_millisecond() {
        let (wait, cpu) = (Duration::from_millis(5), Duration::from_millis(2));
        assert_eq!(projected_latency(wait, cpu, 1769), Duration::from_millis(7));
        assert_eq!(projected_latency(wait, cpu, 4096), Duration::from_millis(7), "no more than one vCPU");
        let at_128 = projected_latency(wait, cpu, 128).as_secs_f64() * 1000.0;
        assert!((at_128 - (5.0 + 2.0 * 1769.0 / 128.0)).abs() < 1e-6, "{at_128}");
        // 10 ms at 1,024 MB: 0.01 GB-s each, $0.1667 per million plus $0.20 of requests.
        let cost = cost_per_million(Duration::from_millis(10), 1024);
        assert!((cost - (0.166_667 + 0.2)).abs() < 1e-3, "{cost}");
        assert!(cost_per_million(Duration::from_micros(9_100), 1024) == cost, "billed per started millisecond");
    }

    #[test]
    fn thread_cpu_grows_with_work_and_not_with_sleep() {
        let start = thread_cpu();
        std::thread::sleep(Duration::from_millis(30));
        let slept = thread_cpu() - start;
        let start = thread_cpu();
        let mut x = 0u64;
        while thread_cpu() - start < Duration::from_millis(20) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(slept < Duration::from_millis(10), "sleeping used {slept:?} of CPU");
    }
}
