//! `llmtap replay --posthog`: through the exporter to a capture server on 127.0.0.1.

mod support;

use std::process::{Command, Output};

use support::{CaptureServer, Reply, TEST_KEY};

fn replay(capture: &CaptureServer, file: &str, key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llmtap"));
    cmd.args(["replay", "--posthog", file])
        .env("POSTHOG_HOST", capture.url())
        .env_remove("POSTHOG_API_KEY");
    if let Some(key) = key {
        cmd.env("POSTHOG_API_KEY", key);
    }
    cmd.output().expect("llmtap runs")
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/payloads.jsonl");

#[test]
fn every_event_is_delivered_and_the_exit_code_says_so() {
    let capture = CaptureServer::start();
    capture.script([Reply::status(503)]);
    let out = replay(&capture, EXAMPLE, Some(TEST_KEY));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "no JSONL when shipping");
    let mut uuids = capture.received_uuids();
    assert_eq!(uuids.len(), 9, "{stderr}");
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), 9, "no duplicates after the retried 503");
    assert!(
        stderr.contains("9 events delivered to PostHog, 0 dropped"),
        "{stderr}"
    );
    assert!(!stderr.contains(TEST_KEY));
}

#[test]
fn a_rejected_key_exits_non_zero_with_counts_by_reason() {
    let capture = CaptureServer::start();
    capture.script([Reply::status(401)]);
    let out = replay(&capture, EXAMPLE, Some(TEST_KEY));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("0 events delivered to PostHog, 9 dropped (rejected=9)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(TEST_KEY),
        "the key never reaches the output"
    );
}

#[test]
fn without_an_api_key_nothing_is_sent() {
    let capture = CaptureServer::start();
    let out = replay(&capture, EXAMPLE, None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("POSTHOG_API_KEY"));
    assert_eq!(capture.request_count(), 0);
}
