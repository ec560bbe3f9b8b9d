//! Storage: connecting to PostgreSQL or SQLite, migrations, the event store and the log.

pub mod chain;
pub mod event_store;
pub mod group_commit;
pub mod log;
pub mod row;
pub mod runtime_role;
pub mod tail;
pub mod tickets;

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;
use xuexin_projections::{db_execute, on_db};
pub use xuexin_projections::{Backend, Db};

pub use event_store::{BatchOutcome, CommandMetadata, Committed, EventStore, ExecuteError, Loaded};
pub use row::EventRow;

/// The SQLite file used when no `DATABASE_URL` is given.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://xuexin.db";

/// `postgres://…` selects PostgreSQL; `sqlite://…` (or nothing) the embedded SQLite file.
pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<Db> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(database_url)
            .await
            .context("failed to connect to PostgreSQL")?;
        tracing::info!(
            database = %crate::gateways::redact::url(database_url),
            "opened the PostgreSQL database"
        );
        Ok(Db::Postgres(pool))
    } else if database_url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(database_url).context("invalid SQLite URL")?;
        let file = options.get_filename().to_path_buf();
        let in_memory = file.as_os_str().is_empty() || database_url.contains(":memory:");
        let existed = in_memory || file.exists();
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(30))
            .pragma("foreign_keys", "ON")
            // So that INSERT OR REPLACE fires the append-only DELETE trigger on events.
            .pragma("recursive_triggers", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.clamp(1, 16))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .context("failed to open the SQLite database")?;
        let shown = std::path::absolute(&file).unwrap_or(file);
        if existed {
            tracing::info!(database = %shown.display(), "opened the SQLite database");
        } else {
            // Run in the wrong folder, a command would otherwise work on an empty database
            // without a word.
            tracing::warn!(
                database = %shown.display(),
                "created a new, empty SQLite database (is DATABASE_URL right?)"
            );
        }
        Ok(Db::Sqlite(pool))
    } else {
        anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:")
    }
}

#[tracing::instrument(skip_all, fields(backend = db.backend().as_str()))]
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    let migrator = migrator(db);
    match db {
        Db::Postgres(pool) => migrator
            .run(pool)
            .await
            .context("failed to migrate PostgreSQL")?,
        Db::Sqlite(pool) => migrator
            .run(pool)
            .await
            .context("failed to migrate SQLite")?,
    }
    Ok(())
}

fn migrator(db: &Db) -> sqlx::migrate::Migrator {
    match db {
        Db::Postgres(_) => sqlx::migrate!("migrations/postgres"),
        Db::Sqlite(_) => sqlx::migrate!("migrations/sqlite"),
    }
}

/// Fails unless every migration this build knows has been applied (for a service that does not
/// migrate: `--no-migrate`, or a runtime role that cannot). Needs only `SELECT` on
/// `_sqlx_migrations`.
pub async fn check_schema(db: &Db) -> anyhow::Result<()> {
    let applied: Result<Vec<(i64,)>, sqlx::Error> = on_db!(db, pool => {
        sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
    });
    let applied: Vec<i64> = match applied {
        Ok(rows) => rows.into_iter().map(|(v,)| v).collect(),
        Err(error) => anyhow::bail!(
            "the database has no migrations this service can read ({error}); run `xuexin migrate` \
             as the schema's owner"
        ),
    };
    let pending: Vec<String> = migrator(db)
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    if !pending.is_empty() {
        anyhow::bail!(
            "the database schema is behind this version of xuexin ({} not applied: {}); run \
             `xuexin migrate` as the schema's owner (or set MIGRATION_DATABASE_URL)",
            pending.len(),
            pending.join(", ")
        );
    }
    Ok(())
}

/// A key the service generates for itself once and keeps in the database (hex). Racing
/// starters agree: the first insert wins and everyone reads it back.
pub async fn service_key(db: &Db, name: &str, now_millis: i64) -> anyhow::Result<Vec<u8>> {
    let candidate = hex::encode(crate::security::random_bytes::<32>());
    db_execute!(
        db,
        "INSERT INTO service_keys (name, value, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING",
        name,
        &candidate,
        now_millis,
    )
    .context("failed to store a service key")?;
    let (value,): (String,) = on_db!(db, pool => {
        sqlx::query_as("SELECT value FROM service_keys WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await
            .context("failed to read a service key")?
    });
    hex::decode(value).context("a service key is not hex")
}
