//! The service's runtime role on PostgreSQL: a role that can read and append events but never
//! change or remove one, by privileges (the append-only triggers of migration 0007 stay as the
//! second line). The schema's owner runs the migrations (`xuexin migrate`, or
//! `MIGRATION_DATABASE_URL`) and grants; the service connects as the runtime role.
//!
//! SQLite has no roles: there the triggers are the only guard (docs/operations.md).

use anyhow::{bail, Context};
use xuexin_projections::Db;

/// Why `grant` refuses on SQLite.
pub const SQLITE_HAS_NO_ROLES: &str = "SQLite has no roles: the append-only triggers are its \
     only guard against changing events (docs/operations.md)";

/// Tables the runtime role may read but not write.
const READ_ONLY: [&str; 1] = ["_sqlx_migrations"];
/// Tables the runtime role may read and append to, nothing else.
const APPEND_ONLY: [&str; 1] = ["events"];

/// `"name"`, with embedded quotes doubled.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The statements that give `role` what the service needs in `schema`, and no more on the
/// append-only and read-only tables. Idempotent: run again after every upgrade.
pub fn grant_statements(schema: &str, role: &str) -> Vec<String> {
    let schema = quote_identifier(schema);
    let role = quote_identifier(role);
    let mut statements = vec![
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {schema} TO {role}"
        ),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
        // Tables and sequences later migrations create (as the same owner) are granted alike;
        // running this command again after an upgrade re-applies the exceptions below.
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} \
             GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {role}"
        ),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} \
             GRANT USAGE, SELECT ON SEQUENCES TO {role}"
        ),
    ];
    for table in APPEND_ONLY {
        statements.push(format!(
            "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {schema}.{table} FROM {role}"
        ));
        statements.push(format!(
            "GRANT SELECT, INSERT ON {schema}.{table} TO {role}"
        ));
    }
    for table in READ_ONLY {
        statements.push(format!(
            "REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER \
             ON {schema}.{table} FROM {role}"
        ));
        statements.push(format!("GRANT SELECT ON {schema}.{table} TO {role}"));
    }
    statements
}

/// Grants `role` (an existing PostgreSQL role) the runtime privileges on the current schema,
/// in one transaction. Run as the schema's owner, after the migrations.
pub async fn grant(db: &Db, role: &str) -> anyhow::Result<String> {
    let Db::Postgres(pool) = db else {
        bail!(SQLITE_HAS_NO_ROLES);
    };
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT rolname::text FROM pg_roles WHERE rolname = $1")
            .bind(role)
            .fetch_optional(pool)
            .await
            .context("failed to look the role up")?;
    if exists.is_none() {
        bail!(
            "there is no role {role}: create it first, e.g. CREATE ROLE {} LOGIN PASSWORD '…'",
            quote_identifier(role)
        );
    }
    let (superuser, owns): (bool, bool) = sqlx::query_as(
        "SELECT r.rolsuper, pg_has_role(r.oid, (SELECT relowner FROM pg_class
                                                 WHERE oid = 'events'::regclass), 'USAGE')
           FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(role)
    .fetch_one(pool)
    .await
    .context("failed to read the role's attributes")?;
    if superuser || owns {
        bail!(
            "{role} is a superuser or owns the event table (or is a member of its owner): \
             privileges cannot stop it; use a role of its own"
        );
    }
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(pool)
        .await
        .context("failed to read the current schema")?;
    let mut tx = pool.begin().await?;
    for statement in grant_statements(&schema, role) {
        sqlx::query(&statement)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("failed: {statement}"))?;
    }
    tx.commit().await?;
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_events_keep_only_select_and_insert() {
        let statements = grant_statements("public", "app\"; DROP TABLE events; --");
        assert!(statements[0].ends_with("TO \"app\"\"; DROP TABLE events; --\""));
        let events: Vec<&String> = statements
            .iter()
            .filter(|s| s.contains("\"public\".events"))
            .collect();
        assert_eq!(events.len(), 2);
        assert!(events[0].starts_with("REVOKE UPDATE, DELETE, TRUNCATE"));
        assert!(events[1].starts_with("GRANT SELECT, INSERT ON"));
        // The revocation comes after the grant on all tables, which would otherwise win.
        let all = statements
            .iter()
            .position(|s| s.contains("ON ALL TABLES"))
            .unwrap();
        let revoke = statements
            .iter()
            .position(|s| s.starts_with("REVOKE UPDATE, DELETE, TRUNCATE"))
            .unwrap();
        assert!(all < revoke);
    }
}
