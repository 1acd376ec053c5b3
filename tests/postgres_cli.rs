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

fn llmtap(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args(args)
        .env_remove("POSTHOG_API_KEY")
        .env_remove("LLMTAP_POSTGRES_URL")
        .output()
        .expect("llmtap runs");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("pg-s3cret"),
        "the password printed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The page without its "From …" line, which names the input.
fn figures(page: &str) -> String {
    let start = page
        .find(r#"<p class="muted">From "#)
        .expect("the From line");
    let end = start + page[start..].find("</p>").unwrap();
    format!("{}{}", &page[..start], &page[end..])
}

/// The value under `column` in the first data row of the table titled `title`.
fn text_cell<'a>(report: &'a str, title: &str, column: &str) -> &'a str {
    let mut lines = report.lines().skip_while(|l| *l != title).skip(1);
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let i = header.iter().position(|h| *h == column).unwrap();
    row[i]
}

#[test]
fn report_from_the_database_answers_as_the_files_do() {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let url = url_with_password(&pg);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scenario.jsonl");
    let input = input.to_str().unwrap();
    let out = llmtap(&[
        "generate",
        "--scenario",
        "cache-regression",
        "-n",
        "300",
        "--seed",
        "5",
        "-o",
        input,
    ]);
    assert!(out.status.success());
    // Before anything was stored: said so, not "db error".
    let out = llmtap(&["report", "--postgres-url", &url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no llmtap tables yet"), "{stderr}");
    let out = llmtap(&["replay", input, "--postgres-url", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The page from the rows is the page from the payloads.
    let from_files = dir.path().join("files.html");
    let from_rows = dir.path().join("rows.html");
    assert!(
        llmtap(&["report", input, "-o", from_files.to_str().unwrap()])
            .status
            .success()
    );
    let out = llmtap(&[
        "report",
        "--postgres-url",
        &url,
        "-o",
        from_rows.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files_page = std::fs::read_to_string(&from_files).unwrap();
    let rows_page = std::fs::read_to_string(&from_rows).unwrap();
    assert!(
        rows_page.contains("hit_ratio_drop"),
        "the stored alerts are listed"
    );
    assert_eq!(figures(&rows_page), figures(&files_page));
    assert!(rows_page.contains("postgres://postgres:***@127.0.0.1"));

    // The text tables: the README's queries, their figures the page's.
    let out = llmtap(&["report", "--postgres-url", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for title in [
        "1. Cache summary",
        "2. Effectiveness per model",
        "3. Top prefixes by savings",
        "4. Hit ratio by call index within traces",
    ] {
        assert!(text.lines().any(|l| l == title), "{title} in\n{text}");
    }
    assert_eq!(text_cell(&text, "1. Cache summary", "calls"), "300");
    let card = |key: &str| {
        let at = rows_page.find(&format!(r#"data-k="{key}">"#)).unwrap();
        let rest = &rows_page[at..];
        rest[rest.find('>').unwrap() + 1..rest.find('<').unwrap()].to_owned()
    };
    assert_eq!(
        text_cell(&text, "1. Cache summary", "hit_ratio"),
        card("cache_hit")
    );
    assert_eq!(
        text_cell(&text, "1. Cache summary", "misses"),
        card("misses")
    );
    let saved: f64 = text_cell(&text, "1. Cache summary", "saved_usd")
        .parse()
        .unwrap();
    let card_saved: f64 = card("saved_usd").trim_start_matches('$').parse().unwrap();
    assert!((saved - card_saved).abs() < 0.01, "{saved} vs {card_saved}");

    // A trace, and a time range with nothing in it.
    let trace: String = {
        let out = Command::new("psql")
            .args(["-X", "-A", "-t", "-d", &pg.url(), "-c"])
            .arg("SELECT trace_id FROM llm_calls WHERE trace_id IS NOT NULL ORDER BY ts LIMIT 1")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let in_trace = scalar(
        &pg,
        &format!("SELECT count(*) FROM llm_calls WHERE trace_id = '{trace}'"),
    );
    let out = llmtap(&["report", "--postgres-url", &url, "--trace", &trace]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text_cell(&text, "1. Cache summary", "calls"),
        in_trace.to_string(),
        "{text}"
    );
    let out = llmtap(&["report", "--postgres-url", &url, "--since", "2199-01-01"]);
    assert!(!out.status.success(), "no call in range is a failure");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no call in"));
}

#[test]
fn report_refuses_what_it_cannot_ask() {
    // The filters are the database's: files have no time range.
    let out = llmtap(&["report", "--since", "24h", "x.jsonl", "-o", "x.html"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'--since <TIME>' cannot be used with"),
        "{stderr}"
    );
    let out = llmtap(&[
        "report",
        "--postgres-url",
        "postgres://u:pg-s3cret@127.0.0.1:1/db",
        "--since",
        "soon",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time"));
    // Files named are reported on, whatever LLMTAP_POSTGRES_URL says.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("files.html");
    let out = Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args(["report", EXAMPLE, "-o", page.to_str().unwrap()])
        .env(
            "LLMTAP_POSTGRES_URL",
            "postgres://u:pg-s3cret@127.0.0.1:1/db",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .contains("payloads.jsonl"));
    // A database that is not there: a clear error, no password.
    let out = llmtap(&[
        "report",
        "--postgres-url",
        "postgres://u:pg-s3cret@127.0.0.1:1/db",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot connect to postgres://u:***@127.0.0.1:1/db"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_spools_for_the_database_too_so_a_stop_while_it_is_down_loses_nothing() {
    rows_survive_the_database_being_down_at_the_end(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn what_serve_acknowledged_for_the_database_survives_a_crash() {
    rows_survive_the_database_being_down_at_the_end(true).await;
}

/// `serve --spool-dir --postgres-url` acknowledges payloads while the
/// database is down, then stops (SIGTERM: exit 0, "stay spooled") or dies
/// (SIGKILL); the next start, with the database back, writes every row once.
async fn rows_survive_the_database_being_down_at_the_end(crash: bool) {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let capture = CaptureServer::start();
    let url = url_with_password(&pg);
    let spool = tempfile::tempdir().unwrap();
    let spool_dir = spool.path().to_str().unwrap();
    let args = [
        "--postgres-url",
        &url,
        "--spool-dir",
        spool_dir,
        "--flush-interval-ms",
        "20",
    ];
    pg.stop();
    let sidecar = Sidecar::start(&capture, &args);
    let status = reqwest::Client::new()
        .post(sidecar.url("/litellm"))
        .header("content-type", "application/json")
        .body(std::fs::read_to_string(EXAMPLE).unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert!(capture.wait_for_events(9, PATIENCE), "PostHog is up");
    let stderr = if crash {
        sidecar.kill()
    } else {
        let (exit, stderr) = sidecar.terminate();
        assert!(exit.is_some_and(|s| s.success()), "{stderr}");
        assert!(stderr.contains("stay spooled"), "{stderr}");
        stderr
    };
    assert!(!stderr.contains("pg-s3cret"), "{stderr}");
    assert!(spool.path().join("postgres").is_dir());

    pg.start_server();
    let sidecar = Sidecar::start(&capture, &args);
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline && scalar_or_zero(&pg) < 9 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (exit, stderr) = sidecar.terminate();
    assert!(exit.is_some_and(|s| s.success()), "{stderr}");
    assert_eq!(scalar(&pg, "SELECT count(*) FROM llm_calls"), 9, "{stderr}");
    assert_eq!(
        scalar(&pg, "SELECT sum(calls)::bigint FROM llm_cache_hourly"),
        9
    );
}

/// Rows in `llm_calls`, 0 before the table exists.
fn scalar_or_zero(pg: &PostgresServer) -> i64 {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-d", &pg.url(), "-c"])
        .arg("SELECT count(*) FROM llm_calls")
        .output()
        .expect("psql runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}
