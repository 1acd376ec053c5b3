//! `llmtap generate --scenario cache-regression | llmtap replay`, on the real
//! binary: the story the scenario tells is the one the events and the
//! summary tell back.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use llmtap_cli::generate::{CacheRegression, Phase};
use serde_json::Value;

const CALLS: u64 = 300;

fn llmtap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llmtap"))
}

fn generate(seed: u64) -> Vec<u8> {
    let out = llmtap()
        .args(["generate", "--scenario", "cache-regression", "--seed"])
        .arg(seed.to_string())
        .args(["-n", &CALLS.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Σ cache read ÷ Σ input, as every hit ratio over several calls.
fn hit_ratio(events: &[&Value]) -> f64 {
    let sum = |key: &str| -> u64 {
        events
            .iter()
            .map(|e| e["properties"][key].as_u64().unwrap())
            .sum()
    };
    sum("$ai_cache_read_input_tokens") as f64 / sum("$ai_input_tokens") as f64
}

#[test]
fn the_same_seed_tells_the_same_story() {
    let a = generate(9);
    assert_eq!(a, generate(9));
    assert_ne!(a, generate(10));
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count() as u64, CALLS);
}

#[test]
fn a_deploy_breaks_the_cache_and_the_fix_restores_it() {
    let mut generate = llmtap()
        .args(["generate", "--scenario", "cache-regression", "--seed", "5"])
        .args(["-n", &CALLS.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let replay = llmtap()
        .args(["replay", "-"])
        .stdin(generate.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(generate.wait().unwrap().success());
    let summary = String::from_utf8_lossy(&replay.stderr);
    assert!(replay.status.success(), "{summary}");

    let (alerts, events): (Vec<Value>, Vec<Value>) = replay
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<Value>(l).unwrap())
        .partition(|e| e["event"] == "llmtap_cache_alert");
    assert_eq!(events.len() as u64, CALLS);
    // The deploy gives every call a prefix of its own, so no prefix has the
    // calls to show a drop: the model's rolling window does, once.
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["properties"]["kind"], "hit_ratio_drop");
    assert_eq!(alert["distinct_id"], "claude-sonnet-4-5-20250929");
    assert!(alert["properties"]["hit_ratio"].as_f64().unwrap() < 0.6);
    assert!(summary.contains("1 cache alerts raised"), "{summary}");
    let phase = |p: Phase| -> Vec<&Value> {
        events
            .iter()
            .enumerate()
            .filter(|&(i, _)| CacheRegression::phase(i as u64, CALLS) == p)
            .map(|(_, e)| e)
            .collect()
    };
    let (before, deploy, after) = (
        phase(Phase::Before),
        phase(Phase::Deploy),
        phase(Phase::Recovery),
    );
    assert_eq!((before.len(), deploy.len(), after.len()), (120, 90, 90));

    let (b, d, a) = (hit_ratio(&before), hit_ratio(&deploy), hit_ratio(&after));
    assert!(b > 0.7, "hit ratio before the deploy: {b}");
    assert_eq!(d, 0.0, "hit ratio during the deploy");
    assert!(a > 0.7, "hit ratio after the fix: {a}");

    let ids = |events: &[&Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| {
                e["properties"]["cache_prefix_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let stable: BTreeSet<String> = ids(&before).into_iter().chain(ids(&after)).collect();
    assert_eq!(
        stable.len(),
        1,
        "one stable prefix before and after: {stable:?}"
    );
    let stable = stable.into_iter().next().unwrap();
    let during: BTreeSet<String> = ids(&deploy).into_iter().collect();
    assert_eq!(
        during.len(),
        deploy.len(),
        "every deployed prompt is its own prefix"
    );
    assert!(!during.contains(&stable));

    let miss = |e: &Value| e["properties"]["cache_miss"].as_str().map(str::to_owned);
    assert_eq!(miss(before[0]).as_deref(), Some("cold"));
    assert!(deploy.iter().all(|e| miss(e).as_deref() == Some("cold")));
    // The deploy lasted longer than the 5-minute TTL: the stable entry is gone.
    assert_eq!(miss(after[0]).as_deref(), Some("expired"));
    assert!(before[1..]
        .iter()
        .chain(&after[1..])
        .all(|e| miss(e).is_none()));

    // The summary's prefix table: the stable prefix first, with every call
    // but the deploy's, then the count of all prefixes.
    assert!(summary.contains("91 distinct prefixes"), "{summary}");
    let row = summary
        .lines()
        .find(|l| l.starts_with(&stable))
        .unwrap_or_else(|| panic!("no row for {stable}: {summary}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2], "210", "{row}");
    assert!(row.ends_with("cold 1, expired 1"), "{row}");
}
