//! The schema, created and migrated by llmtap itself: versioned migrations
//! embedded in the binary, applied in one transaction under an advisory
//! lock, so two instances starting at once do not race (the second waits,
//! then finds nothing left to do).

use tokio_postgres::Client;

/// One step of the schema.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order. A new one is appended, never edited.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "calls, cache alerts, hourly cache rollup",
    sql: include_str!("schema.sql"),
}];

/// The advisory lock's key: `llmtap` in ASCII.
const LOCK: i64 = 0x6c6c_6d74_6170;

/// The newest schema version llmtap knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Brings the database's schema up to [`SCHEMA_VERSION`]; returns how many
/// migrations it applied (0 on an up-to-date database).
pub(crate) async fn migrate(client: &mut Client) -> Result<usize, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS llmtap_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: Vec<i32> = tx
        .query("SELECT version FROM llmtap_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut count = 0;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch_execute(m.sql).await?;
        tx.execute(
            "INSERT INTO llmtap_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await?;
        count += 1;
    }
    tx.commit().await?;
    Ok(count)
}
