//! `wrapper-sync`: operator CLI for the App Sync table. Manages the table, seeds demo data,
//! imports records and sends changes; all logic lives in the `shared` crate.

mod commands;

use clap::{Parser, Subcommand};

/// Operator tool for Wrapper App Sync.
#[derive(Parser)]
#[command(name = "wrapper-sync", version, about)]
struct Cli {
    /// DynamoDB table name.
    #[arg(long, global = true, env = "TABLE_NAME", default_value = shared::config::DEFAULT_TABLE_NAME)]
    table: String,
    /// DynamoDB endpoint, e.g. http://127.0.0.1:8000 for DynamoDB Local.
    #[arg(long, global = true, env = "DYNAMODB_ENDPOINT")]
    endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, delete or describe the table.
    Table {
        #[command(subcommand)]
        action: commands::table::TableAction,
    },
    /// Load deterministic demo data (tenants that already exist are left alone).
    Seed(commands::seed::SeedArgs),
    /// Import records from an NDJSON file (see docs/import-format.md).
    Import(commands::import::ImportArgs),
    /// Send changes to a running App Sync over HTTP (see docs/ingest-format.md).
    Changes {
        #[command(subcommand)]
        action: commands::changes::ChangesAction,
    },
    /// Mint a token for local development.
    Token {
        #[command(subcommand)]
        kind: commands::token::TokenKind,
    },
    /// Serve the development key's JWK set on 127.0.0.1 (the local Kinde stand-in).
    DevIssuer(commands::token::IssuerArgs),
    /// Serve every API route on 127.0.0.1 against the table (the local server).
    Serve(commands::serve::ServeArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let store = || commands::store(&cli.table, cli.endpoint.as_deref());
    match cli.command {
        Command::Table { action: commands::table::TableAction::Template } => {
            print!("{}", shared::store::table::cloudformation_resource());
            Ok(())
        }
        Command::Table { action } => commands::table::run(&store()?, action).await,
        Command::Seed(args) => commands::seed::run(&store()?, args).await,
        Command::Import(args) => commands::import::run(&store()?, args).await,
        Command::Changes { action } => commands::changes::run(action).await,
        Command::Token { kind } => commands::token::mint(kind),
        Command::DevIssuer(args) => commands::token::serve_issuer(args).await,
        Command::Serve(args) => commands::serve::run(&cli.table, cli.endpoint.as_deref(), args).await,
    }
}
