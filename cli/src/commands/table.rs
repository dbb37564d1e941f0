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
    /// Rotate the cursor signing keys kept in the table (`CURSOR_KEY_SOURCE=table`): a new
    /// key signs, the old one is still accepted until the next rotation.
    RotateCursorKey,
    /// Stop accepting the previous cursor key at once (after a suspected leak).
    RetirePreviousCursorKey,
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
        TableAction::RotateCursorKey => {
            let version = store.rotate_cursor_keys().await?;
            println!("cursor keys of {} rotated (version {version}); functions use the new key within SECRETS_REFRESH_SECONDS", store.table());
        }
        TableAction::RetirePreviousCursorKey => {
            let version = store.retire_previous_cursor_key().await?;
            println!("previous cursor key of {} retired (version {version})", store.table());
        }
    }
    Ok(())
}
