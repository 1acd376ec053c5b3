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
    // cost_usd saved_usd misses: 2 x LiteLLM's 0.040749, 2 x the cache's 0.035532.
    assert_eq!(
        cols[2..],
        ["2", "46854", "800", "36000", "10848", "0", "76.8%", "0.0815", "0.0711", "-"]
    );
}

#[test]
fn a_pricing_file_drives_savings_and_prices_what_litellm_left_at_zero() {
    let mut call: Value =
        serde_json::from_str(&compact("openai_cache_read_and_reasoning")).unwrap();
    call["response_cost"] = 0.into();
    let f = temp_file(&format!("{call}\n"));
    let model = call["model"].as_str().unwrap().to_owned();
    // The cached rate equal to the uncached one: the cache saved nothing.
    let pricing = temp_file(&format!(
        "[models.\"{model}\"]\ninput_cost_per_token = 1e-06\noutput_cost_per_token = 4e-06\n\
         cache_read_input_token_cost = 1e-06\n"
    ));
    let plain = events(&llmtap(&["replay", f.path().to_str().unwrap()]));
    let priced = llmtap(&[
        "replay",
        f.path().to_str().unwrap(),
        "--pricing",
        pricing.path().to_str().unwrap(),
    ]);
    assert!(priced.status.success(), "{}", stderr(&priced));
    let priced = events(&priced);
    let (plain, priced) = (&plain[0]["properties"], &priced[0]["properties"]);
    assert!(
        plain["cache_savings_usd"].as_f64().unwrap() > 0.0,
        "{plain}"
    );
    assert_eq!(priced["cache_savings_usd"], 0.0, "{priced}");
    let input = priced["$ai_input_tokens"].as_f64().unwrap();
    let output = priced["$ai_output_tokens"].as_f64().unwrap();
    let cost = priced["$ai_total_cost_usd"].as_f64().unwrap();
    assert!(
        (cost - (input * 1e-6 + output * 4e-6)).abs() < 1e-9,
        "cost {cost} from {input} in, {output} out"
    );

    let bad = temp_file("[models.\"x\"]\ninput_cost_per_token = -1\n");
    let out = llmtap(&[
        "replay",
        f.path().to_str().unwrap(),
        "--pricing",
        bad.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--pricing"), "{}", stderr(&out));
}

#[test]
fn a_prefix_key_makes_prefix_ids_keyed_and_keeps_them_stable() {
    let f = temp_file(&format!(
        "{}\n",
        compact("anthropic_cache_read_and_write_split")
    ));
    let path = f.path().to_str().unwrap();
    let id = |args: &[&str]| -> String {
        let out = llmtap(&[&["replay", path], args].concat());
        events(&out)[0]["properties"]["cache_prefix_id"]
            .as_str()
            .expect("a prefix id")
            .to_owned()
    };
    let plain = id(&[]);
    let keyed = id(&["--prefix-key", "team-secret"]);
    assert_eq!(plain.len(), 16);
    assert!(plain.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(plain, keyed);
    assert_eq!(keyed, id(&["--prefix-key", "team-secret"]));
    assert_ne!(keyed, id(&["--prefix-key", "another-secret"]));
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

/// Runs `llmtap replay -` with `input` on stdin.
fn replay_stdin(input: &[u8], extra: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args(["replay", "-"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread: the child's stdout must be drained meanwhile.
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

/// The project's SLP fixtures, each as one compact line.
fn fixture_lines() -> Vec<String> {
    [
        "openai_cache_read_and_reasoning",
        "anthropic_cache_read_and_write_split",
        "openai_embedding",
        "gemini_cache_and_thoughts",
        "bedrock_cache_read_write",
        "responses_cache_reasoning",
    ]
    .map(compact)
    .to_vec()
}

fn pretty(name: &str) -> String {
    let v: Value = serde_json::from_str(&compact(name)).unwrap();
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn a_json_array_gives_one_event_per_element() {
    let lines = fixture_lines();
    // Compact on one line, and pretty-printed over many.
    let one_line = format!("[{}]", lines.join(","));
    let values: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let many_lines = serde_json::to_string_pretty(&values).unwrap();
    for body in [one_line, many_lines] {
        let f = temp_file(&body);
        let out = llmtap(&["replay", f.path().to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let evs = events(&out);
        assert_eq!(evs.len(), lines.len());
        let ids: Vec<&str> = evs
            .iter()
            .map(|e| e["properties"]["$ai_model"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = values
            .iter()
            .map(|v| v["model"].as_str().unwrap())
            .collect();
        assert_eq!(ids, expected, "in input order");
        assert!(stderr(&out).contains(&format!(
            "{} events written, 0 payloads skipped",
            lines.len()
        )));
    }
}

#[test]
fn a_broken_array_element_is_one_skip_and_the_others_go_out() {
    let lines = fixture_lines();
    let mut elements: Vec<&str> = lines.iter().map(String::as_str).collect();
    // Not JSON (a bare word, a stray closer), but nothing left open.
    elements.insert(2, r#"{"model": tru}}"#);
    let f = temp_file(&format!("[{}]", elements.join(",\n")));
    let out = llmtap(&["replay", f.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(events(&out).len(), lines.len());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{} events written, 1 payloads skipped",
            lines.len()
        )),
        "{err}"
    );
    assert!(err.contains("skipped entry 3: not valid JSON"), "{err}");
}

#[test]
fn entries_over_max_line_bytes_are_counted_skips_and_the_rest_go_out() {
    let lines = fixture_lines();
    let longest = lines.iter().map(String::len).max().unwrap();
    // The same payload with a long prompt: over the cap, and over the
    // reader's 1 MiB buffer, so it is dropped while it streams past.
    let mut big: Value = serde_json::from_str(&lines[0]).unwrap();
    big["messages"] = serde_json::json!([{"role": "user", "content": "x".repeat(3 << 20)}]);
    let big = serde_json::to_string(&big).unwrap();
    let cap = (longest + 1).to_string();

    let mut jsonl = lines.clone();
    jsonl.insert(1, big.clone());
    let f = temp_file(&(jsonl.join("\n") + "\n"));
    let out = llmtap(&[
        "replay",
        f.path().to_str().unwrap(),
        "--max-line-bytes",
        &cap,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(events(&out).len(), lines.len());
    let err = stderr(&out);
    assert!(err.contains("1 payloads skipped"), "{err}");
    assert!(
        err.contains(&format!(
            "skipped line 2: {} bytes, over --max-line-bytes ({cap})",
            big.len()
        )),
        "{err}"
    );

    // The same through the environment, as an array element.
    let array = format!("[{},{big}]", lines.join(","));
    let f = temp_file(&array);
    let out = Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args(["replay", f.path().to_str().unwrap()])
        .env("LLMTAP_MAX_LINE_BYTES", &cap)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(events(&out).len(), lines.len());
    let err = stderr(&out);
    let last = lines.len() + 1;
    assert!(
        err.contains(&format!("skipped entry {last}: {} bytes", big.len())),
        "{err}"
    );
}

#[test]
fn a_broken_first_line_does_not_hide_the_lines_after_it() {
    let lines = fixture_lines();
    // A line cut off mid-write: its brackets stay open.
    let cut = &lines[0][..lines[0].len() / 2];
    for first in [cut, "not json at all"] {
        let body = format!("{first}\n{}\n{}\n", lines[1], lines[2]);
        let f = temp_file(&body);
        let out = llmtap(&["replay", f.path().to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(events(&out).len(), 2);
        let err = stderr(&out);
        assert!(
            err.contains("2 events written, 1 payloads skipped"),
            "{err}"
        );
        assert!(err.contains("skipped line 1: not valid JSON"), "{err}");
    }
}

#[test]
fn pretty_printed_objects_and_kwargs_dumps_are_one_entry_each() {
    let a = pretty("openai_cache_read_and_reasoning");
    let b = pretty("gemini_cache_and_thoughts");
    let kwargs_path = format!(
        "{}/tests/fixtures/litellm/captured_kwargs.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let kwargs: Value = serde_json::from_slice(&std::fs::read(kwargs_path).unwrap()).unwrap();
    let kwargs = serde_json::to_string_pretty(&kwargs).unwrap();
    let body = format!("{a}\n{b}\nnot json\n{kwargs}\n");
    let bad_line = a.lines().count() + b.lines().count() + 1;
    let f = temp_file(&body);
    let out = llmtap(&["replay", f.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(events(&out).len(), 3);
    let err = stderr(&out);
    assert!(
        err.contains("3 events written, 1 payloads skipped"),
        "{err}"
    );
    assert!(
        err.contains(&format!("skipped line {bad_line}: not valid JSON")),
        "{err}"
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let lines = fixture_lines();
    for body in [
        format!("\u{feff}{}\n{}\n", lines[0], lines[1]),
        format!("\u{feff}[{},{}]", lines[0], lines[1]),
        format!("\u{feff}{}", pretty("bedrock_cache_read_write")),
    ] {
        let f = temp_file(&body);
        let out = llmtap(&["replay", f.path().to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("0 payloads skipped"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn stdin_takes_every_shape() {
    let lines = fixture_lines();
    let jsonl = lines.join("\n");
    let array = format!("[{}]", lines.join(","));
    let pretty = format!(
        "{}\n{}",
        pretty("openai_embedding"),
        pretty("anthropic_cache_read_and_write_split")
    );
    for (body, n) in [(jsonl, lines.len()), (array, lines.len()), (pretty, 2)] {
        let out = replay_stdin(body.as_bytes(), &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(events(&out).len(), n);
    }
}

#[test]
fn stderr_has_no_colour_codes_when_it_is_not_a_terminal() {
    // An array that never closes: its elements go out, and a warning says
    // the input may be cut off.
    let lines = fixture_lines();
    let body = format!("[{},{}", lines[0], lines[1]);
    let out = Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args(["replay", "-"])
        .env("LLMTAP_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), body.as_bytes())?;
            drop(child.stdin.take());
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(events(&out).len(), 2);
    let err = stderr(&out);
    assert!(err.contains("never closes"), "the warning is there: {err}");
    assert!(!err.contains("\x1b["), "no ANSI escape in {err:?}");
}

fn anthropic_call(n: u64, read: u64) -> String {
    support::anthropic_call(n, read).to_string()
}

#[test]
fn a_hit_ratio_drop_is_one_alert_event_among_the_lines_stable_across_runs() {
    // Ten calls reading 18 000 of 23 427, then fifteen reading nothing.
    let lines: Vec<String> = (0..25)
        .map(|n| anthropic_call(n, if n < 10 { 18000 } else { 0 }))
        .collect();
    let file = temp_file(&(lines.join("\n") + "\n"));
    let run = || {
        let out = llmtap(&["replay", file.path().to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let (first, second) = (run(), run());
    let alerts = |out: &Output| -> Vec<Value> {
        events(out)
            .into_iter()
            .filter(|e| e["event"] == "llmtap_cache_alert")
            .collect()
    };
    let drops: Vec<Value> = alerts(&first)
        .into_iter()
        .filter(|e| e["properties"]["kind"] == "hit_ratio_drop")
        .collect();
    assert_eq!(drops.len(), 1, "{:?}", alerts(&first));
    let drop = &drops[0];
    let p = &drop["properties"];
    assert_eq!(p["$ai_model"], "claude-sonnet-4-5-20250929");
    assert_eq!(p["$ai_provider"], "anthropic");
    assert_eq!(p["calls"], 13);
    assert_eq!(p["window_seconds"], 720.0);
    assert_eq!(p["$process_person_profile"], false);
    let ratio = p["hit_ratio"].as_f64().unwrap();
    assert!(ratio < 0.6 && p["previous_hit_ratio"].as_f64().unwrap() >= 0.6);
    let prefix = p["cache_prefix_id"].as_str().unwrap();
    assert_eq!(prefix.len(), 16);
    assert_eq!(drop["distinct_id"], prefix);
    // The alert follows the call that raised it (the 13th), among the lines.
    let all = events(&first);
    let at = all.iter().position(|e| e == drop).unwrap();
    assert_eq!(all[at - 1]["properties"]["$ai_span_id"], "call-12");
    // Same file, same alert events, same uuids.
    assert_eq!(alerts(&first), alerts(&second));
    let raised = alerts(&first).len();
    assert!(
        stderr(&first).contains(&format!("{raised} cache alerts raised")),
        "{}",
        stderr(&first)
    );
}

#[test]
fn alerts_go_to_the_webhook_and_its_url_stays_out_of_the_output() {
    let capture = support::CaptureServer::start();
    let hook = format!("{}/batch/?token=hook-secret-42", capture.url());
    let lines: String = (0..25)
        .map(|n| anthropic_call(n, if n < 10 { 18000 } else { 0 }) + "\n")
        .collect();
    let f = temp_file(&lines);
    let out = llmtap(&[
        "replay",
        f.path().to_str().unwrap(),
        "--alert-webhook",
        &hook,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let texts: Vec<String> = capture
        .requests()
        .iter()
        .filter_map(|r| r.body.as_ref()?.get("text")?.as_str().map(str::to_owned))
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("hit_ratio_drop"), "{texts:?}");
    let everything = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(!everything.contains("hook-secret-42"));

    let bad = llmtap(&[
        "replay",
        f.path().to_str().unwrap(),
        "--alert-webhook",
        "ftp://x",
    ]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("http:// or https://"),
        "{}",
        stderr(&bad)
    );
}
