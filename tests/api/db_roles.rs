//! The service's runtime role on PostgreSQL: after `xuexin db grant-runtime-role`, the service
//! runs as a role that reads and appends events but cannot update, delete or truncate them —
//! refused by privilege (SQLSTATE 42501) before the append-only trigger (P0001) is reached.
//! Roles are cluster-wide: each test makes its own and drops it, with its database, even when
//! an assertion fails.

use crate::helpers::{
    fresh_postgres_database, postgres_admin_url, spawn_app_on, test_config, Person,
};
use reqwest::StatusCode;
use sqlx::Connection;
use xuexin::startup::Application;
use xuexin_projections::{db_execute, Db};

/// A login role of the test's own on a fresh database; both are dropped with the guard.
struct RuntimeRole {
    name: String,
    owner_url: String,
    runtime_url: String,
    _database: crate::helpers::TestDatabase,
}

impl RuntimeRole {
    async fn create() -> Self {
        let database = fresh_postgres_database().await;
        let owner_url = database.url.clone();
        let name = format!(
            "xuexin_test_rt_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
            .await
            .unwrap();
        sqlx::query(&format!("CREATE ROLE \"{name}\" LOGIN"))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut runtime = reqwest::Url::parse(&owner_url).unwrap();
        runtime.set_username(&name).unwrap();
        runtime.set_password(None).unwrap();
        Self {
            runtime_url: runtime.to_string(),
            name,
            owner_url,
            _database: database,
        }
    }
}

impl Drop for RuntimeRole {
    fn drop(&mut self) {
        let name = self.name.clone();
        let database = self
            .owner_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        // A runtime of its own: this may run while the test's runtime unwinds.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
                    .await
                    .unwrap();
                // The role's privileges live in the database: dropping it releases them.
                sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                ))
                .execute(&mut admin)
                .await
                .unwrap();
                sqlx::query(&format!("DROP ROLE IF EXISTS \"{name}\""))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            });
        });
        let _ = cleanup.join();
    }
}

fn sqlstate(result: sqlx::Result<u64>) -> String {
    match result {
        Ok(rows) => panic!("went through ({rows} rows)"),
        Err(sqlx::Error::Database(error)) => error.code().unwrap_or_default().to_string(),
        Err(other) => panic!("not a database error: {other}"),
    }
}

fn xuexin(args: &[&str], database_url: &str, extra: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_xuexin"));
    command.args(args).env("DATABASE_URL", database_url);
    for (key, value) in extra {
        command.env(key, value);
    }
    command.output().expect("the xuexin binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_role_appends_events_and_cannot_change_them() {
    let role = RuntimeRole::create().await;

    // Before the grant: the role can neither migrate nor run on the owner's schema.
    let migrating = Application::build(test_config(role.runtime_url.clone())).await;
    assert!(migrating.is_err(), "the runtime role migrated the schema");
    let unmigrated = Application::build(xuexin::config::Config {
        migrate: false,
        ..test_config(role.runtime_url.clone())
    })
    .await;
    let refused = format!(
        "{:#}",
        unmigrated.err().expect("started on an empty database")
    );
    assert!(refused.contains("xuexin migrate"), "{refused}");

    // The owner migrates and grants; a superuser is refused as a runtime role.
    let superuser = xuexin(
        &["db", "grant-runtime-role", "postgres"],
        &role.owner_url,
        &[],
    );
    assert!(!superuser.status.success());
    assert!(String::from_utf8_lossy(&superuser.stderr).contains("superuser"));
    let granted = xuexin(
        &["db", "grant-runtime-role", &role.name],
        &role.owner_url,
        &[],
    );
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );

    // With the owner's URL for migrations, the service starts as the runtime role.
    let with_owner = Application::build(xuexin::config::Config {
        migration_database_url: Some(role.owner_url.clone()),
        ..test_config(role.runtime_url.clone())
    })
    .await;
    if let Err(error) = &with_owner {
        panic!("{error:#}");
    }
    drop(with_owner);

    // --no-migrate: the service runs as the runtime role; people register and log in.
    let app = spawn_app_on(xuexin::config::Config {
        migrate: false,
        ..test_config(role.runtime_url.clone())
    })
    .await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    let (token, position) = app.login_ok(&person.phone, &person.password).await;
    let me = app
        .get(&format!("/api/v1/me?position={position}"), Some(&token))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    app.settle().await;
    let (user,): (String,) = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT current_user::text").fetch_one(pool).await.unwrap()
    });
    assert_eq!(user, role.name);

    // The same connection cannot change the log: refused by privilege, not by the trigger.
    for statement in [
        "UPDATE events SET payload = payload WHERE aggregate_id = $1",
        "DELETE FROM events WHERE aggregate_id = $1",
    ] {
        let result = db_execute!(&app.db, statement, &account_id);
        assert_eq!(sqlstate(result), "42501", "{statement}");
    }
    assert_eq!(sqlstate(db_execute!(&app.db, "TRUNCATE events")), "42501");
    assert_eq!(
        sqlstate(db_execute!(&app.db, "DELETE FROM _sqlx_migrations")),
        "42501"
    );
    // The owner has the privilege; the trigger is the second line.
    let owner = xuexin::store::connect(&role.owner_url, 1).await.unwrap();
    let result = db_execute!(
        &owner,
        "UPDATE events SET payload = payload WHERE aggregate_id = $1",
        &account_id
    );
    assert_eq!(sqlstate(result), "P0001");
    owner.close().await;
    assert!(matches!(app.db, Db::Postgres(_)));

    // An operator can check the chain as the runtime role too.
    let verified = xuexin(
        &["audit", "verify"],
        &role.runtime_url,
        &[("XUEXIN_NO_MIGRATE", "true")],
    );
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_has_no_roles_and_a_service_that_does_not_migrate_needs_a_current_schema() {
    let (url, _dir) = crate::helpers::fresh_sqlite_url();
    let refused = xuexin(&["db", "grant-runtime-role", "anyone"], &url, &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("append-only triggers"));
    // Not migrated: a service that does not migrate refuses to start, and says what to do.
    let no_migrate = || xuexin::config::Config {
        migrate: false,
        ..test_config(url.clone())
    };
    let unmigrated = Application::build(no_migrate()).await;
    let refused = format!("{:#}", unmigrated.err().expect("started unmigrated"));
    assert!(refused.contains("xuexin migrate"), "{refused}");
    // Migrated (by the command), it starts.
    let migrated = xuexin(&["migrate"], &url, &[]);
    assert!(migrated.status.success());
    if let Err(error) = Application::build(no_migrate()).await {
        panic!("{error:#}");
    }
}
