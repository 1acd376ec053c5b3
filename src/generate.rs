//! Realistic, deterministic standard logging payloads for benchmarks and load tests.
//!
//! Each payload starts from one of the SLPs recorded from the real LiteLLM
//! 1.106.2 (so the model map, metadata and hidden params have their real size
//! and shape), then gets fresh ids and times, scaled token counts that keep the
//! provider's arithmetic consistent, a ~2 KB system prompt, a multi-turn
//! conversation and a ~500 B answer. The mix covers OpenAI with cache and
//! reasoning, the Responses API, Anthropic with read/write and 5m/1h, Anthropic
//! without cache, Gemini, Bedrock, embeddings and failures.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// `(weight, template)`: recorded LiteLLM 1.106.2 payloads and how often each appears.
const TEMPLATES: &[(u32, &str)] = &[
    (
        25,
        include_str!("../tests/fixtures/litellm-1.106/openai_cache_read_and_reasoning.json"),
    ),
    (
        10,
        include_str!("../tests/fixtures/litellm-1.106/responses_cache_reasoning.json"),
    ),
    (
        20,
        include_str!("../tests/fixtures/litellm-1.106/anthropic_cache_read_and_write_split.json"),
    ),
    (
        10,
        include_str!("../tests/fixtures/litellm-1.106/anthropic_plain_no_cache_fields.json"),
    ),
    (
        12,
        include_str!("../tests/fixtures/litellm-1.106/gemini_cache_and_thoughts.json"),
    ),
    (
        10,
        include_str!("../tests/fixtures/litellm-1.106/bedrock_cache_read_write.json"),
    ),
    (
        8,
        include_str!("../tests/fixtures/litellm-1.106/openai_embedding.json"),
    ),
    (
        5,
        include_str!("../tests/fixtures/litellm-1.106/anthropic_fail_429.json"),
    ),
];

const WORDS: &[&str] = &[
    "the",
    "customer",
    "order",
    "must",
    "always",
    "be",
    "verified",
    "before",
    "refund",
    "policy",
    "assistant",
    "answer",
    "concise",
    "tools",
    "search",
    "invoice",
    "account",
    "shipping",
    "never",
    "reveal",
    "internal",
    "notes",
    "escalate",
    "when",
    "unsure",
    "cite",
    "sources",
    "from",
    "the",
    "knowledge",
    "base",
    "and",
    "format",
    "dates",
    "as",
    "ISO",
    "8601",
    "prices",
    "in",
    "euros",
];

/// An endless, seeded stream of payloads.
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
    templates: Vec<(u32, Value)>,
    total_weight: u32,
    system_prompt: String,
    clock: f64,
    seq: u64,
}

impl Generator {
    /// The same seed gives the same payloads, byte for byte.
    pub fn new(seed: u64) -> Generator {
        let mut rng = StdRng::seed_from_u64(seed);
        let templates: Vec<(u32, Value)> = TEMPLATES
            .iter()
            .map(|(w, t)| {
                (
                    *w,
                    serde_json::from_str(t).expect("templates are valid JSON"),
                )
            })
            .collect();
        let system_prompt = sentence(&mut rng, 330);
        Generator {
            total_weight: templates.iter().map(|(w, _)| w).sum(),
            templates,
            rng,
            system_prompt,
            clock: 1_795_000_000.0,
            seq: 0,
        }
    }

