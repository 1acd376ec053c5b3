//! Splitting a body isolates poison: one bad entry is that entry's typed
//! error, never the body's, and Python's non-finite literals are read as
//! LiteLLM meant them.

use llmtap::payload::{split_body_partial, MAX_DEPTH};
use llmtap::{
    build_event, split_body, EntryLocation, EventOptions, HeaderProperties, Payload, PayloadError,
};
use serde_json::json;

fn good(i: usize) -> String {
    json!({
        "id": format!("chatcmpl-{i}"), "model": "gpt-4o", "custom_llm_provider": "openai",
        "call_type": "acompletion", "status": "success", "startTime": 1750000000.0 + i as f64,
        "response_cost": 0.001,
        "metadata": {"usage_object": {"prompt_tokens": 10 + i, "completion_tokens": 2}},
        "messages": [{"role": "user", "content": format!("hi [{{\"x\": NaN}}] #{i}")}],
    })
    .to_string()
}

/// An SLP as Python's `json.dumps` writes it, with `field` spliced in raw.
fn python(field: &str) -> String {
    format!(
        r#"{{"model": "gpt-4o", "startTime": 1750000000.0, "call_type": "completion", {field}}}"#
    )
}

fn deep(levels: usize) -> String {
    format!(
        r#"{{"model": "m", "startTime": 1750000000.0, "messages": {}{}}}"#,
        "[".repeat(levels - 1),
        "]".repeat(levels - 1)
    )
}

/// Entry number (1-based) → the bad entry's raw bytes.
fn poisoned_body(n: usize) -> (Vec<u8>, Vec<(usize, Vec<u8>)>) {
    let bad: Vec<Vec<u8>> = vec![
        python("\"response_cost\": NaN, \"cost_breakdown\": {\"input_cost\": -Infinity}").into(),
        python("\"metadata\": {\"usage_object\": {\"prompt_tokens\": Infinity}}").into(),
        python("\"id\": \"tab\there\"").into(),
        [
            &b"{\"model\": \"gpt-4o\", \"startTime\": 1750000000.0, \"id\": \""[..],
            b"\xff\xfe\"}",
        ]
        .concat(),
        deep(150).into(),
        b"{\"model\": garbage, \"x\": [1, 2}]".to_vec(),
        b"null".to_vec(),
        b"garbage".to_vec(),
    ];
    let mut body = b"[".to_vec();
    let mut placed = Vec::new();
    let mut bad = bad.into_iter();
    for i in 1..=n {
        if i > 1 {
            body.extend_from_slice(b",\n  ");
        }
        match (i % 5 == 3).then(|| bad.next()).flatten() {
            Some(b) => {
                body.extend_from_slice(&b);
                placed.push((i, b));
            }
            None => body.extend_from_slice(good(i).as_bytes()),
        }
    }
    assert!(bad.next().is_none(), "body too short for every bad entry");
    body.push(b']');
    (body, placed)
}

#[test]
fn one_bad_entry_of_each_kind_hides_none_of_the_others() {
    let (body, bad) = poisoned_body(60);
    let entries = split_body(&body).unwrap();
    assert_eq!(entries.len(), 60);
    let bad_at = |i: usize| bad.iter().find(|(j, _)| *j == i).map(|(_, b)| b);
    for (k, entry) in entries.iter().enumerate() {
        let i = k + 1;
        assert_eq!(entry.location, EntryLocation::Index(i));
        match bad_at(i) {
            None => {
                let p = entry.parse().unwrap_or_else(|e| panic!("entry {i}: {e}"));
                assert_eq!(p.id.as_deref(), Some(format!("chatcmpl-{i}").as_str()));
                assert_eq!(entry.bytes, good(i).as_bytes());
            }
            Some(raw) => assert_eq!(entry.bytes, &raw[..], "entry {i}"),
        }
    }
    let verdict = |n: usize| entries[bad[n].0 - 1].parse();

    // A NaN cost is no cost; the call still counts.
    let p = verdict(0).unwrap();
    assert_eq!(p.response_cost, None);
    assert_eq!(p.cost_breakdown.unwrap().input_cost, None);
    // An infinite count is that entry's field error.
    let err = verdict(1).unwrap_err();
    assert_eq!(err.field(), Some("metadata.usage_object.prompt_tokens"));
    assert!(err.to_string().contains("not a finite number"), "{err}");
    // Raw control character, invalid UTF-8: syntax errors of their entry.
    assert!(matches!(verdict(2), Err(PayloadError::Syntax { .. })));
    assert!(matches!(verdict(3), Err(PayloadError::Syntax { .. })));
    // Too deep: refused unparsed.
    assert_eq!(
        verdict(4).unwrap_err(),
        PayloadError::TooDeep {
            depth: 150,
            limit: MAX_DEPTH
        }
    );
    // Garbage, balanced or bare.
    assert!(matches!(verdict(5), Err(PayloadError::Syntax { .. })));
    assert!(entries[bad[6].0 - 1].is_null());
    assert!(matches!(verdict(7), Err(PayloadError::Syntax { .. })));

    // The same verdicts from a plain `Payload::from_slice` of the bytes.
    for (i, _) in &bad {
        let entry = &entries[i - 1];
        assert_eq!(
            entry.parse().map(|p| p.id),
            Payload::from_slice(entry.bytes).map(|p| p.id),
            "entry {i}"
        );
    }
}

