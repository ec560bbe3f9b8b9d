//! One handle for both backends. The read models and plain tables use the SQL that PostgreSQL
//! and SQLite share (`$n` parameters, `ON CONFLICT`, `RETURNING`), ids as text and times as
//! Unix milliseconds, so each statement is written once and run through `on_db!`/`on_tx!`,
//! which expand it for each backend's own typed connection.

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

pub enum Tx {
    Postgres(sqlx::Transaction<'static, Postgres>),
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`), so
    /// that a transaction which reads before it writes waits its turn instead of failing.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Self::Postgres(tx) => tx.commit().await,
            Self::Sqlite(tx) => tx.commit().await,
        }
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        match self {
            Self::Postgres(tx) => tx.rollback().await,
            Self::Sqlite(tx) => tx.rollback().await,
        }
    }
}

/// Runs `$body` with `$conn` bound to the backend's pool (`&PgPool` or `&SqlitePool`).
#[macro_export]
macro_rules! on_db {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres($conn) => $body,
            $crate::db::Db::Sqlite($conn) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the transaction's connection.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::db::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

/// Executes one statement in a transaction with the given binds; yields rows affected.
#[macro_export]
macro_rules! tx_execute {
    ($tx:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::on_tx!($tx, conn => {
            sqlx::query($sql)$(.bind($arg))*.execute(conn).await.map(|done| done.rows_affected())
        })
    };
}

/// Executes one statement on the pool with the given binds; yields rows affected.
#[macro_export]
macro_rules! db_execute {
    ($db:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::on_db!($db, pool => {
            sqlx::query($sql)$(.bind($arg))*.execute(pool).await.map(|done| done.rows_affected())
        })
    };
}
