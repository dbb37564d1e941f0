//! `wrapper-sync seed`

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use shared::seed::{self, ScaleSpec, SeedOptions};
use shared::store::bulk::{self, TenantDataset};
use shared::store::{table, Store, StoreError};
use shared::time::Timestamp;

/// Options of `seed`.
#[derive(Args)]
pub struct SeedArgs {
    /// Random seed: the same seed always produces the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Add a large "Scale Test Co" tenant with this many users (benchmarks).
    #[arg(long)]
    users: Option<usize>,
    /// Entities of the large tenant.
    #[arg(long, default_value_t = 5_000, requires = "users")]
    entities: usize,
    /// Role assignments of the large tenant.
    #[arg(long, default_value_t = 100_000, requires = "users")]
    role_assignments: usize,
    /// Memberships of the large tenant (at least one per user).
    #[arg(long, default_value_t = 50_000, requires = "users")]
    memberships: usize,
    /// Change time written on every seeded item.
    #[arg(long, default_value = seed::SEED_CLOCK)]
    at: String,
    /// Print the seeded tenants as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Seeds the table (creating it first if needed).
pub async fn run(store: &Store, args: SeedArgs) -> anyhow::Result<()> {
    let at = Timestamp::parse(&args.at)?;
    table::ensure(store).await?;
    let scale = args.users.map(|users| ScaleSpec {
        users,
        entities: args.entities,
        role_assignments: args.role_assignments,
        memberships: args.memberships.max(users),
    });
    let data = seed::generate(&SeedOptions { seed: args.seed, scale });
    bulk::load_platform(store, &data.platform, at).await?;
    let mut summary = Vec::new();
    for tenant in &data.tenants {
        let status = load(store, tenant, at).await?;
        summary.push((tenant, status));
    }
    if args.json {
        let rows: Vec<serde_json::Value> = summary
            .iter()
            .map(|(t, status)| {
                serde_json::json!({
                    "tenantId": t.tenant.tenant_id, "kindeOrgId": t.tenant.kinde_org_id, "companyName": t.tenant.company_name,
                    "isActive": t.tenant.active(), "users": t.users.len(), "entities": t.entities.len(), "status": status,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for (t, status) in summary {
            println!(
                "{:<20} tenantId={} kindeOrgId={} users={} entities={} active={} [{status}]",
                t.tenant.company_name,
                t.tenant.tenant_id,
                t.tenant.kinde_org_id,
                t.users.len(),
                t.entities.len(),
                t.tenant.active()
            );
        }
    }
    Ok(())
}

async fn load(store: &Store, tenant: &TenantDataset, at: Timestamp) -> anyhow::Result<&'static str> {
    let total = (tenant.users.len()
        + tenant.entities.len()
        + tenant.roles.len()
        + tenant.role_assignments.len()
        + tenant.memberships.len()
        + tenant.credit_balances.len()) as u64;
    let bar = if total > 2_000 { ProgressBar::new(total) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} items ({per_sec}, eta {eta})")
            .expect("template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(tenant.tenant.company_name.clone());
    let result = bulk::load_tenant(store, tenant, at, &|n| bar.inc(n as u64)).await;
    bar.finish_and_clear();
    match result {
        Ok(_) => Ok("seeded"),
        Err(StoreError::Rejected(_)) => Ok("already present, left as is"),
        Err(other) => Err(other.into()),
    }
}
