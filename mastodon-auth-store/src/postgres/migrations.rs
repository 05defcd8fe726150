//! The schema, created and upgraded by the store itself.
//!
//! Migrations are SQL files embedded in the library, applied in order, each recorded in
//! `mastodon_auth_schema_version`. They run in one transaction under a transaction-scoped
//! advisory lock, so that when many processes start at once exactly one migrates and the
//! others wait for it, then find nothing left to do.

use deadpool_postgres::Object;

use super::error::PostgresError;

/// Every migration, in order; the version is the position, from 1. Never edit one that has
/// been released: add the next.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_credentials.sql")];

/// The schema version this library writes.
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // A handful of migrations.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The advisory lock key for migrations: "mastodon" in ASCII.
const MIGRATION_LOCK: i64 = 0x6d61_7374_6f64_6f6e;

/// Brings the schema to [`SCHEMA_VERSION`]; returns how many migrations it applied.
pub(super) async fn migrate(client: &mut Object) -> Result<usize, PostgresError> {
    let err = |e: tokio_postgres::Error| PostgresError::query("migrate the schema", &e);
    let tx = client.transaction().await.map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mastodon_auth_schema_version (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(err)?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM mastodon_auth_schema_version",
            &[],
        )
        .await
        .map_err(err)?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(PostgresError::corrupt(
            "migrate the schema",
            format!(
                "the database's schema is version {current}, newer than this library's \
                 {SCHEMA_VERSION}: upgrade mastodon-auth-store"
            ),
        ));
    }
    let mut applied = 0;
    for (version, sql) in (1..).zip(MIGRATIONS) {
        if version <= current {
            continue;
        }
        tx.batch_execute(sql).await.map_err(err)?;
        tx.execute(
            "INSERT INTO mastodon_auth_schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(err)?;
        applied += 1;
    }
    tx.commit().await.map_err(err)?;
    if applied > 0 {
        tracing::info!(
            from = current,
            to = SCHEMA_VERSION,
            "credential store schema migrated"
        );
    }
    Ok(applied)
}
