//! `xuexin-bench`: runs the benchmark scenarios against the release `xuexin` binary on this
//! machine's PostgreSQL and SQLite, prints a table and writes JSON. See docs/benchmarks.md.

mod import;
mod support;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "xuexin-bench")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Where to write the JSON results.
    #[arg(long, global = true, default_value = "target/bench/results.json")]
    out: std::path::PathBuf,
}

#[derive(Subcommand)]
enum Scenario {
    /// Record import: rows/s and peak memory, PostgreSQL and SQLite.
    Import {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let results: Value = match cli.scenario {
        Scenario::Import { rows } => json!({ "import": import::run(rows).await? }),
    };
    support::write_results(&cli.out, &results)?;
    Ok(())
}