    /// The next payload as a JSON value.
    pub fn next_value(&mut self) -> Value {
        let mut pick = self.rng.random_range(0..self.total_weight);
        let mut slp = self.templates[0].1.clone();
        for (w, t) in &self.templates {
            if pick < *w {
                slp = t.clone();
                break;
            }
            pick -= w;
        }
        self.seq += 1;
        self.clock += self.rng.random_range(0.001..0.05);
        let factor = self.rng.random_range(1..=4u64);
        let rng = &mut self.rng;

        let id = format!("gen-{:016x}-{}", rng.random::<u64>(), self.seq);
        slp["id"] = json!(format!("chatcmpl-{id}"));
        slp["litellm_call_id"] = json!(format!("call-{id}"));
        slp["trace_id"] = json!(format!("trace-{:016x}", rng.random::<u64>()));
        let latency = rng.random_range(0.2..6.0);
        let streamed = rng.random_bool(0.3);
        slp["startTime"] = json!(self.clock);
        slp["endTime"] = json!(self.clock + latency);
        slp["completionStartTime"] = json!(if streamed {
            self.clock + latency / 4.0
        } else {
            self.clock + latency
        });
        slp["stream"] = if streamed { json!(true) } else { Value::Null };
        if rng.random_bool(0.5) {
            slp["end_user"] = json!(format!("user-{}", rng.random_range(0..5000)));
        }
        scale_tokens(&mut slp, factor);
        if let Some(cost) = slp["response_cost"].as_f64() {
            slp["response_cost"] = json!(cost * factor as f64);
        }

        let embedding = slp["call_type"]
            .as_str()
            .is_some_and(|c| c.ends_with("embedding"));
        if !embedding {
            let mut messages = vec![json!({"role": "system", "content": self.system_prompt})];
            for turn in 0..rng.random_range(1..=3) {
                messages.push(json!({"role": "user", "content": sentence(rng, 25 + turn * 10)}));
                messages.push(json!({"role": "assistant", "content": sentence(rng, 30)}));
            }
            messages.push(json!({"role": "user", "content": sentence(rng, 20)}));
            slp["messages"] = Value::Array(messages);
            let answer = sentence(rng, 80);
            if let Some(msg) = slp.pointer_mut("/response/choices/0/message/content") {
                *msg = json!(answer);
            }
            if let Some(msg) = slp.pointer_mut("/response/output/1/content/0/text") {
                *msg = json!(answer);
            }
            if let Some(headers) = slp.pointer_mut("/metadata/requester_custom_headers") {
                *headers = json!({"x-posthog-property-team": "checkout", "x-posthog-property-env": "prod"});
            }
        }
        slp
    }

    /// The next payload as one line of compact JSON (no newline).
    pub fn next_line(&mut self) -> String {
        self.next_value().to_string()
    }
}

/// `n` events built from generated payloads the way `llmtap replay` builds
/// them, for benchmarks of what happens after the event exists.
pub fn events(seed: u64, n: usize) -> Vec<llmtap::Event> {
    let mut generator = Generator::new(seed);
    let headers = llmtap::HeaderProperties::default();
    let pipeline = llmtap::Pipeline::default();
    (0..n)
        .filter_map(|_| {
            let line = generator.next_line();
            let processed = pipeline.process_slice(line.as_bytes(), &headers).ok()?;
            Some(processed.event)
        })
        .collect()
}

/// Multiplies every token count by a whole factor: sums and the checks the
/// normalizer makes between them (text + read + write = prompt) stay exact.
fn scale_tokens(v: &mut Value, factor: u64) {
    const PLACES: &[&str] = &["/metadata/usage_object", "/response/usage"];
    for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        if let Some(n) = v.get(key).and_then(Value::as_u64) {
            v[key] = json!(n * factor);
        }
    }
    for place in PLACES {
        if let Some(usage) = v.pointer_mut(place) {
            scale_all(usage, factor);
        }
    }
}

fn scale_all(v: &mut Value, factor: u64) {
    match v {
        Value::Number(n) if n.is_u64() => *v = json!(n.as_u64().unwrap_or(0) * factor),
        Value::Array(items) => items.iter_mut().for_each(|i| scale_all(i, factor)),
        Value::Object(map) => map.values_mut().for_each(|i| scale_all(i, factor)),
        _ => {}
    }
}

fn sentence(rng: &mut StdRng, words: usize) -> String {
    let mut s = String::with_capacity(words * 7);
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmtap::{normalize, Payload};

    #[test]
    fn same_seed_same_payloads() {
        let a: Vec<_> = (0..20)
            .map({
                let mut g = Generator::new(7);
                move |_| g.next_line()
            })
            .collect();
        let b: Vec<_> = (0..20)
            .map({
                let mut g = Generator::new(7);
                move |_| g.next_line()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(
            a,
            (0..20)
                .map({
                    let mut g = Generator::new(8);
                    move |_| g.next_line()
                })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn payloads_parse_and_keep_their_accounting_consistent() {
        let mut g = Generator::new(1);
        let mut sizes = 0;
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..400 {
            let line = g.next_line();
            sizes += line.len();
            let p = Payload::from_slice(line.as_bytes()).unwrap();
            let u = normalize(&p);
            kinds.insert(p.provider().to_owned());
            if let (Some(i), Some(r)) = (u.input, u.cache_read) {
                assert!(r + u.cache_write.unwrap_or(0) <= i);
            }
        }
        let avg = sizes / 400;
        assert!(
            (10_000..20_000).contains(&avg),
            "average payload {avg} bytes"
        );
        assert_eq!(kinds.len(), 4, "{kinds:?}");
    }
}
