//! The exact event each fixture produces, pinned. A change in any property,
//! count or id shows up here as a diff; after an intended change, regenerate
//! with `LLMTAP_UPDATE_SNAPSHOTS=1 cargo test -p llmtap --test snapshots` and review it.

use std::path::Path;

use llmtap_testkit::fixtures;

use llmtap::{build_event, EventOptions, HeaderProperties, Payload};
use serde_json::Value;

#[test]
fn every_fixture_event_matches_its_snapshot() {
    let update = std::env::var_os("LLMTAP_UPDATE_SNAPSHOTS").is_some();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut mismatches = Vec::new();
    for fixture in fixtures::json_files(&fixtures::project_dir()) {
        // A .jsonl fixture holds one payload per line; the first is pinned.
        let bytes = std::fs::read(&fixture).unwrap();
        let jsonl = fixture.extension().is_some_and(|e| e == "jsonl");
        let first = match jsonl {
            true => bytes.split(|&b| b == b'\n').next().unwrap(),
            false => &bytes[..],
        };
        let payload = Payload::from_slice(first).unwrap();
        let event = build_event(
            &payload,
            &HeaderProperties::default(),
            &EventOptions::default(),
        )
        .unwrap();
        let mut got = serde_json::to_value(&event).unwrap();
        // The version changes with every release; it is not what is pinned here.
        got["properties"]["$lib_version"] = Value::from("*");
        let set = fixture
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let stem = fixture.file_stem().unwrap().to_str().unwrap();
        let name = format!("{set}__{stem}.json");
        let path = dir.join(&name);
        let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &pretty).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if serde_json::from_str::<Value>(&want).unwrap() == got => {}
            Ok(_) => mismatches.push(format!("{name}: differs; got\n{pretty}")),
            Err(_) => mismatches.push(format!(
                "{name}: no snapshot (run with LLMTAP_UPDATE_SNAPSHOTS=1)"
            )),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
