//! `wrapper-sync import FILE`

use std::path::PathBuf;

use clap::Args;
use indicatif::ProgressBar;
use shared::import;
use shared::store::writer::{Clock, WriteOutcome, Writer};
use shared::store::{table, Store};
use shared::time::Timestamp;

/// Options of `import`.
#[derive(Args)]
pub struct ImportArgs {
    /// NDJSON file, one record or change per line (docs/import-format.md,
    /// docs/ingest-format.md).
    file: PathBuf,
    /// Write the valid records even if some lines are invalid (they are still reported).
    #[arg(long)]
    skip_invalid: bool,
    /// Load tenants App Sync does not hold yet with BatchWriteItem (several times faster);
    /// every other line still goes through the writer.
    #[arg(long)]
    bulk: bool,
}

/// Validates the whole file, then writes it through the writer (new tenants with
/// `BatchWriteItem` under `--bulk`).
pub async fn run(store: &Store, args: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)?;
    table::ensure(store).await?;
    let (records, mut errors) = import::parse(&text);
    errors.extend(import::check_against_store(store, &records).await?);
    errors.sort_by_key(|e| e.line);
    for error in &errors {
        eprintln!("{}: {error}", args.file.display());
    }
    let invalid: std::collections::HashSet<usize> = errors.iter().map(|e| e.line).collect();
    if !errors.is_empty() && !args.skip_invalid {
        anyhow::bail!("{} invalid line(s); nothing was written (use --skip-invalid to write the rest)", errors.len());
    }
    let records: Vec<_> = records.into_iter().filter(|r| !invalid.contains(&r.line)).collect();
    let writer = Writer::new(store.clone(), Clock::System);
    let report = if args.bulk {
        let plan = import::bulk::plan(store, records).await?;
        let bar = ProgressBar::new((plan.items() + plan.before.len() + plan.after.len()) as u64);
        let loaded = import::bulk::load(store, &writer, plan, Timestamp::now(), &|n| bar.inc(n as u64)).await?;
        bar.finish_and_clear();
        println!("bulk-loaded {} new tenant(s), {} items", loaded.tenants, loaded.items);
        loaded.through_writer
    } else {
        let bar = ProgressBar::new(records.len() as u64);
        let report = import::apply(&writer, records, &|| bar.inc(1)).await?;
        bar.finish_and_clear();
        report
    };
    for error in &report.rejected {
        eprintln!("{}: {error}", args.file.display());
    }
    println!(
        "created {}, updated {}, deleted {}, unchanged {}, stale {}, rejected {}, invalid {}",
        report.count(WriteOutcome::Created),
        report.count(WriteOutcome::Updated),
        report.count(WriteOutcome::Deleted),
        report.count(WriteOutcome::Unchanged) + report.count(WriteOutcome::NotFound),
        report.count(WriteOutcome::Stale),
        report.rejected.len(),
        errors.len()
    );
    if report.rejected.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} record(s) were refused by the writer", report.rejected.len())
    }
}
