//! The PostHog projection of normalized usage: the token properties an event
//! carries so that PostHog's ingestion bills every token class exactly once.
//!
//! [`Usage`] is the provider-neutral truth (input includes the cache, output
//! includes reasoning). PostHog's cost code has conventions of its own, and
//! every rule that bends the truth to them is written here, with its reason,
//! so `replay`'s JSONL, the shipped events and any binding agree. Another
//! destination (an OTLP span, a SQL row) takes [`Usage`] as it is.

use serde_json::Value;

use super::props;
use crate::usage::Usage;

/// The token properties of one call, in emission order; each only when the
/// usage reports it (a reported 0 included).
///
/// - `$ai_cache_reporting_exclusive: false` goes with every input count:
///   llmtap's input includes the cache, and without the flag PostHog takes
///   Anthropic input as exclusive and bills the cached tokens twice.
/// - For the models PostHog adds reasoning to (see
///   [`adds_reasoning_to_output`]), `$ai_output_tokens` leaves the reasoning
///   out, or the thoughts would be billed twice.
/// - `$ai_cache_creation_5m/1h_input_tokens` only as a pair: PostHog prices
///   the split only when both are present.
/// - No `$ai_text_input_tokens` / `$ai_text_output_tokens`: PostHog derives the
///   text pools itself, and an explicit value replaces that derivation, while
///   the providers' text counts leave out cache (Anthropic) or reasoning.
pub(crate) fn token_properties(usage: &Usage, model: &str) -> Vec<(&'static str, Value)> {
    let mut out = Vec::with_capacity(14);
    let mut put = |name: &'static str, v: Option<u64>| {
        if let Some(v) = v {
            out.push((name, Value::from(v)));
        }
    };
    put(props::INPUT_TOKENS, usage.input);
    let output = match (usage.output, usage.reasoning) {
        (Some(o), Some(r)) if adds_reasoning_to_output(model) => Some(o.saturating_sub(r)),
        (o, _) => o,
    };
    put(props::OUTPUT_TOKENS, output);
    put(props::CACHE_READ_INPUT_TOKENS, usage.cache_read);
    put(props::CACHE_CREATION_INPUT_TOKENS, usage.cache_write);
    if let (Some(m5), Some(h1)) = (usage.cache_write_5m, usage.cache_write_1h) {
        put(props::CACHE_CREATION_5M_INPUT_TOKENS, Some(m5));
        put(props::CACHE_CREATION_1H_INPUT_TOKENS, Some(h1));
    }
    put(props::REASONING_TOKENS, usage.reasoning);
    put(props::AUDIO_INPUT_TOKENS, usage.audio_input);
    put(props::IMAGE_INPUT_TOKENS, usage.image_input);
    put(props::AUDIO_OUTPUT_TOKENS, usage.audio_output);
    put(props::IMAGE_OUTPUT_TOKENS, usage.image_output);
    put(props::WEB_SEARCH_COUNT, usage.web_search_requests);
    if usage.input.is_some() {
        out.push((props::CACHE_REPORTING_EXCLUSIVE, Value::Bool(false)));
    }
    out
}

/// The normalized usage back from an event's token properties: the inverse
/// of [`token_properties`], for an event read back from JSON (which has lost
/// [`Event::usage`](super::Event::usage)). Exact but for a 5m/1h split sent
/// without its pair, which `token_properties` never writes.
pub(crate) fn usage_from_properties(p: &serde_json::Map<String, Value>, model: &str) -> Usage {
    let n = |name: &str| p.get(name).and_then(Value::as_u64);
    let mut usage = Usage::default();
    usage.input = n(props::INPUT_TOKENS);
    usage.reasoning = n(props::REASONING_TOKENS);
    usage.output = match (n(props::OUTPUT_TOKENS), usage.reasoning) {
        (Some(o), Some(r)) if adds_reasoning_to_output(model) => Some(o + r),
        (o, _) => o,
    };
    usage.cache_read = n(props::CACHE_READ_INPUT_TOKENS);
    usage.cache_write = n(props::CACHE_CREATION_INPUT_TOKENS);
    usage.cache_write_5m = n(props::CACHE_CREATION_5M_INPUT_TOKENS);
    usage.cache_write_1h = n(props::CACHE_CREATION_1H_INPUT_TOKENS);
    usage.audio_input = n(props::AUDIO_INPUT_TOKENS);
    usage.image_input = n(props::IMAGE_INPUT_TOKENS);
    usage.audio_output = n(props::AUDIO_OUTPUT_TOKENS);
    usage.image_output = n(props::IMAGE_OUTPUT_TOKENS);
    usage.web_search_requests = n(props::WEB_SEARCH_COUNT);
    usage
}

