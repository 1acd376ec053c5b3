//! Realistic, deterministic standard logging payloads for benchmarks and load tests.
//!
//! Each payload starts from one of the SLPs recorded from the real LiteLLM
//! 1.106.2 (so the model map, metadata and hidden params have their real size
//! and shape), then gets fresh ids and times, scaled token counts that keep the
//! provider's arithmetic consistent, a ~2 KB system prompt, a multi-turn
//! conversation and a ~500 B answer. The mix covers OpenAI with cache and
//! reasoning, the Responses API, Anthropic with read/write and 5m/1h, Anthropic
//! without cache, Gemini, Bedrock, embeddings and failures.
//!
//! [`CacheRegression`] tells one story instead of a mix: a cached prompt, a
//! deploy that breaks its cache, and the fix; the demo and the end-to-end
//! test of cache observability (`llmtap generate --scenario cache-regression`).

use llmtap::payload::Timestamp;
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

/// The recorded Anthropic payload with cache read and write counts: the
/// shape whose breakpoints and counts the prefix ids and miss kinds read.
const ANTHROPIC_CACHE: &str =
    include_str!("../tests/fixtures/litellm-1.106/anthropic_cache_read_and_write_split.json");

/// How long the simulated provider keeps a cache entry after its last write
/// or read: Anthropic's ephemeral 5 minutes, which is also llmtap's default.
const PROVIDER_TTL_SECS: f64 = 300.0;

/// Tokens of the long system prompt (the cacheable prefix), above the
/// model's `prompt_cache_min_tokens` of 1024.
const PREFIX_TOKENS: u64 = 2400;

/// Which part of the cache-regression story a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The stable system prompt: one prefix, read from the cache.
    Before,
    /// A deploy appended the current time to the system prompt: every
    /// call's prefix differs, nothing is ever read back.
    Deploy,
    /// The stable prompt again: after one write, the cache hits again.
    Recovery,
}

/// The story of cachebench's "one deploy that appends a timestamp to the
/// system prompt": `n` Anthropic calls, the first 40 % with a stable cached
/// prefix, the next 30 % after a deploy that makes each call's prefix
/// unique, the last 30 % after the fix. Calls are a few seconds apart, in
/// agent runs of 2 to 6 calls sharing a `trace_id` whose conversation grows,
/// so TTLs, the per-trace call index and the time series all have something
/// to show. The simulated provider caches as Anthropic does: a prefix is
/// read when it was written or read within 5 minutes, else written again.
#[derive(Debug)]
pub struct CacheRegression {
    rng: StdRng,
    template: Value,
    stable_prompt: String,
    total: u64,
    seq: u64,
    clock: f64,
    /// When the provider last wrote or read the stable prompt.
    stable_last_use: Option<f64>,
    /// The current agent run: its trace id, the calls made and the calls it will make.
    run: (String, u32, u32),
    /// The run's conversation so far (user and assistant turns).
    turns: Vec<Value>,
}

impl CacheRegression {
    /// `total` calls of the story; the same seed gives the same bytes.
    pub fn new(seed: u64, total: u64) -> CacheRegression {
        let mut rng = StdRng::seed_from_u64(seed);
        let template = serde_json::from_str(ANTHROPIC_CACHE).expect("the template is valid JSON");
        let stable_prompt = sentence(&mut rng, 1800);
        CacheRegression {
            rng,
            template,
            stable_prompt,
            total,
            seq: 0,
            clock: 1_795_000_000.0,
            stable_last_use: None,
            run: (String::new(), 0, 0),
            turns: Vec::new(),
        }
    }

    /// The phase of the call numbered `seq` (0-based) of `total`.
    pub fn phase(seq: u64, total: u64) -> Phase {
        if seq * 10 < total * 4 {
            Phase::Before
        } else if seq * 10 < total * 7 {
            Phase::Deploy
        } else {
            Phase::Recovery
        }
    }

