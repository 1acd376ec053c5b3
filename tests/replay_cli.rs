//! `llmtap replay` as a user runs it: real files, real process, real exit codes.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn llmtap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args(args)
        .output()
        .expect("llmtap runs")
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is one event"))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fixtures that are not standard logging payloads: LiteLLM's own schema, a
/// SpendLogs row (metadata is a JSON string), and raw provider responses.
const NOT_SLPS: &[&str] = &[
    "standard_logging_payload_schema.json",
    "spend_logs_payload.json",
    "anthropic_text_response.json",
    "openai_text_response.json",
    "openrouter_claude_reasoning_response.json",
    "captured_response.json",
];

#[test]
fn replays_every_project_fixture_into_one_valid_event() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let files = support::fixtures::json_files(&dir);
    assert!(files.len() >= 11);
    for file in files {
        let out = llmtap(&["replay", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", file.display(), stderr(&out));
        let evs = events(&out);
        assert_eq!(evs.len(), 1, "{}", file.display());
        assert!(evs[0]["event"].as_str().unwrap().starts_with("$ai_"));
    }
}

#[test]
fn replays_every_shared_fixture_or_says_why_not() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if !dir.exists() {
        eprintln!("skipping: {} not present", dir.display());
        return;
    }
    for file in support::fixtures::json_files(&dir) {
        let name = file.file_name().unwrap().to_str().unwrap();
        let out = llmtap(&["replay", file.to_str().unwrap()]);
        if NOT_SLPS.contains(&name) {
            assert!(
                !out.status.success(),
                "{name} is not an SLP and must not pass as one"
            );
            assert!(events(&out).is_empty());
            assert!(
                stderr(&out).contains(": field `"),
                "{name}: {}",
                stderr(&out)
            );
        } else {
            assert!(out.status.success(), "{name}: {}", stderr(&out));
            assert_eq!(events(&out).len(), 1, "{name}");
        }
    }
}

#[test]
fn spend_logs_rows_are_rejected_by_field() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/litellm/spend_logs_payload.json");
    if !file.exists() {
        return;
    }
    let out = llmtap(&["replay", file.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("field `metadata`"),
        "{}",
        stderr(&out)
    );
}

fn temp_file(contents: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), contents).unwrap();
    f
}

fn compact(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/litellm-1.106/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    serde_json::to_string(&v).unwrap()
}

#[test]
fn a_bad_line_is_reported_by_number_and_the_rest_go_out() {
    let body = format!(
        "{}\nnot json at all\n\n{{\"startTime\": 1750000000}}\n{}\n",
        compact("openai_cache_read_and_reasoning"),
        compact("anthropic_cache_read_and_write_split")
    );
    let f = temp_file(&body);
    let out = llmtap(&["replay", f.path().to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(events(&out).len(), 2);
    let err = stderr(&out);
    assert!(
        err.contains("2 events written, 2 payloads skipped"),
        "{err}"
    );
    assert!(err.contains("skipped line 2: not valid JSON"), "{err}");
    assert!(err.contains("skipped line 4: field `model`"), "{err}");
}

#[test]
fn summary_counts_tokens_per_provider_and_model() {
    let body = format!(
        "{}\n{}\n",
        compact("anthropic_cache_read_and_write_split"),
        compact("anthropic_cache_read_and_write_split")
    );
    let f = temp_file(&body);
    let out = llmtap(&["replay", f.path().to_str().unwrap()]);
    let err = stderr(&out);
    let row = err
        .lines()
        .find(|l| l.starts_with("anthropic"))
        .expect("a row for anthropic");
    let cols: Vec<_> = row.split_whitespace().collect();
    // provider model calls input output cache_read cache_write reasoning cache_hit
    assert_eq!(
        cols[2..],
        ["2", "46854", "800", "36000", "10848", "0", "76.8%"]
    );
}

#[test]
fn arrays_with_nulls_stdin_and_output_file() {
    let body = format!(
        "[{}, null, {}]",
        compact("openai_embedding"),
        compact("gemini_cache_and_thoughts")
    );
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args(["replay", "-", "--output", out_file.path().to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "events went to the file");
    assert!(stderr(&out).contains("skipped entry 2: null entry"));
    let written = std::fs::read_to_string(out_file.path()).unwrap();
    let kinds: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .collect();
    assert_eq!(kinds, ["$ai_embedding", "$ai_generation"]);
}

#[test]
fn nothing_readable_exits_non_zero() {
    let f = temp_file("garbage\nmore garbage\n");
    let out = llmtap(&["replay", f.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("0 events written, 2 payloads skipped"));
    let missing = llmtap(&["replay", "/nonexistent/file.jsonl"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("cannot open"));
}

#[test]
fn header_and_property_flags_reach_every_event() {
    let f = temp_file(&compact("openai_cache_read_and_reasoning"));
    let out = llmtap(&[
        "replay",
        f.path().to_str().unwrap(),
        "--header",
        "x-posthog-property-team: search",
        "--header",
        "x-posthog-property-$ai_input_tokens: 1",
        "--property",
        "env=prod",
        "--privacy-mode",
    ]);
    let ev = &events(&out)[0];
    assert_eq!(ev["properties"]["team"], "search");
    assert_eq!(ev["properties"]["env"], "prod");
    assert_eq!(ev["properties"]["$ai_input_tokens"], 4000);
    assert!(ev["properties"].get("$ai_input").is_none());
}

#[test]
fn replaying_twice_gives_identical_events() {
    let f = temp_file(&compact("bedrock_cache_read_write"));
    let a = llmtap(&["replay", f.path().to_str().unwrap()]);
    let b = llmtap(&["replay", f.path().to_str().unwrap()]);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn the_readme_example_runs() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/payloads.jsonl");
    let out = llmtap(&["replay", example]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(events(&out).len(), 9);
}