#[test]
fn depth_is_capped_at_the_limit_exactly() {
    // In a body, each entry is scanned while splitting: the cap is exact.
    let body = format!("[{},{}]", deep(MAX_DEPTH), deep(MAX_DEPTH + 1));
    let entries = split_body(body.as_bytes()).unwrap();
    assert!(entries[0].parse().is_ok());
    assert!(matches!(
        entries[1].parse(),
        Err(PayloadError::TooDeep { depth: 101, .. })
    ));
    // A lone payload, whichever way it is checked.
    assert!(Payload::from_slice(deep(MAX_DEPTH).as_bytes()).is_ok());
    assert!(matches!(
        Payload::from_slice(deep(MAX_DEPTH + 1).as_bytes()),
        Err(PayloadError::TooDeep { depth: 101, .. })
    ));
    // Far deeper than any parser's recursion limit: still one entry's error.
    let body = format!("[{},{}]", deep(100_000), good(2));
    let entries = split_body(body.as_bytes()).unwrap();
    assert!(matches!(
        entries[0].parse(),
        Err(PayloadError::TooDeep { .. })
    ));
    assert!(entries[1].parse().is_ok());
}

#[test]
fn non_finite_token_counts_are_errors_wherever_they_sit() {
    for (field, path) in [
        ("\"prompt_tokens\": NaN", "prompt_tokens"),
        (
            "\"response\": {\"usage\": {\"completion_tokens\": -Infinity}}",
            "response.usage.completion_tokens",
        ),
        (
            "\"metadata\": {\"usage_object\": {\"completion_tokens_details\": {\"reasoning_tokens\": NaN}}}",
            "metadata.usage_object.completion_tokens_details.reasoning_tokens",
        ),
    ] {
        let err = Payload::from_slice(python(field).as_bytes()).unwrap_err();
        assert_eq!(err.field(), Some(path), "{err}");
    }
    let kwargs = format!(
        r#"{{"model": "x", "standard_logging_object": {}}}"#,
        python("\"total_tokens\": Infinity")
    );
    let err = Payload::from_slice(kwargs.as_bytes()).unwrap_err();
    assert_eq!(err.field(), Some("standard_logging_object.total_tokens"));

    // Elsewhere a non-finite number is simply absent.
    let p = Payload::from_slice(
        python(r#""response_cost": Infinity, "endTime": NaN, "model_parameters": {"temperature": NaN}, "metadata": {"usage_object": {"prompt_tokens": 7}}"#)
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(p.response_cost, None);
    assert_eq!(p.end_time, None);
    assert_eq!(p.model_parameters, Some(json!({"temperature": null})));
    assert_eq!(llmtap::normalize(&p).input, Some(7));
}

#[test]
fn non_finite_numbers_in_content_reach_posthog_as_null() {
    let raw = python(
        r#""messages": [{"role": "user", "content": [{"type": "text", "text": "NaN stays", "score": NaN}]}],
           "response": {"choices": [{"message": {"role": "assistant", "content": "ok", "logprob": -Infinity}}]}"#,
    );
    let body = format!("[{raw}]");
    let entries = split_body(body.as_bytes()).unwrap();
    let payload = entries[0].parse().unwrap();
    let event = build_event(
        &payload,
        &HeaderProperties::default(),
        &EventOptions::default(),
    )
    .unwrap();
    let json = serde_json::to_string(&event).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).expect("the event is valid JSON");
    let props = &value["properties"];
    assert_eq!(
        props["$ai_input"],
        json!([{"role": "user", "content": [{"type": "text", "text": "NaN stays", "score": null}]}])
    );
    assert_eq!(props["$ai_output_choices"][0]["logprob"], json!(null));
}

#[test]
fn a_broken_array_keeps_the_entries_before_the_break() {
    let body = format!("[{}, {}, {{\"model\": \"cut", good(1), good(2));
    assert!(split_body(body.as_bytes()).is_err());
    let (entries, broken) = split_body_partial(body.as_bytes());
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.parse().is_ok()));
    let broken = broken.unwrap().to_string();
    assert!(broken.contains("entry 3 never ends"), "{broken}");

    // An unclosed bracket in one entry swallows what follows it, not what precedes.
    let body = format!("[{}, {{\"a\": [1, {}]", good(1), good(3));
    let (entries, broken) = split_body_partial(body.as_bytes());
    assert_eq!(entries.len(), 1);
    assert!(broken.is_some());

    // Stray closers and empty entries belong to their entry alone.
    let body = format!(
        "[{}, {{\"a\": 1}}}}, ], {}, , {}]",
        good(1),
        good(3),
        good(5)
    );
    let entries = split_body(body.as_bytes()).unwrap();
    let ok: Vec<bool> = entries.iter().map(|e| e.parse().is_ok()).collect();
    assert_eq!(ok, [true, false, false, true, false, true]);
    assert_eq!(split_body(b"[]").unwrap().len(), 0);
    assert_eq!(split_body(b" [ ] ").unwrap().len(), 0);
}