    /// The next payload, or `None` once the story is told.
    pub fn next_value(&mut self) -> Option<Value> {
        if self.seq >= self.total {
            return None;
        }
        let phase = Self::phase(self.seq, self.total);
        self.seq += 1;
        self.clock += self.rng.random_range(2.0..12.0);
        let now = self.clock;
        let rng = &mut self.rng;
        if self.run.1 >= self.run.2 {
            self.run = (
                format!("run-{:016x}", rng.random::<u64>()),
                0,
                rng.random_range(2..=6),
            );
            self.turns.clear();
        }
        self.run.1 += 1;

        let (system, prefix_tokens) = match phase {
            Phase::Deploy => {
                let at = Timestamp::from_micros((now * 1e6) as i64).to_rfc3339();
                (
                    format!("{}\n\nCurrent time: {at}", self.stable_prompt),
                    PREFIX_TOKENS + 12,
                )
            }
            Phase::Before | Phase::Recovery => (self.stable_prompt.clone(), PREFIX_TOKENS),
        };
        let (read, write) = match phase {
            Phase::Deploy => (0, prefix_tokens),
            Phase::Before | Phase::Recovery => {
                let alive = self
                    .stable_last_use
                    .is_some_and(|t| now - t <= PROVIDER_TTL_SECS);
                self.stable_last_use = Some(now);
                if alive {
                    (prefix_tokens, 0)
                } else {
                    (0, prefix_tokens)
                }
            }
        };

        self.turns
            .push(json!({"role": "user", "content": sentence(rng, 30)}));
        let mut messages = vec![json!({"role": "system", "content": [
            {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
        ]})];
        messages.extend(self.turns.iter().cloned());
        let text_tokens = 40 + 60 * self.turns.len() as u64 + rng.random_range(0..40);
        let output = rng.random_range(80..400u64);
        let answer = sentence(rng, 60);
        self.turns
            .push(json!({"role": "assistant", "content": answer}));

        let mut slp = self.template.clone();
        let prices = &slp["model_map_information"]["model_map_value"];
        let price = |k: &str| prices[k].as_f64().unwrap_or(0.0);
        let input_cost = text_tokens as f64 * price("input_cost_per_token")
            + read as f64 * price("cache_read_input_token_cost")
            + write as f64 * price("cache_creation_input_token_cost");
        let output_cost = output as f64 * price("output_cost_per_token");
        let read_cost = read as f64 * price("cache_read_input_token_cost");
        let write_cost = write as f64 * price("cache_creation_input_token_cost");

        let id = format!("scn-{:016x}-{}", rng.random::<u64>(), self.seq);
        slp["id"] = json!(format!("chatcmpl-{id}"));
        slp["litellm_call_id"] = json!(format!("call-{id}"));
        slp["trace_id"] = json!(self.run.0);
        let latency = rng.random_range(0.8..4.0);
        slp["startTime"] = json!(now);
        slp["endTime"] = json!(now + latency);
        slp["completionStartTime"] = json!(now + latency);
        slp["response_time"] = json!(latency);
        slp["messages"] = Value::Array(messages);
        let prompt = text_tokens + read + write;
        let usage = json!({
            "completion_tokens": output,
            "prompt_tokens": prompt,
            "total_tokens": prompt + output,
            "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": output},
            "prompt_tokens_details": {
                "audio_tokens": null,
                "cache_write_tokens": write,
                "cached_tokens": read,
                "text_tokens": text_tokens,
                "image_tokens": null,
                "video_tokens": null,
                "cache_creation_tokens": write,
                "cache_creation_token_details": {
                    "ephemeral_5m_input_tokens": write,
                    "ephemeral_1h_input_tokens": 0
                }
            },
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "service_tier": "standard"
        });
        slp["metadata"]["usage_object"] = usage.clone();
        slp["response"]["usage"] = usage;
        slp["response"]["id"] = slp["id"].clone();
        slp["response"]["created"] = json!(now as u64);
        if let Some(msg) = slp.pointer_mut("/response/choices/0/message/content") {
            *msg = json!(answer);
        }
        slp["prompt_tokens"] = json!(prompt);
        slp["completion_tokens"] = json!(output);
        slp["total_tokens"] = json!(prompt + output);
        let total_cost = input_cost + output_cost;
        slp["response_cost"] = json!(total_cost);
        slp["hidden_params"]["response_cost"] = json!(total_cost);
        let breakdown = &mut slp["cost_breakdown"];
        breakdown["input_cost"] = json!(input_cost);
        breakdown["output_cost"] = json!(output_cost);
        breakdown["total_cost"] = json!(total_cost);
        breakdown["original_cost"] = json!(total_cost);
        breakdown["cache_read_cost"] = json!(read_cost);
        breakdown["cache_creation_cost"] = json!(write_cost);
        Some(slp)
    }

    /// The next payload as one line of compact JSON (no newline).
    pub fn next_line(&mut self) -> Option<String> {
        self.next_value().map(|v| v.to_string())
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
