//! The `xuexin` command line.

use crate::config::Config;
use crate::startup::{open_database, Application};
use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xuexin",
    version,
    about = "Student-information network account service"
)]
pub struct Cli {
    /// A TOML file of settings (keys as in `xuexin config show`), read beneath the environment:
    /// a flag wins over an environment variable, which wins over the file.
    #[arg(long, global = true, env = "XUEXIN_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the command line with the `--config` file's values as the settings' defaults.
    pub fn parse_with_file() -> anyhow::Result<Self> {
        use clap::{CommandFactory, FromArgMatches};
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let file = crate::config::FileSettings::load(&args)?;
        let matches = file.apply(Self::command()).get_matches_from(args);
        Self::from_arg_matches(&matches).map_err(|e| e.exit())
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP service (with no DATABASE_URL: the embedded SQLite file ./xuexin.db).
    Serve {
        #[command(flatten)]
        settings: Box<crate::config::Settings>,
    },
    /// The settings: where each value came from, and the table of docs/operations.md.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Create or update the database schema, then exit (over MIGRATION_DATABASE_URL when set).
    Migrate,
    /// Database administration (PostgreSQL), run as the schema's owner.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Import a school's enrolment (学籍) or degree (学历) records from a CSV file (UTF-8 or
    /// GB18030, Chinese headers). Nothing is written if any row is bad, unless --skip-invalid.
    ImportRecords {
        file: std::path::PathBuf,
        /// The school's code (register it first with `xuexin admin add-school`).
        #[arg(long)]
        school: String,
        /// Write the valid rows and report the bad ones.
        #[arg(long)]
        skip_invalid: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Administration: staff accounts, schools.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Developer tools.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
    /// Relay every event to NATS JetStream (as `serve` does when NATS_URL is set), alone.
    Relay,
    /// Read models: rebuild from the log, or check the live ones against a rebuild.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Watch the event stream: one JSON line per event.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Auditing the log: the tamper check, an account's history, a state as of a time.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print every setting's value (secrets as `***`, passwords in URLs masked) and where it
    /// came from: flag, environment, file or default.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the settings table of docs/operations.md as Markdown. With --check FILE, write
    /// nothing and exit 1 if FILE's table differs.
    Table {
        #[arg(long, value_name = "FILE")]
        check: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Migrate, then let ROLE (an existing role) do what the service needs and no more: read
    /// and append events but never update, delete or truncate them; read the migrations;
    /// read and write every other table. Run as the owner (MIGRATION_DATABASE_URL, else
    /// DATABASE_URL) after every upgrade; then run the service as ROLE with --no-migrate.
    GrantRuntimeRole { role: String },
    /// SQLite: copy the live database into FILE, consistent as of one moment, while the
    /// service keeps running (`VACUUM INTO`). PostgreSQL: use pg_dump (docs/operations.md,
    /// Backup and restore).
    Backup {
        /// The copy to write; it must not exist yet.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ProjectionsCommand {
    /// Empty a projection's tables and fold the whole log into them again (all rebuildable
    /// projections when no NAME is given).
    Rebuild { name: Option<String> },
    /// Fold the log into a scratch copy of the schema and compare it with the live tables,
    /// row by row. Exits 1 naming every table that differs.
    Verify {
        /// Print the differences as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Print events from the JetStream stream as they arrive (NATS_URL, default
    /// nats://127.0.0.1:4222).
    Tail {
        /// Only these subjects, e.g. `xuexin.events.Account.>`.
        #[arg(long)]
        subject: Option<String>,
        /// Start from the first stored event instead of new ones.
        #[arg(long)]
        all: bool,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Write the JSON Schema of every published message, one file per event type
    /// (`<DIR>/<AggregateType>/<EventType>.schema.json`), and remove those of event types
    /// that no longer exist. With --check, write nothing and exit 1 naming every file that
    /// differs.
    Schemas {
        #[arg(long, default_value = "docs/events")]
        out: std::path::PathBuf,
        #[arg(long)]
        check: bool,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk every aggregate's hash chain; name each event whose row was edited, deleted or
    /// reordered. Exits 1 if any was.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Everything that happened to an account, across its aggregates, in log order (JSON).
    History { account_id: String },
    /// An aggregate's state as of a time (RFC 3339), folded from its events (JSON).
    AsOf { time: String, aggregate_id: String },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Register a school (or update its name and province).
    AddSchool {
        /// 5-digit school code (院校代码).
        #[arg(long)]
        code: String,
        /// Full name, exactly as the school's files write 学校名称.
        #[arg(long)]
        name: String,
        /// Province, for the provincial authority that approves its degree corrections.
        #[arg(long)]
        province: String,
    },
    /// Create a staff account (reviewer, registrar, provincial_authority,
    /// conscription_office, auditor, administrator). Prints its id, and the password when
    /// one was generated.
    CreateStaff {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["reviewer", "registrar", "provincial_authority", "conscription_office", "auditor", "administrator"])]
        role: String,
        /// School code (registrar), province (provincial_authority), office (conscription_office).
        #[arg(long)]
        scope: Option<String>,
        /// Shown in the staff member's profile.
        #[arg(long)]
        name: Option<String>,
        /// A conscription office's telephone: people whose registration the office's accounts
        /// protect are told to call it (请联系…协助修改密码).
        #[arg(long)]
        phone: Option<String>,
        /// Read the password from the first line of standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a staff member's second factor (a lost phone): their sessions end, and their
    /// next login enrols a new one. Recorded as `SecondFactorReset` by `system:admin-cli`.
    ResetFactor {
        #[arg(long)]
        username: String,
    },
    /// The partner platforms that sign people in with xuexin (OpenID Connect relying parties).
    Platform {
        #[command(subcommand)]
        command: PlatformCli,
    },
    /// The OpenID provider's ID-token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCli,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCli {
    /// Make a new signing key; the current ones stay published (in the JWKS) until the last
    /// token they signed has expired, then drop out.
    Rotate,
    /// Every key, with when it was made, retired, and published until.
    List,
}

#[derive(Subcommand)]
pub enum PlatformCli {
    /// Register a platform. A confidential one (the default) gets a client secret, printed
    /// once and kept only as a keyed digest; a public one (--public) must use PKCE.
    Add {
        /// 2 to 64 of a-z 0-9 - _ .
        #[arg(long)]
        client_id: String,
        /// Shown on the login and consent pages.
        #[arg(long)]
        name: String,
        /// A public client (a mobile or browser app that cannot keep a secret).
        #[arg(long)]
        public: bool,
        /// An exact redirect URI (https, or http to a loopback host); repeat for more.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may return to; repeat for more.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Where back-channel logout tokens are posted.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// Scopes it may ask for: openid, profile, phone, email, identity, records (comma
        /// separated or repeated; openid is always included).
        #[arg(
            long = "scope",
            value_delimiter = ',',
            default_value = "openid,profile"
        )]
        scopes: Vec<String>,
        /// Platforms of one sector see a person under the same pairwise subject (default: the
        /// client_id, a sector of its own).
        #[arg(long)]
        sector: Option<String>,
        /// Print JSON (with the secret) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the platforms (never a secret).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Give a confidential platform a new secret, printed once; the old one stops working.
    RotateSecret { client_id: String },
    /// Disable a platform: it can no longer sign anyone in.
    Disable { client_id: String },
}

#[derive(Subcommand)]
pub enum DevCommand {
    /// Print the current code of a TOTP secret, as an authenticator app shows it (for trying
    /// a staff login from a shell; the secret is what `/api/v1/staff/second-factor` gives
    /// the session enrolling).
    Totp {
        /// The base32 secret.
        secret: String,
    },
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
        /// Print only the newest SMS code (`code`), e-mail link token (`token`) or captcha
        /// answer (`captcha`, with `--to` the captcha id).
        #[arg(long, value_parser = ["code", "token", "captcha"])]
        extract: Option<String>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { settings } => {
            let config = settings.into_config()?;
            let app = Application::build(config).await?;
            // The provider's signing key is made at the first start (not at the first sign-in).
            app.state().sso.keys.ensure().await?;
            app.run_until(shutdown_signal()).await
        }
        Command::Config {
            command: ConfigCommand::Show { json },
        } => {
            let (parsed, settings) = crate::config::Settings::resolve(std::iter::empty())?;
            if json {
                let rows: Vec<_> = settings
                    .iter()
                    .map(|(id, value, source)| {
                        serde_json::json!({"setting": id, "value": value, "source": source.as_str()})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for (id, value, source) in settings {
                    let value = value.unwrap_or_else(|| "(unset)".into());
                    println!("{id} = {value}  ({})", source.as_str());
                }
            }
            // The same checks as `serve` makes at start.
            parsed.into_config().map(|_| ())
        }
        Command::Config {
            command: ConfigCommand::Table { check },
        } => {
            let table = crate::config::settings_table();
            match check {
                None => {
                    print!("{table}");
                    Ok(())
                }
                Some(path) => {
                    let doc = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    match crate::config::table_in(&doc) {
                        Some(found) if found == table.trim_matches('\n') => {
                            println!("{}: the settings table is current", path.display());
                            Ok(())
                        }
                        Some(_) => anyhow::bail!(
                            "{}: the settings table differs from the code; paste `xuexin config table` between its markers",
                            path.display()
                        ),
                        None => anyhow::bail!(
                            "{}: no settings table (markers {:?} … {:?})",
                            path.display(),
                            crate::config::TABLE_BEGIN,
                            crate::config::TABLE_END
                        ),
                    }
                }
            }
        }
        Command::Migrate => {
            let mut config = Config::from_env()?;
            config.migrate = true;
            let db = open_database(&config).await?;
            println!("database schema is up to date ({})", db.backend().as_str());
            db.close().await;
            Ok(())
        }
        Command::Db {
            command: DbCommand::Backup { file },
        } => {
            let config = Config::from_env()?;
            if !config.is_sqlite() {
                anyhow::bail!(
                    "xuexin db backup is for the SQLite file; back up PostgreSQL with pg_dump -Fc \
                     (docs/operations.md, Backup and restore)"
                );
            }
            if file.exists() {
                anyhow::bail!("{} exists; name a new file", file.display());
            }
            let target = file.to_str().context("the backup's path must be UTF-8")?;
            let db = crate::store::connect(&config.database_url, 1).await?;
            let outcome = async {
                let (events,): (i64,) = xuexin_projections::on_db!(&db, pool => {
                    sqlx::query_as("SELECT COUNT(*) FROM events").fetch_one(pool).await?
                });
                xuexin_projections::db_execute!(&db, "VACUUM INTO $1", target)?;
                anyhow::Ok(events)
            }
            .await;
            db.close().await;
            let events = outcome.context("the backup failed")?;
            let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            println!(
                "backed up to {} ({bytes} bytes; at least {events} events); keep it with the digest key if XUEXIN_DIGEST_KEY is set",
                file.display()
            );
            Ok(())
        }
        Command::Db {
            command: DbCommand::GrantRuntimeRole { role },
        } => {
            let config = Config::from_env()?;
            let owner_url = config
                .migration_database_url
                .clone()
                .unwrap_or_else(|| config.database_url.clone());
            if config.is_sqlite() {
                anyhow::bail!(crate::store::runtime_role::SQLITE_HAS_NO_ROLES);
            }
            let db = crate::store::connect(&owner_url, 2).await?;
            let outcome = async {
                crate::store::migrate(&db).await?;
                crate::store::runtime_role::grant(&db, &role).await
            }
            .await;
            db.close().await;
            let schema = outcome?;
            println!(
                "{role} may read and append events (never update, delete or truncate them), read \
                 the migrations and read and write the other tables of schema {schema}; run this \
                 again after every upgrade"
            );
            Ok(())
        }
        Command::ImportRecords {
            file,
            school,
            skip_invalid,
            json,
        } => import_records(&file, &school, skip_invalid, json).await,
        Command::Admin {
            command:
                AdminCommand::AddSchool {
                    code,
                    name,
                    province,
                },
        } => {
            let runtime = crate::startup::Runtime::open(Config::from_env()?).await?;
            crate::application::staff::add_school(
                &runtime.state.account,
                &code,
                &name,
                &province,
                &crate::store::CommandMetadata::system("admin-cli"),
            )
            .await?;
            runtime.catch_up().await?;
            println!("school {code} {name} registered");
            runtime.state.db.close().await;
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::CreateStaff {
                    username,
                    role,
                    scope,
                    name,
                    phone,
                    password_stdin,
                },
        } => {
            let role = xuexin_domain::roles::StaffRole::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("unknown role {role}"))?;
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                // 20 random URL-safe characters (~120 bits) inside the 30-character rule.
                (format!("Xx-{}", &crate::security::new_token()[..20]), true)
            };
            let runtime = crate::startup::Runtime::open(Config::from_env()?).await?;
            let account_id = crate::application::staff::create_staff(
                &runtime.state.account,
                crate::application::staff::NewStaff {
                    display_name: name.unwrap_or_else(|| username.clone()),
                    username: username.clone(),
                    role,
                    scope,
                    contact_phone: phone,
                    password: xuexin_domain::values::Secret::new(password.clone()),
                },
                &crate::store::CommandMetadata::system("admin-cli"),
            )
            .await?;
            runtime.catch_up().await?;
            println!("created {} {username} ({account_id})", role.as_str());
            if generated {
                println!("password (shown once): {password}");
            }
            println!(
                "the first login at /staff/login enrols a second factor (an authenticator app)"
            );
            runtime.state.db.close().await;
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::ResetFactor { username },
        } => {
            let runtime = crate::startup::Runtime::open(Config::from_env()?).await?;
            let name = xuexin_domain::roles::parse_staff_username(&username)
                .ok_or_else(|| anyhow::anyhow!("{username} is not a staff username"))?;
            let holder = runtime
                .state
                .store
                .load::<xuexin_domain::login_name::LoginName>(
                    &xuexin_domain::ids::login_name_id(
                        xuexin_domain::ids::LoginNameKind::Staff,
                        &name,
                    )
                    .to_string(),
                )
                .await?
                .aggregate
                .holder()
                .ok_or_else(|| anyhow::anyhow!("no staff member is called {name}"))?;
            runtime
                .state
                .account
                .reset_factor(holder, &crate::store::CommandMetadata::system("admin-cli"))
                .await
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            runtime.catch_up().await?;
            println!("the second factor of {name} is reset; the next login enrols a new one");
            runtime.state.db.close().await;
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Platform { command },
        } => platform_command(command).await,
        Command::Admin {
            command: AdminCommand::Keys { command },
        } => keys_command(command).await,
        Command::Relay => {
            let config = Config::from_env()?;
            let url = config
                .nats_url
                .clone()
                .ok_or_else(|| anyhow::anyhow!("set NATS_URL (e.g. nats://127.0.0.1:4222)"))?;
            let db = open_database(&config).await?;
            let (trigger, shutdown) = crate::shutdown::channel();
            let relay = crate::relay::Relay::new(
                db.clone(),
                crate::relay::RelayConfig::new(&url, &config.nats_stream, config.nats_internal),
            );
            let commits = std::sync::Arc::new(tokio::sync::Notify::new());
            let running = tokio::spawn(relay.run(commits, shutdown));
            eprintln!("relaying events to {url}, stream {}", config.nats_stream);
            shutdown_signal().await;
            trigger.trigger();
            let _ = running.await;
            db.close().await;
            Ok(())
        }
        Command::Events {
            command: EventsCommand::Schemas { out, check },
        } => {
            if check {
                let problems = crate::event_schemas::check(&out)?;
                for problem in &problems {
                    println!("{problem}");
                }
                if !problems.is_empty() {
                    anyhow::bail!(
                        "{} schema file(s) in {} are out of date",
                        problems.len(),
                        out.display()
                    );
                }
                println!("{} is up to date", out.display());
            } else {
                let written = crate::event_schemas::write(&out)?;
                println!("wrote {written} schemas to {}", out.display());
            }
            Ok(())
        }
        Command::Events {
            command:
                EventsCommand::Tail {
                    subject,
                    all,
                    count,
                },
        } => {
            let config = Config::from_env()?;
            let url = config
                .nats_url
                .clone()
                .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string());
            tail_events(&url, &config.nats_stream, subject, all, count).await
        }
        Command::Projections { command } => {
            let config = Config::from_env()?;
            let db = open_database(&config).await?;
            let outcome = projections_command(&db, &config.database_url, command).await;
            db.close().await;
            outcome
        }
        Command::Audit { command } => {
            let config = Config::from_env()?;
            let db = open_database(&config).await?;
            let outcome = audit_command(&db, command).await;
            db.close().await;
            outcome
        }
        Command::Dev {
            command: DevCommand::Totp { secret },
        } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            let code = crate::application::factor::code_at(&secret, now)
                .ok_or_else(|| anyhow::anyhow!("not a base32 TOTP secret of 16 bytes or more"))?;
            println!("{code}");
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
                    if let Some(value) = messages.iter().find_map(|m| match what.as_str() {
                        "captcha" => (m.channel == "captcha").then(|| m.body.trim().to_string()),
                        _ => extract_secret(&m.body, &what),
                    }) {
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

async fn import_records(
    file: &std::path::Path,
    school: &str,
    skip_invalid: bool,
    json: bool,
) -> anyhow::Result<()> {
    use crate::application::import::{import_file, ImportError, Phase};
    if !file.is_file() {
        anyhow::bail!("{} is not a file", file.display());
    }
    let runtime = crate::startup::Runtime::open(Config::from_env()?).await?;
    let lines = count_lines(file)?;
    let bar = indicatif::ProgressBar::new(lines.saturating_sub(1).max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>8} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let metadata = crate::store::CommandMetadata::system("import-records");
    let progress_bar = bar.clone();
    let result = import_file(
        &runtime.state.records,
        file,
        school,
        skip_invalid,
        &metadata,
        &move |phase, rows| {
            progress_bar.set_prefix(match phase {
                Phase::Validating => "checking",
                Phase::Writing => "writing",
            });
            progress_bar.set_position(rows);
        },
    )
    .await;
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(ImportError::File(reason)) => {
            runtime.state.db.close().await;
            anyhow::bail!(
                "{}",
                crate::messages::format("import_file_invalid_reason", &[("reason", &reason)])
            )
        }
        Err(ImportError::Internal(error)) => return Err(error),
    };
    // The records reach the views through the service's projectors (`xuexin serve`).
    runtime.state.db.close().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} ({}, {}): {} rows, {} valid, {} invalid",
            file.display(),
            report.kind,
            report.encoding,
            report.rows,
            report.valid,
            report.invalid
        );
        for problem in &report.problems {
            println!("  {}", import_line("cli.import_row", problem));
        }
        for problem in &report.refused {
            println!("  {}", import_line("cli.import_row_not_written", problem));
        }
        if report.written {
            println!(
                "written: {} registered, {} corrected, {} correction requests, {} unchanged",
                report.registered, report.corrected, report.correction_requested, report.unchanged
            );
        }
    }
    if !report.written {
        anyhow::bail!(
            "{} row(s) are invalid; nothing was written (use --skip-invalid to import the rest)",
            report.invalid
        );
    }
    Ok(())
}

/// Lines in a file, read in chunks (a newline byte never occurs inside a GB18030 character).
fn count_lines(file: &std::path::Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut reader = std::fs::File::open(file)?;
    let mut chunk = vec![0u8; 256 * 1024];
    let mut lines = 0u64;
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += chunk[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

async fn projections_command(
    db: &crate::store::Db,
    database_url: &str,
    command: ProjectionsCommand,
) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::Rebuild { name } => {
            let projections = match name {
                Some(name) => vec![crate::rebuild::by_name(&name)?],
                None => crate::rebuild::rebuildable(),
            };
            let total = crate::store::log::head(db).await?;
            let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
            let names = names.join(", ");
            let started = std::time::Instant::now();
            let applied = crate::rebuild::rebuild(db, &projections, |applied| {
                eprint!("\r{names}: {applied}/{total} events");
            })
            .await?;
            eprintln!();
            println!(
                "{names}: rebuilt from {applied} events in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        ProjectionsCommand::Verify { json } => {
            let total = crate::store::log::head(db).await?;
            let differences = crate::rebuild::verify(db, database_url, |folded| {
                if !json {
                    eprint!("\rfolded {folded}/{total} events");
                }
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&differences)?);
            } else {
                eprintln!();
                for d in &differences {
                    println!(
                        "{} differs ({}): {} live rows, {} rebuilt",
                        d.table, d.projection, d.live_rows, d.rebuilt_rows
                    );
                    for row in &d.only_live {
                        println!("  only live:    {row}");
                    }
                    for row in &d.only_rebuilt {
                        println!("  only rebuilt: {row}");
                    }
                }
                if differences.is_empty() {
                    println!("every read model equals a rebuild from the log");
                }
            }
            if !differences.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

async fn tail_events(
    url: &str,
    stream: &str,
    subject: Option<String>,
    all: bool,
    count: Option<u64>,
) -> anyhow::Result<()> {
    use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    use futures::StreamExt;
    let client = async_nats::connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach NATS at {url}: {e}"))?;
    let context = async_nats::jetstream::new(client);
    let stream = context
        .get_stream(stream)
        .await
        .map_err(|e| anyhow::anyhow!("no stream {stream}: {e}"))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: subject.unwrap_or_default(),
            deliver_policy: if all {
                DeliverPolicy::All
            } else {
                DeliverPolicy::New
            },
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot follow the stream: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("cannot follow the stream: {e}"))?;
    let mut seen = 0;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| anyhow::anyhow!("stream interrupted: {e}"))?;
        println!(
            "{}",
            crate::relay::tail_line(message.subject.as_str(), &message.payload)
        );
        seen += 1;
        if count.is_some_and(|c| seen >= c) {
            break;
        }
    }
    Ok(())
}

async fn audit_command(db: &crate::store::Db, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { json } => {
            let started = std::time::Instant::now();
            let report = crate::audit::verify(db, |checked| {
                if !json {
                    eprint!("\rverified {checked} events");
                }
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                eprintln!();
                for finding in &report.findings {
                    println!(
                        "{}\tposition {}\t{} {} #{}",
                        finding.problem,
                        finding.position,
                        finding.aggregate_type,
                        finding.aggregate_id,
                        finding.sequence
                    );
                }
                println!(
                    "{} events in {} aggregates checked in {:.1}s: {}",
                    report.events,
                    report.aggregates,
                    started.elapsed().as_secs_f64(),
                    if report.findings.is_empty() {
                        "the chain is intact".to_string()
                    } else {
                        format!("{} problems", report.findings.len())
                    }
                );
            }
            if !report.findings.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        AuditCommand::History { account_id } => {
            let id = xuexin_domain::AccountId::parse(account_id.trim())
                .ok_or_else(|| anyhow::anyhow!("ACCOUNT must be an account id (a UUID)"))?;
            let events = crate::audit::account_history(db, &id.to_string()).await?;
            if events.is_empty() {
                anyhow::bail!("no events name account {account_id}");
            }
            println!("{}", serde_json::to_string_pretty(&events)?);
            Ok(())
        }
        AuditCommand::AsOf { time, aggregate_id } => {
            let at = xuexin_domain::Timestamp::parse_rfc3339(time.trim()).ok_or_else(|| {
                anyhow::anyhow!("TIME must be RFC 3339, e.g. 2026-11-23T08:00:00Z")
            })?;
            let Some(kind) = crate::audit::aggregate_type_of(db, aggregate_id.trim()).await? else {
                anyhow::bail!("no aggregate {aggregate_id} in the log");
            };
            match crate::audit::as_of(db, &kind, aggregate_id.trim(), at).await? {
                Some(state) if state.version > 0 => {
                    println!("{}", serde_json::to_string_pretty(&state)?);
                    Ok(())
                }
                _ => anyhow::bail!("{kind} {aggregate_id} had no events by {time}"),
            }
        }
    }
}

/// One bad row of an import report, as the catalogue words it.
fn import_line(key: &str, problem: &crate::application::import::RowProblem) -> String {
    let separator = match crate::messages::current() {
        crate::messages::Language::Zh => "；",
        crate::messages::Language::En => "; ",
    };
    crate::messages::format(
        key,
        &[
            ("line", &problem.line.to_string()),
            ("reasons", &problem.reasons.join(separator)),
        ],
    )
}

/// The 6-digit code of an SMS (the first run of six digits, in either language) or the token
/// of a mailed link.
fn extract_secret(body: &str, what: &str) -> Option<String> {
    if what == "code" {
        return body
            .split(|c: char| !c.is_ascii_digit())
            .find(|run| run.len() == 6)
            .map(str::to_string);
    }
    let start = body.find("token=")? + "token=".len();
    let value: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
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

fn platform_refusal(
    client_id: &str,
    error: crate::application::platforms::PlatformUseError,
) -> anyhow::Error {
    use crate::application::platforms::PlatformUseError;
    // The catalogue's words for a refusal (as the console shows them), with its stable code.
    let code = error.code();
    let text = crate::messages::text_in(code, crate::messages::Language::En);
    match error {
        PlatformUseError::Internal(error) => anyhow::anyhow!("{client_id}: {error:#}"),
        _ => anyhow::anyhow!("{client_id}: {code}: {text}"),
    }
}

async fn keys_command(command: KeysCli) -> anyhow::Result<()> {
    let runtime = crate::startup::Runtime::open(Config::from_env()?).await?;
    let keys = runtime.state.sso.keys.clone();
    let time =
        |millis: i64| crate::messenger::beijing_time(xuexin_domain::Timestamp::from_millis(millis));
    let outcome = async {
        match command {
            KeysCli::Rotate => {
                // The longest a token signed by the old key lives: an ID token (a logout
                // token lives less).
                let overlap = std::time::Duration::from_millis(
                    crate::application::sso::ID_TOKEN_TTL_MS as u64,
                ) + std::time::Duration::from_secs(60);
                let (kid, retired) = keys.rotate(overlap).await?;
                println!("new signing key {kid}");
                for old in retired {
                    println!(
                        "retired {old}: published for {} more seconds",
                        overlap.as_secs()
                    );
                }
            }
            KeysCli::List => {
                for key in keys.list().await? {
                    let state = match (key.retired_at, key.published_until) {
                        (None, _) => "signing".to_string(),
                        (Some(_), Some(until)) => {
                            format!("retired, published until {}", time(until))
                        }
                        (Some(_), None) => "retired".to_string(),
                    };
                    println!("{}  made {}  {state}", key.kid, time(key.created_at));
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    runtime.state.db.close().await;
    outcome
}

async fn platform_command(command: PlatformCli) -> anyhow::Result<()> {
    let runtime = crate::startup::Runtime::open(Config::from_env()?).await?;
    let platforms = crate::application::platforms::Platforms {
        store: runtime.state.store.clone(),
        db: runtime.state.db.clone(),
        digest: runtime.state.digest.clone(),
    };
    let metadata = crate::store::CommandMetadata::system("admin-cli");
    let outcome = async {
        match command {
            PlatformCli::Add {
                client_id,
                name,
                public,
                redirect_uris,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                scopes,
                sector,
                json,
            } => {
                let settings = xuexin_domain::platform::PlatformSettings {
                    name,
                    kind: if public {
                        xuexin_domain::platform::ClientKind::Public
                    } else {
                        xuexin_domain::platform::ClientKind::Confidential
                    },
                    redirect_uris,
                    post_logout_redirect_uris,
                    backchannel_logout_uri,
                    scopes,
                    sector: sector.unwrap_or_default(),
                };
                let secret = platforms
                    .register(&client_id, settings, &metadata)
                    .await
                    .map_err(|e| platform_refusal(&client_id, e))?;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"client_id": client_id, "client_secret": secret})
                    );
                } else {
                    println!("platform {client_id} registered");
                    if let Some(secret) = secret {
                        println!("client_secret: {secret}");
                        println!("(shown this once: give it to the platform's operators over a safe channel)");
                    }
                }
            }
            PlatformCli::List { json } => {
                let all = platforms
                    .list()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&all)?);
                } else if all.is_empty() {
                    println!("no platform is registered");
                } else {
                    for p in all {
                        println!(
                            "{}\t{}\t{}\t{}\tscopes={}\tsector={}\tredirect_uris={}",
                            p.client_id,
                            p.settings.name,
                            match p.settings.kind {
                                xuexin_domain::platform::ClientKind::Confidential => "confidential",
                                xuexin_domain::platform::ClientKind::Public => "public",
                            },
                            if p.disabled { "disabled" } else { "enabled" },
                            p.settings.scopes.join(","),
                            p.settings.sector,
                            p.settings.redirect_uris.join(","),
                        );
                    }
                }
            }
            PlatformCli::RotateSecret { client_id } => {
                let secret = platforms
                    .rotate_secret(&client_id, &metadata)
                    .await
                    .map_err(|e| platform_refusal(&client_id, e))?;
                println!("client_secret: {secret}");
                println!("(shown this once; the old secret no longer works)");
            }
            PlatformCli::Disable { client_id } => {
                platforms
                    .disable(&client_id, &metadata)
                    .await
                    .map_err(|e| platform_refusal(&client_id, e))?;
                println!("platform {client_id} is disabled");
            }
        }
        anyhow::Ok(())
    }
    .await;
    runtime.state.db.close().await;
    outcome
}
