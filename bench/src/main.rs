//! `wrapper-bench`: the benchmarks of `docs/benchmarks.md`. They print ratios measured side
//! by side in one run (machines are shared and noisy, so absolute times do not compare from
//! run to run) and never fail on a number. Run them with `scripts/bench.sh`, which starts
//! DynamoDB Local and builds the release binaries first.

mod bootstrap;
mod cold;
mod counting;
mod cpu;
mod ingest;
mod initial;
mod scale;
mod setup;
mod size;
mod stats;
mod warm;

use clap::{Parser, Subcommand};
use shared::seed::ScaleSpec;

#[derive(Parser)]
#[command(
    about = "Benchmarks: warm overhead, cold start, initial load, ingestion, sync at scale, seed and import throughput, the largest tenant"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Every benchmark (the default).
    All(Rounds),
    /// Warm request overhead against the raw SDK requests.
    Warm(Rounds),
    /// Cold start of each function's release binary against a hello-world.
    Cold(Rounds),
    /// CPU per request through the Lambda handler against the floor, for every paged route.
    Cpu(Rounds),
    /// Seed and import throughput, then the sync at scale.
    Scale(ScaleArgs),
    /// The initial load (`updatedSince` = the epoch) against a full walk of `users`.
    InitialLoad(InitialArgs),
    /// Ingestion: handler throughput against the same requests sent directly, receipt to
    /// incremental pull, bulk onboarding against raw BatchWriteItem.
    Ingest(IngestArgs),
    /// The largest tenant: bytes per record type with their index copies, tombstones, and
    /// the users that fit in one item collection.
    Size(SizeArgs),
    /// (internal) The sync process of `scale`.
    #[command(hide = true)]
    SyncChild {
        #[arg(long)]
        table: String,
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

#[derive(clap::Args, Clone, Copy)]
struct Rounds {
    /// Alternations (A, B) per measured figure.
    #[arg(long, default_value_t = 0)]
    rounds: usize,
}

#[derive(clap::Args, Clone, Copy)]
struct InitialArgs {
    /// Alternations of the two walks.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Users of the tenant walked.
    #[arg(long, default_value_t = 50_000)]
    users: usize,
}

#[derive(clap::Args, Clone, Copy)]
struct IngestArgs {
    /// Changes per throughput run.
    #[arg(long, default_value_t = 2_000)]
    changes: usize,
    /// Alternations of handler and direct runs.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Users of the tenant onboarded in bulk.
    #[arg(long, default_value_t = 50_000)]
    users: usize,
}

#[derive(clap::Args, Clone, Copy)]
struct ScaleArgs {
    /// Sync runs (each alternated with a plain read).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Users of the scale tenant (entities, role assignments and memberships scale with it:
    /// 1/10, 2x, 1x, as in the 50,000 / 5,000 / 100,000 / 50,000).
    #[arg(long, default_value_t = 50_000)]
    users: usize,
}

#[derive(clap::Args, Clone, Copy)]
struct SizeArgs {
    /// Users of the tenant measured (the other records scale with it as in `scale`).
    #[arg(long, default_value_t = 50_000)]
    users: usize,
}

impl ScaleArgs {
    fn spec(self) -> ScaleSpec {
        let users = self.users;
        ScaleSpec { users, entities: users / 10, role_assignments: users * 2, memberships: users }
    }
}

/// A tenant big enough for 500-item pages of users, organizations and role assignments.
const WARM_TENANT: ScaleSpec = ScaleSpec { users: 1_000, entities: 600, role_assignments: 1_200, memberships: 1_000 };

fn or(value: usize, default: usize) -> usize {
    if value == 0 {
        default
    } else {
        value
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command.unwrap_or(Command::All(Rounds { rounds: 0 }));
    if let Command::SyncChild { table, tenant, rounds } = &command {
        return scale::child(table, tenant, *rounds).await;
    }
    print_machine();
    match command {
        Command::All(Rounds { rounds }) => {
            let fixture = setup::seeded("warm", Some(WARM_TENANT)).await?;
            warm::run(&fixture, or(rounds, 200)).await?;
            cpu::run(&fixture, or(rounds, 50)).await?;
            cold::run(&fixture, or(rounds, 20).min(50)).await?;
            initial::run(50_000, 3).await?;
            ingest::run(2_000, 3, 50_000).await?;
            scale::run(scale::FULL_SCALE, 3).await?;
            size::run(scale::FULL_SCALE).await
        }
        Command::Warm(Rounds { rounds }) => {
            let fixture = setup::seeded("warm", Some(WARM_TENANT)).await?;
            warm::run(&fixture, or(rounds, 200)).await
        }
        Command::Cpu(Rounds { rounds }) => {
            let fixture = setup::seeded("cpu", Some(WARM_TENANT)).await?;
            cpu::run(&fixture, or(rounds, 50)).await.map(drop)
        }
        Command::Cold(Rounds { rounds }) => {
            let fixture = setup::seeded("cold", Some(WARM_TENANT)).await?;
            cold::run(&fixture, or(rounds, 20)).await
        }
        Command::Scale(args) => scale::run(args.spec(), args.rounds).await,
        Command::InitialLoad(args) => initial::run(args.users, args.rounds).await,
        Command::Ingest(args) => ingest::run(args.changes, args.rounds, args.users).await,
        Command::Size(args) => size::run(ScaleArgs { rounds: 0, users: args.users }.spec()).await,
        Command::SyncChild { .. } => Ok(()),
    }
}

/// The machine and the date, for the report.
fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("# wrapper-bench\n\nMachine: {cores} cores, {cpu}. Date: {}.", shared::time::Timestamp::now());
    println!("DynamoDB Local: {}.", std::env::var("DYNAMODB_ENDPOINT").unwrap_or_default());
}
