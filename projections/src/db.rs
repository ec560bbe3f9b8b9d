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

/// A bind parameter of a statement built at run time (multi-row writes).
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Text(String),
    OptionalText(Option<String>),
    Int(i64),
    OptionalInt(Option<i64>),
    Bool(bool),
    OptionalBool(Option<bool>),
}

/// Rows per multi-row statement on SQLite: well below its limit on bind parameters (32,766)
/// for rows of up to a dozen columns.
pub const ROWS_PER_STATEMENT: usize = 1000;

/// Runs `head <rows> tail`, where `<rows>` is a row source whose columns are named `column1`,
/// `column2`, …: on SQLite `VALUES (…), (…)` in chunks, on PostgreSQL one
/// `SELECT * FROM UNNEST($1::text[], …)` with an array per column (a VALUES list of thousands
/// of parameters costs PostgreSQL more to parse and plan than the write itself). `types`
/// names each column's SQL type: `TEXT`, `BIGINT` or `BOOLEAN`. Returns rows affected.
pub async fn execute_rows(
    tx: &mut Tx,
    head: &str,
    types: &[&str],
    tail: &str,
    rows: &[Vec<Param>],
) -> sqlx::Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    match tx {
        Tx::Postgres(tx) => {
            let arrays: Vec<String> = types
                .iter()
                .enumerate()
                .map(|(c, t)| format!("${}::{}[]", c + 1, t.to_ascii_lowercase()))
                .collect();
            let names: Vec<String> = (1..=types.len()).map(|c| format!("column{c}")).collect();
            let sql = format!(
                "{head} SELECT * FROM UNNEST({}) AS u({}) {tail}",
                arrays.join(", "),
                names.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (c, column_type) in types.iter().enumerate() {
                let cells = rows.iter().map(|row| row.get(c));
                query = match *column_type {
                    "BIGINT" => query.bind(
                        cells
                            .map(|p| match p {
                                Some(Param::Int(v)) => Some(*v),
                                Some(Param::OptionalInt(v)) => *v,
                                _ => None,
                            })
                            .collect::<Vec<Option<i64>>>(),
                    ),
                    "BOOLEAN" => query.bind(
                        cells
                            .map(|p| match p {
                                Some(Param::Bool(v)) => Some(*v),
                                Some(Param::OptionalBool(v)) => *v,
                                _ => None,
                            })
                            .collect::<Vec<Option<bool>>>(),
                    ),
                    _ => query.bind(
                        cells
                            .map(|p| match p {
                                Some(Param::Text(v)) => Some(v.clone()),
                                Some(Param::OptionalText(v)) => v.clone(),
                                _ => None,
                            })
                            .collect::<Vec<Option<String>>>(),
                    ),
                };
            }
            Ok(query.execute(&mut **tx).await?.rows_affected())
        }
        Tx::Sqlite(tx) => {
            let width = types.len();
            let mut affected = 0;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut sql =
                    String::with_capacity(head.len() + tail.len() + chunk.len() * width * 24);
                sql.push_str(head);
                sql.push_str(" VALUES ");
                let mut n = 0;
                for (r, row) in chunk.iter().enumerate() {
                    debug_assert_eq!(row.len(), width);
                    if r > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('(');
                    for (c, column_type) in types.iter().enumerate() {
                        n += 1;
                        if c > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!("CAST(${n} AS {column_type})"));
                    }
                    sql.push(')');
                }
                sql.push(' ');
                sql.push_str(tail);
                // A statement per chunk size: keep only the one-row form in the connection's
                // statement cache, not one prepared statement per size ever seen.
                let mut query = sqlx::query(&sql).persistent(chunk.len() == 1);
                for param in chunk.iter().flatten() {
                    query = match param {
                        Param::Text(v) => query.bind(v.as_str()),
                        Param::OptionalText(v) => query.bind(v.as_deref()),
                        Param::Int(v) => query.bind(*v),
                        Param::OptionalInt(v) => query.bind(*v),
                        Param::Bool(v) => query.bind(*v),
                        Param::OptionalBool(v) => query.bind(*v),
                    };
                }
                affected += query.execute(&mut **tx).await?.rows_affected();
            }
            Ok(affected)
        }
    }
}
