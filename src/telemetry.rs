//! Logging through `tracing`. `RUST_LOG` picks levels (default `info`); `--log-format json`
//! (`XUEXIN_LOG_FORMAT=json`) writes JSON lines for log collectors.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// `quiet`: command-line tools log warnings only (and which database they opened) unless
/// `RUST_LOG` says otherwise. Logs go to stderr, so they never mix with a command's output
/// (`CODE=$(xuexin dev outbox …)`, `--json`), with colours only when stderr is a terminal.
pub fn init(quiet: bool, json: bool) {
    let default = if quiet {
        "warn,xuexin::store=info"
    } else {
        "info,sqlx=warn,tower_http=info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
