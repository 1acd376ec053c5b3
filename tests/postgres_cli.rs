//! `--postgres-url` on `llmtap replay` and `llmtap serve`, against a real
//! PostgreSQL the test starts itself (`llmtap_testkit::PostgresServer`):
//! every call one row, a replay adding none, PostHog and the database fed
//! from one pipeline, and the password never printed.
//!
//! Without a PostgreSQL server installed the tests fail and say so, unless
//! `LLMTAP_SKIP_POSTGRES=1`.

mod support;

use std::process::Command;

use llmtap_testkit::PostgresServer;
use serde_json::Value;
use support::{CaptureServer, Sidecar, PATIENCE};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/payloads.jsonl");

/// The database's answer to one `SELECT` that returns one bigint.
fn scalar(pg: &PostgresServer, sql: &str) -> i64 {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-d", &pg.url(), "-c", sql])
        .output()
        .expect("psql runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{sql}: {text}{}", String::from_utf8_lossy(&out.stderr)))
}

/// The URL with a password, as a user would pass it (trust auth ignores it).
fn url_with_password(pg: &PostgresServer) -> String {
    format!(
        "postgres://postgres:pg-s3cret@127.0.0.1:{}/postgres",
        pg.port()
    )
}

#[test]
fn replay_stores_each_call_once_even_when_replayed_again() {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let url = url_with_password(&pg);
    for round in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_llmtap"))
            .args(["replay", EXAMPLE])
            .env("LLMTAP_POSTGRES_URL", &url)
            .env_remove("POSTHOG_API_KEY")
            .output()
            .expect("llmtap runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "round {round}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "no JSONL on stdout when the database is the destination"
        );
        assert!(
            stderr.contains("9 events stored in PostgreSQL, 0 dropped"),
            "{stderr}"
        );
        assert!(!stderr.contains("pg-s3cret"), "{stderr}");
    }
    assert_eq!(scalar(&pg, "SELECT count(*) FROM llm_calls"), 9);
    assert_eq!(
        scalar(&pg, "SELECT sum(calls)::bigint FROM llm_cache_hourly"),
        9
    );
    // Not reported is NULL, reported 0 is 0 (examples/payloads.jsonl has both).
    assert!(
        scalar(
            &pg,
            "SELECT count(*) FROM llm_calls WHERE cache_read_tokens IS NULL"
        ) > 0
    );
    assert!(
        scalar(
            &pg,
            "SELECT count(*) FROM llm_calls WHERE cache_read_tokens = 0"
        ) > 0
    );
}

#[test]
fn replay_help_and_errors_never_show_the_password() {
    let out = Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args(["replay", "--help"])
        .env(
            "LLMTAP_POSTGRES_URL",
            "postgres://u:pg-s3cret@127.0.0.1:1/db",
        )
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--postgres-url") && !help.contains("pg-s3cret"),
        "{help}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args([
            "replay",
            EXAMPLE,
            "--postgres-url",
            "postgres://u:pg-s3cret@[::1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("postgres_url") && !stderr.contains("pg-s3cret"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_feeds_posthog_and_the_database_from_one_pipeline() {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let capture = CaptureServer::start();
    let url = url_with_password(&pg);
    let sidecar = Sidecar::start(
        &capture,
        &["--postgres-url", &url, "--flush-interval-ms", "20"],
    );
    let body = std::fs::read_to_string(EXAMPLE).unwrap();
    let status = reqwest::Client::new()
        .post(sidecar.url("/litellm"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert!(capture.wait_for_events(9, PATIENCE));
    let (exit, stderr) = sidecar.terminate();
    assert!(exit.is_some_and(|s| s.success()), "{stderr}");
    assert!(!stderr.contains("pg-s3cret"), "{stderr}");
    assert_eq!(scalar(&pg, "SELECT count(*) FROM llm_calls"), 9);
    let uuids: Vec<Value> = capture
        .accepted_events()
        .iter()
        .map(|e| e["uuid"].clone())
        .collect();
    for uuid in uuids {
        let sql = format!(
            "SELECT count(*) FROM llm_calls WHERE uuid = '{}'",
            uuid.as_str().unwrap()
        );
        assert_eq!(
            scalar(&pg, &sql),
            1,
            "the same uuid in PostHog and in the database"
        );
    }
}