#[test]
fn single_objects_and_ndjson_take_python_literals_too() {
    let pretty =
        "{\n  \"model\": \"m\",\n  \"startTime\": 1750000000.0,\n  \"response_cost\": NaN\n}\n";
    let entries = split_body(pretty.as_bytes()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].location, EntryLocation::Whole);
    assert_eq!(entries[0].parse().unwrap().response_cost, None);

    let ndjson = format!(
        "{}\n{}\n{}\n",
        python("\"response_cost\": NaN"),
        python("\"prompt_tokens\": NaN"),
        good(3)
    );
    let entries = split_body(ndjson.as_bytes()).unwrap();
    let got: Vec<_> = entries
        .iter()
        .map(|e| (e.location, e.parse().is_ok()))
        .collect();
    assert_eq!(
        got,
        [
            (EntryLocation::Line(1), true),
            (EntryLocation::Line(2), false),
            (EntryLocation::Line(3), true)
        ]
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const STRUCTURAL: &[u8] = b"\"\\[]{},";

    /// Byte ranges of each entry's span: from after the previous separator
    /// through its own separator.
    fn spans(body: &[u8], n: usize) -> Vec<std::ops::Range<usize>> {
        let entries = split_body(body).unwrap();
        assert_eq!(entries.len(), n);
        let mut spans = Vec::new();
        let mut from = 1;
        for e in &entries {
            let start = e.bytes.as_ptr() as usize - body.as_ptr() as usize;
            let sep = start + e.bytes.len();
            spans.push(from..sep + 1);
            from = sep + 1;
        }
        spans
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn mutations_never_panic_and_never_lose_an_untouched_entry(
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            n in 2usize..8,
        ) {
            let goods: Vec<String> = (1..=n).map(good).collect();
            let body = format!("[{}]", goods.join(", ")).into_bytes();
            let spans = spans(&body, n);
            let p = at.index(body.len());
            let mut mutated = body.clone();
            mutated[p] = byte;

            let (entries, broken) = split_body_partial(&mutated);
            for e in &entries {
                let _ = e.parse();
            }
            let _ = Payload::from_slice(&mutated);
            if p == 0 {
                return Ok(()); // no longer an array: only "no panic" holds
            }
            let touched = spans.iter().position(|s| s.contains(&p)).unwrap();

            // Whatever the mutation, every entry before it survives.
            prop_assert!(entries.len() >= touched, "{} < {touched}", entries.len());
            for (e, g) in entries.iter().zip(&goods).take(touched) {
                prop_assert_eq!(e.bytes, g.as_bytes());
                prop_assert!(e.parse().is_ok());
            }
            // A mutation that adds or removes no structure costs one entry at most.
            if !STRUCTURAL.contains(&body[p]) && !STRUCTURAL.contains(&byte) {
                prop_assert!(broken.is_none());
                prop_assert_eq!(entries.len(), n);
                for (k, (e, g)) in entries.iter().zip(&goods).enumerate() {
                    if k != touched {
                        prop_assert_eq!(e.bytes, g.as_bytes());
                        prop_assert!(e.parse().is_ok());
                    }
                }
            }
        }
    }
}
