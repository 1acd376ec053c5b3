//! The JSON Schemas in `schemas/` describe what llmtap accepts and emits.

use llmtap::{build_event, EventOptions, HeaderProperties, Payload};
use llmtap_testkit::fixtures;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = fixtures::at_root(&format!("schemas/{name}"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&load(name))
        .unwrap()
}

fn fixture_payloads() -> Vec<(String, Value)> {
    let mut files = fixtures::json_files(&fixtures::project_dir());
    if let Some(shared) = fixtures::shared_dir() {
        files.extend(fixtures::json_files(&shared));
    }
    fixtures::documents(&files)
        .into_iter()
        .map(|(name, bytes)| (name, serde_json::from_slice(&bytes).unwrap()))
        .collect()
}

#[test]
fn every_emitted_event_of_every_fixture_matches_its_schema() {
    let generation = validator("ai_generation.schema.json");
    let embedding = validator("ai_embedding.schema.json");
    let mut checked = 0;
    for options in [
        EventOptions::default(),
        EventOptions::default()
            .privacy_mode(true)
            .group("company", "acme"),
    ] {
        for (name, value) in fixture_payloads() {
            let Ok(payload) = Payload::from_value(&value) else {
                continue;
            };
            let event = build_event(&payload, &HeaderProperties::default(), &options).unwrap();
            let json = serde_json::to_value(&event).unwrap();
            let v = if event.event == "$ai_embedding" {
                &embedding
            } else {
                &generation
            };
            let errors: Vec<String> = v
                .iter_errors(&json)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            checked += 1;
        }
    }
    assert!(checked >= 22, "only {checked} events checked");
}

#[test]
fn the_event_schemas_reject_what_llmtap_must_never_emit() {
    let generation = validator("ai_generation.schema.json");
    let bad = serde_json::json!({
        "event": "$ai_generation", "distinct_id": "", "timestamp": "yesterday", "uuid": "x",
        "properties": {"$ai_model": "m", "$ai_trace_id": "t", "$lib": "llmtap",
                       "$ai_input_tokens": 10, "$ai_cache_reporting_exclusive": true}
    });
    assert!(generation.iter_errors(&bad).count() >= 4);
}

#[test]
fn every_accepted_fixture_matches_the_payload_schema_and_rejected_ones_do_not_parse() {
    let slp = validator("slp.schema.json");
    for (name, value) in fixture_payloads() {
        let parsed = Payload::from_value(&value);
        if value.get("standard_logging_object").is_some() {
            assert!(slp.is_valid(&value["standard_logging_object"]), "{name}");
        } else if parsed.is_ok() {
            let errors: Vec<String> = slp
                .iter_errors(&value)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
        }
    }
}
