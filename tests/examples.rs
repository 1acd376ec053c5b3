//! The examples in `examples/`, run as a user runs them (`cargo run --example
//! NAME`), so that they keep working and keep saying what they say.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{CaptureServer, Proc, TEST_KEY};

/// Enough to build the example (and the package under it) from cold.
const BUILD_AND_RUN: Duration = Duration::from_secs(600);

struct Run {
    stdout: String,
    stderr: String,
}

/// `cargo run --quiet --example NAME` with `env` and none of the caller's
/// `POSTHOG_*` variables; panics unless it exits 0.
fn run_example(name: &str, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["run", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("POSTHOG_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    let mut proc = Proc::spawn(format!("cargo run --example {name}"), &mut cmd);
    let (stdout, stderr) = (proc.collect_stdout(), proc.collect_stderr());
    let status = proc.wait_for(BUILD_AND_RUN);
    let run = Run {
        stdout: stdout.finish(),
        stderr: stderr.finish(),
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "example {name} failed ({status:?})\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    run
}

/// How many calls `examples/payloads.jsonl` holds.
fn example_calls() -> usize {
    let file = support::fixtures::at_root("examples/payloads.jsonl");
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[test]
fn custom_callback_counts_cache_reads_next_to_posthog() {
    let run = run_example("custom_callback", &[]);
    let out = &run.stdout;
    assert!(
        out.contains(&format!("{} events captured", example_calls())),
        "{out}"
    );
    assert!(out.contains("cache reads: "), "{out}");
    assert!(out.contains("team=\"search\""), "{out}");
}

#[test]
fn gateway_without_an_api_key_writes_events_to_stdout() {
    let run = run_example("gateway", &[]);
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is one event"))
        .collect();
    assert_eq!(events.len(), example_calls(), "{}", run.stderr);
    for event in &events {
        assert!(
            event["event"]
                .as_str()
                .is_some_and(|e| e.starts_with("$ai_")),
            "{event:#}"
        );
        assert_eq!(event["properties"]["app"], "gateway-example", "{event:#}");
    }
    assert!(
        run.stderr
            .contains(&format!("{} events written to stdout", events.len())),
        "{}",
        run.stderr
    );
}

#[test]
fn gateway_with_an_api_key_ships_through_the_exporter() {
    let capture = CaptureServer::start();
    let host = capture.url();
    let run = run_example(
        "gateway",
        &[
            ("POSTHOG_API_KEY", TEST_KEY),
            ("POSTHOG_HOST", host.as_str()),
        ],
    );
    let n = example_calls();
    assert!(
        run.stdout
            .contains(&format!("delivered {n}, dropped 0 (none), pending 0")),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    let events: Vec<Value> = capture.accepted_events();
    assert_eq!(events.len(), n);
    assert!(events
        .iter()
        .all(|e| e["properties"]["app"] == "gateway-example"));
    assert!(!run.stdout.contains(TEST_KEY) && !run.stderr.contains(TEST_KEY));
}