/// Whether PostHog's ingestion adds `$ai_reasoning_tokens` on top of
/// `$ai_output_tokens` when it prices the call (`mustAddReasoningCost`):
/// models matching `^gemini-2\.5-` or `^gemini-3(\.\d+)?-`, lowercased, after
/// the last `/` (`gemini/…`, `models/…`, `vertex_ai/…`). posthog-python sends
/// Gemini's `candidatesTokenCount`, which leaves the thoughts out.
pub(crate) fn adds_reasoning_to_output(model: &str) -> bool {
    let lower = model.to_ascii_lowercase();
    let bare = lower.rsplit('/').next().unwrap_or(&lower);
    if bare.starts_with("gemini-2.5-") {
        return true;
    }
    let Some(rest) = bare.strip_prefix("gemini-3") else {
        return false;
    };
    let rest = match rest.strip_prefix('.') {
        Some(minor) => {
            let digits = minor.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return false;
            }
            &minor[digits..]
        }
        None => rest,
    };
    rest.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(p: &[(&'static str, Value)], name: &str) -> Option<Value> {
        p.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn gemini_reasoning_models_match_posthogs_rule() {
        for m in [
            "gemini-2.5-pro",
            "gemini-2.5-flash-lite",
            "Gemini-2.5-Flash",
            "gemini/gemini-2.5-pro",
            "models/gemini-3-flash-preview",
            "vertex_ai/gemini-3.1-pro-preview",
            "gemini-3.10-x",
        ] {
            assert!(adds_reasoning_to_output(m), "{m}");
        }
        for m in [
            "gemini-2.5",
            "gemini-2.0-flash",
            "gemini-1.5-pro",
            "gemini-30-x",
            "gemini-3.-x",
            "gemini-3",
            "o3-mini",
            "claude-sonnet-4-5",
            "my-gemini-2.5-pro",
        ] {
            assert!(!adds_reasoning_to_output(m), "{m}");
        }
    }

    #[test]
    fn gemini_output_leaves_reasoning_out_so_posthog_bills_it_once() {
        let u = Usage::default()
            .with_input(5000)
            .with_output(300)
            .with_reasoning(250);
        let p = token_properties(&u, "gemini-2.5-pro");
        assert_eq!(get(&p, props::OUTPUT_TOKENS), Some(50.into()));
        assert_eq!(get(&p, props::REASONING_TOKENS), Some(250.into()));
        // Every other model keeps the inclusive output.
        let p = token_properties(&u, "o3-mini");
        assert_eq!(get(&p, props::OUTPUT_TOKENS), Some(300.into()));
        let p = token_properties(&u, "gemini-2.0-flash");
        assert_eq!(get(&p, props::OUTPUT_TOKENS), Some(300.into()));
    }

    #[test]
    fn gemini_output_without_reported_reasoning_is_untouched() {
        let u = Usage::default().with_input(10).with_output(7);
        let p = token_properties(&u, "gemini-2.5-flash");
        assert_eq!(get(&p, props::OUTPUT_TOKENS), Some(7.into()));
        assert_eq!(get(&p, props::REASONING_TOKENS), None);
    }

    #[test]
    fn inclusive_flag_goes_with_every_input_count() {
        let p = token_properties(&Usage::default().with_input(0), "m");
        assert_eq!(
            get(&p, props::CACHE_REPORTING_EXCLUSIVE),
            Some(false.into())
        );
        let p = token_properties(&Usage::default().with_output(3), "m");
        assert_eq!(get(&p, props::CACHE_REPORTING_EXCLUSIVE), None);
    }

    #[test]
    fn zeros_are_reports_and_absent_stays_absent() {
        let u = Usage::default()
            .with_input(50)
            .with_output(0)
            .with_cache_read(0)
            .with_cache_write(0)
            .with_cache_write_split(0, 0)
            .with_audio_input(0);
        let p = token_properties(&u, "claude-haiku-4-5");
        for name in [
            props::OUTPUT_TOKENS,
            props::CACHE_READ_INPUT_TOKENS,
            props::CACHE_CREATION_INPUT_TOKENS,
            props::CACHE_CREATION_5M_INPUT_TOKENS,
            props::CACHE_CREATION_1H_INPUT_TOKENS,
            props::AUDIO_INPUT_TOKENS,
        ] {
            assert_eq!(get(&p, name), Some(0.into()), "{name}");
        }
        for name in [
            props::REASONING_TOKENS,
            props::IMAGE_INPUT_TOKENS,
            props::AUDIO_OUTPUT_TOKENS,
            props::IMAGE_OUTPUT_TOKENS,
            props::WEB_SEARCH_COUNT,
        ] {
            assert_eq!(get(&p, name), None, "{name}");
        }
    }

    #[test]
    fn the_ttl_split_goes_only_as_a_pair() {
        let mut u = Usage::default().with_input(10).with_cache_write(5);
        u.cache_write_5m = Some(5);
        let p = token_properties(&u, "claude");
        assert_eq!(get(&p, props::CACHE_CREATION_5M_INPUT_TOKENS), None);
        assert_eq!(get(&p, props::CACHE_CREATION_1H_INPUT_TOKENS), None);
    }

    #[test]
    fn token_classes_are_emitted_and_text_pools_never() {
        let u = Usage::default()
            .with_input(100)
            .with_output(40)
            .with_audio_input(30)
            .with_image_input(20)
            .with_audio_output(10)
            .with_image_output(5)
            .with_web_search_requests(2);
        let p = token_properties(&u, "gpt-4o-audio-preview");
        assert_eq!(get(&p, props::AUDIO_INPUT_TOKENS), Some(30.into()));
        assert_eq!(get(&p, props::IMAGE_INPUT_TOKENS), Some(20.into()));
        assert_eq!(get(&p, props::AUDIO_OUTPUT_TOKENS), Some(10.into()));
        assert_eq!(get(&p, props::IMAGE_OUTPUT_TOKENS), Some(5.into()));
        assert_eq!(get(&p, props::WEB_SEARCH_COUNT), Some(2.into()));
        assert!(p.iter().all(|(k, _)| !k.starts_with("$ai_text_")));
    }
}
