//! `wrapper-sync table ...`

use clap::Subcommand;
use shared::store::{table, Store};

/// What to do with the table.
#[derive(Subcommand)]
pub enum TableAction {
    /// Create the table (no-op if it exists).
    Create,
    /// Delete the table.
    Delete,
    /// Print status, item counts and indexes.
    Describe,
    /// Print the table as a CloudFormation resource (what template.yaml must contain).
    Template,
}

/// Runs a table action.
pub async fn run(store: &Store, action: TableAction) -> anyhow::Result<()> {
    match action {
        TableAction::Create => {
            if table::ensure(store).await? {
                println!("created table {}", store.table());
            } else {
                println!("table {} already exists", store.table());
            }
        }
        TableAction::Delete => {
            table::delete(store).await?;
            println!("deleted table {}", store.table());
        }
        TableAction::Describe => print!("{}", table::describe(store).await?),
        TableAction::Template => print!("{}", table::cloudformation_resource()),
    }
    Ok(())
}
