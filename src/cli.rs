//! The `xuexin` command line.

use crate::app::{open_database, Application};
use crate::config::Config;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(
    name = "xuexin",
    version,
    about = "Student-information network account service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP service (with no DATABASE_URL: the embedded SQLite file ./xuexin.db).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "XUEXIN_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Development mode: also serve the captured SMS and mail at /api/v1/dev/outbox.
        #[arg(long, env = "XUEXIN_DEV")]
        dev: bool,
    },
    /// Create or update the database schema, then exit.
    Migrate,
    /// Developer tools.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Subcommand)]
pub enum DevCommand {
    /// Show SMS and mail the capture gateways kept, newest first.
    Outbox {
        /// Only messages to this phone or e-mail address.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Print only the newest SMS code (`code`) or e-mail link token (`token`).
        #[arg(long, value_parser = ["code", "token"])]
        extract: Option<String>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { listen, dev } => {
            let mut config = Config::from_env()?;
            config.listen = listen;
            config.dev_mode = dev;
            if std::env::var("XUEXIN_PUBLIC_URL").is_err() {
                config.public_url = format!("http://{listen}");
            }
            let app = Application::build(config).await?;
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate => {
            let config = Config::from_env()?;
            let db = open_database(&config).await?;
            println!("database schema is up to date ({})", db.backend().as_str());
            db.close().await;
            Ok(())
        }
        Command::Dev {
            command:
                DevCommand::Outbox {
                    to,
                    limit,
                    json,
                    extract,
                },
        } => {
            let config = Config::from_env()?;
            let db = open_database(&config).await?;
            let recipient = to.as_deref().map(crate::http::dev::normalize_recipient);
            if let Some(what) = extract {
                // Mail is sent in the background; give it a moment to arrive.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                loop {
                    let messages =
                        crate::gateways::outbox::list(&db, recipient.as_deref(), limit).await?;
                    if let Some(value) =
                        messages.iter().find_map(|m| extract_secret(&m.body, &what))
                    {
                        println!("{value}");
                        db.close().await;
                        return Ok(());
                    }
                    if std::time::Instant::now() > deadline {
                        db.close().await;
                        anyhow::bail!("no captured message holds a {what}");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
            let messages = crate::gateways::outbox::list(&db, recipient.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&messages)?);
            } else if messages.is_empty() {
                println!("(no captured messages)");
            } else {
                for m in messages {
                    println!(
                        "#{} {} {} → {}\n  {}\n  {}\n",
                        m.id,
                        m.created_at,
                        m.channel,
                        m.recipient,
                        m.subject,
                        m.body.replace('\n', "\n  ")
                    );
                }
            }
            db.close().await;
            Ok(())
        }
    }
}

/// The 6-digit code of an SMS or the token of a mailed link.
fn extract_secret(body: &str, what: &str) -> Option<String> {
    let (marker, accept): (&str, fn(char) -> bool) = match what {
        "code" => ("校验码是", |c| c.is_ascii_digit()),
        _ => ("token=", |c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_'
        }),
    };
    let start = body.find(marker)? + marker.len();
    let value: String = body[start..].chars().take_while(|c| accept(*c)).collect();
    (!value.is_empty()).then_some(value)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
