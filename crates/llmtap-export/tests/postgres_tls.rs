//! TLS to PostgreSQL as the URL's `sslmode` asks, against real servers the
//! tests start (`PostgresServer::for_test_tls`: `ssl = on`, a certificate
//! for 127.0.0.1 and localhost signed by a CA of its own). Whether the
//! exporter's own connections use TLS is read on the server's side, from
//! `pg_stat_ssl`, by `application_name`.
//!
//! Without a PostgreSQL server installed the tests fail and say so, unless
//! `LLMTAP_SKIP_POSTGRES=1`.
#![cfg(feature = "postgres")]

mod support;

use std::time::Duration;

use llmtap::{Event, HeaderProperties, Payload, Pipeline};
use llmtap_export::{
    migrate_postgres, DatabaseUrl, DropReason, PostgresBuilder, PostgresClient, Settings,
    SCHEMA_VERSION,
};
use llmtap_testkit::{fixtures, PostgresServer};
use support::postgres::{capture_across_a_restart, query};

/// In every URL, to be kept out of every message (trust authentication
/// does not ask for it).
const PASSWORD: &str = "s3cr3t-pass";

/// `postgres://postgres:PASSWORD@HOST:PORT/postgres?application_name=APP&QUERY`.
fn url(pg: &PostgresServer, host: &str, app: &str, query: &str) -> String {
    format!(
        "postgres://postgres:{PASSWORD}@{host}:{}/postgres?application_name={app}&{query}",
        pg.port()
    )
}

/// `sslrootcert=` the server's CA.
fn root_cert(pg: &PostgresServer) -> String {
    format!("sslrootcert={}", pg.ca_file().unwrap().display())
}

fn client(url: &str) -> PostgresClient {
    let settings = Settings::default()
        .batch_size(3)
        .flush_interval(Duration::from_millis(20))
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(200));
    PostgresBuilder::new(url)
        .settings(settings)
        .build()
        .expect("a client")
}

/// `n` calls made from a recorded payload, each its own uuid.
fn events(n: u128) -> Vec<Event> {
    let path = &fixtures::json_files(&fixtures::project_dir().join("litellm-1.106"))[0];
    let payload = Payload::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let event = Pipeline::default()
        .process(&payload, &HeaderProperties::default())
        .unwrap()
        .event;
    (0..n)
        .map(|i| Event {
            uuid: uuid::Uuid::from_u128(0x7000 + i),
            ..event.clone()
        })
        .collect()
}

/// For each open connection named `app`, whether it uses TLS.
fn tls_of(pg: &PostgresServer, app: &str) -> Vec<bool> {
    query(
        pg,
        &format!(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = '{app}'"
        ),
    )
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn calls(pg: &PostgresServer) -> i64 {
    query(pg, "SELECT count(*) FROM llm_calls")[0].get(0)
}

/// Delivers `events` and returns, before shutting the client down (which
/// closes its connections), whether each of its connections used TLS.
fn deliver(pg: &PostgresServer, url: &str, app: &str, events: &[Event]) -> Vec<bool> {
    let client = client(url);
    for e in events {
        client.capture(e.clone()).unwrap();
    }
    let report = client.flush_blocking(Duration::from_secs(30));
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(report.delivered, events.len() as u64);
    let tls = tls_of(pg, app);
    assert!(!tls.is_empty(), "no connection named {app}");
    assert!(client
        .shutdown_blocking(Duration::from_secs(10))
        .is_lossless());
    tls
}

/// Sends `events` to a server that must not get them: every one dropped
/// as `rejected` at once (no retries to wait out), nothing written, and
/// the reason, password left out, in `last_rejection`.
fn refused(pg: &PostgresServer, url: &str, events: &[Event]) -> String {
    let client = client(url);
    for e in events {
        client.capture(e.clone()).unwrap();
    }
    let report = client.shutdown_blocking(Duration::from_secs(10));
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.delivered, 0, "{report:?}");
    assert_eq!(
        report.dropped.get(DropReason::Rejected),
        events.len() as u64,
        "{report:?}"
    );
    let stats = client.stats();
    assert!(!format!("{client:?}{stats:?}").contains(PASSWORD));
    let why = stats.last_rejection.expect("a rejection").message;
    assert!(why.contains("postgres://postgres:***@"), "{why}");
    assert!(!why.contains(PASSWORD), "{why}");
    let table = query(pg, "SELECT to_regclass('llm_calls') IS NULL");
    assert!(table[0].get::<_, bool>(0), "the schema was not even made");
    why
}

#[test]
fn require_delivers_every_row_over_tls() {
    let Some(pg) = PostgresServer::for_test_tls() else {
        return;
    };
    // No sslrootcert: encrypted, the certificate not checked (libpq's require).
    let url = url(&pg, "127.0.0.1", "tls-require", "sslmode=require");
    let tls = deliver(&pg, &url, "tls-require", &events(7));
    assert!(tls.iter().all(|&on| on), "{tls:?}");
    assert_eq!(calls(&pg), 7);
}

