//! `xuexin-bench`: runs the benchmark scenarios against the release `xuexin` binary on this
//! machine's PostgreSQL (and SQLite where named) and a nats-server of its own, prints a table
//! and writes JSON. See docs/benchmarks.md.

mod import;
mod load;
mod loader;
mod nats;
mod scenarios;
mod service;
mod sqlite;
mod sso;
mod support;
mod timing;

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
    /// Every row of docs/benchmarks.md: hash limit, logins, queries under load, appends,
    /// registrations, projection rebuild, NATS, memory and growth.
    All {
        /// Account counts for the growth rows (comma-separated); the largest up to 1,000,000
        /// also carries the login, query, append, registration, memory and latency runs.
        #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
        accounts: Vec<usize>,
        /// Events in the log that the rebuild and relay rows use.
        #[arg(long, default_value_t = 1_000_000)]
        log_events: u64,
        /// Seconds per timed run (logins run three times as long, registrations twice).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// A pass of a few seconds on tiny datasets: checks that the harness works.
        #[arg(long)]
        smoke: bool,
        /// Keep the datasets an earlier run loaded (databases xuexin_bench_*) instead of
        /// loading them again; the load and rebuild-all times are then not measured.
        #[arg(long)]
        reuse: bool,
        /// Only load the datasets (and build their read models), measuring nothing; a later
        /// `--reuse` run measures on them.
        #[arg(long)]
        prepare: bool,
    },
    /// argon2id verifications/s at the service's parameters on all cores.
    Hash {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// One row on a dataset an earlier `all` (or `all --prepare`) loaded: `logins` (with the
    /// queries under load), `appends`, `registrations`, or `latency` (commit to NATS consumer
    /// at `--rate` commands a second, on a quiet service). For profiling one row.
    Row {
        #[arg(value_parser = ["logins", "appends", "registrations", "latency"])]
        row: String,
        #[arg(long, default_value_t = 1_000_000)]
        accounts: usize,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Commands a second offered by the `latency` row.
        #[arg(long, default_value_t = 250)]
        rate: u64,
    },
    /// Equal time for known and unknown names: medians of interleaved wrong-password logins
    /// and activation resends, known vs unknown, PostgreSQL and SQLite (target: < 1 ms apart).
    Timing {
        #[arg(long, default_value_t = 500)]
        tries: usize,
    },
    /// Single sign-on: second-platform sign-ins/s with a live session ÷ RS256 signatures/s
    /// alone (target ≥ 0.5), and the token endpoint's p99 under the login load.
    Sso {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The embedded default: event-store appends on SQLite ÷ a bare SQLite insert loop (WAL).
    Sqlite {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
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
        Scenario::All {
            accounts,
            log_events,
            seconds,
            smoke,
            reuse,
            prepare,
        } => {
            let options = if smoke {
                scenarios::Options::smoke()
            } else {
                anyhow::ensure!(!accounts.is_empty(), "--accounts needs at least one size");
                scenarios::Options {
                    sizes: accounts,
                    log_events,
                    seconds,
                    reuse,
                    prepare,
                }
            };
            let results = scenarios::all(&options).await?;
            if !prepare {
                println!("\n{}", scenarios::table(&results));
            }
            results
        }
        Scenario::Hash { seconds } => {
            let rate = scenarios::hash_limit(seconds);
            println!("{rate:.1} argon2id verifications/s");
            json!({ "hash_limit_per_s": rate, "machine": support::machine() })
        }
        Scenario::Row {
            row,
            accounts,
            seconds,
            rate,
        } => {
            let result = scenarios::one_row(&row, accounts, seconds, rate).await?;
            println!("{result}");
            result
        }
        Scenario::Sqlite { seconds } => json!({ "sqlite": sqlite::run(seconds).await? }),
        Scenario::Import { rows } => json!({ "import": import::run(rows).await? }),
        Scenario::Sso { seconds } => {
            let results = sso::run(seconds).await?;
            println!("\n{}", sso::table(&results));
            json!({ "sso": results })
        }
        Scenario::Timing { tries } => {
            let results = json!({ "timing": timing::run(tries).await? });
            println!("\n{}", timing::table(&results["timing"]));
            results
        }
    };
    support::write_results(&cli.out, &results)?;
    Ok(())
}