#[test]
fn verify_full_with_the_servers_ca_delivers_and_migrates() {
    let Some(pg) = PostgresServer::for_test_tls() else {
        return;
    };
    // The name checked is a DNS name here, an IP address below.
    let by_name = url(
        &pg,
        "localhost",
        "tls-migrate",
        &format!("sslmode=verify-full&{}", root_cert(&pg)),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let migrated = runtime.block_on(migrate_postgres(&DatabaseUrl::new(by_name)));
    assert_eq!(migrated, Ok(SCHEMA_VERSION as usize));
    let by_address = url(
        &pg,
        "127.0.0.1",
        "tls-full",
        &format!("sslmode=verify-full&{}", root_cert(&pg)),
    );
    let tls = deliver(&pg, &by_address, "tls-full", &events(5));
    assert!(tls.iter().all(|&on| on), "{tls:?}");
    assert_eq!(calls(&pg), 5);
}

#[test]
fn verify_full_refuses_a_certificate_from_an_unknown_ca_and_says_so() {
    let Some(pg) = PostgresServer::for_test_tls() else {
        return;
    };
    // No sslrootcert: Mozilla's roots, which never signed the test CA.
    let url = url(&pg, "127.0.0.1", "tls-unknown-ca", "sslmode=verify-full");
    let why = refused(&pg, &url, &events(4));
    assert!(
        why.contains("certificate") && why.contains("UnknownIssuer"),
        "{why}"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let migrate = runtime.block_on(migrate_postgres(&DatabaseUrl::new(url)));
    let why = migrate.expect_err("refused");
    assert!(
        why.contains("certificate") && !why.contains(PASSWORD),
        "{why}"
    );
}

#[test]
fn verify_ca_checks_the_chain_and_verify_full_the_name_too() {
    let Some(pg) = PostgresServer::for_test_tls() else {
        return;
    };
    // Connects to 127.0.0.1 but checks the certificate against another
    // name (tokio-postgres's `hostaddr`).
    let query = |mode: &str| format!("hostaddr=127.0.0.1&sslmode={mode}&{}", root_cert(&pg));
    let host = "not-the-server.invalid";
    let tls = deliver(
        &pg,
        &url(&pg, host, "tls-ca", &query("verify-ca")),
        "tls-ca",
        &events(3),
    );
    assert!(tls.iter().all(|&on| on), "{tls:?}");
    assert_eq!(calls(&pg), 3);
    let client = client(&url(&pg, host, "tls-name", &query("verify-full")));
    for e in events(3) {
        client.capture(e).unwrap();
    }
    let report = client.shutdown_blocking(Duration::from_secs(10));
    assert_eq!(report.dropped.get(DropReason::Rejected), 3, "{report:?}");
    let why = client.stats().last_rejection.unwrap().message;
    assert!(why.contains("not valid for name"), "{why}");
}

#[test]
fn require_fails_against_a_server_without_tls_rather_than_go_plain() {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let url = url(&pg, "127.0.0.1", "tls-missing", "sslmode=require");
    let why = refused(&pg, &url, &events(4));
    assert!(why.contains("server does not support TLS"), "{why}");
}

#[test]
fn prefer_uses_tls_when_offered_and_plain_tcp_when_not() {
    let Some(plain) = PostgresServer::for_test() else {
        return;
    };
    let tls = deliver(
        &plain,
        &url(&plain, "127.0.0.1", "prefer-plain", "sslmode=prefer"),
        "prefer-plain",
        &events(3),
    );
    assert!(tls.iter().all(|&on| !on), "{tls:?}");
    assert_eq!(calls(&plain), 3);
    let Some(pg) = PostgresServer::for_test_tls() else {
        return;
    };
    // prefer is the default; disable never tries.
    let tls = deliver(
        &pg,
        &url(&pg, "127.0.0.1", "prefer-tls", "connect_timeout=5"),
        "prefer-tls",
        &events(3),
    );
    assert!(tls.iter().all(|&on| on), "{tls:?}");
    let tls = deliver(
        &pg,
        &url(&pg, "127.0.0.1", "disable", "sslmode=disable"),
        "disable",
        &events(3),
    );
    assert!(tls.iter().all(|&on| !on), "{tls:?}");
}

#[test]
fn a_tls_database_restarted_mid_run_gets_every_row_once() {
    let Some(pg) = PostgresServer::for_test_tls() else {
        return;
    };
    let url = url(
        &pg,
        "127.0.0.1",
        "tls-restart",
        &format!("sslmode=verify-full&{}", root_cert(&pg)),
    );
    let events = events(40);
    let report = capture_across_a_restart(&client(&url), &pg, &events);
    assert!(report.is_lossless(), "a restart is retried: {report:?}");
    assert_eq!(calls(&pg), 40);
}

#[test]
fn a_bad_sslmode_or_root_file_fails_the_build_without_the_password() {
    let build = |url: &str| {
        let err = PostgresBuilder::new(url)
            .build()
            .expect_err(url)
            .to_string();
        assert!(
            err.contains("postgres_url") && !err.contains(PASSWORD),
            "{err}"
        );
        err
    };
    let base = format!("postgres://llmtap:{PASSWORD}@db.internal/llm");
    for bad in [
        format!("{base}?sslmode=verify"),
        format!("host=db.internal password={PASSWORD} sslmode=Require"),
    ] {
        let err = build(&bad);
        assert!(
            err.contains("sslmode") && err.contains("verify-full"),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = build(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        missing.display()
    ));
    assert!(
        err.contains("sslrootcert") && err.contains("missing.pem"),
        "{err}"
    );
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = build(&format!(
        "{base}?sslmode=require&sslrootcert={}",
        empty.display()
    ));
    assert!(err.contains("no PEM certificate"), "{err}");
    // The key=value form reads it too.
    let err = build(&format!(
        "host=db.internal password={PASSWORD} sslmode=verify-ca sslrootcert='{}'",
        missing.display()
    ));
    assert!(err.contains("missing.pem"), "{err}");
    // migrate says the same, before connecting.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = DatabaseUrl::new(format!("{base}?sslmode=verify"));
    let err = runtime
        .block_on(migrate_postgres(&url))
        .expect_err("refused");
    assert!(err.contains("sslmode") && !err.contains(PASSWORD), "{err}");
}
