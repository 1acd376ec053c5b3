//! Prometheus metrics: token accounting per provider and model, from the
//! normalized usage (so Anthropic cache reads count, unlike in LiteLLM's own
//! cached-token metric), and the fate of every event.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};

use llmtap::{AlertKind, Delivery, DropReason, Observation, PrefixId, Usage};

use super::clip;

/// Longest provider or model label value, in bytes; longer ones are cut.
pub const MAX_LABEL_BYTES: usize = 128;

/// The provider and model of the series calls fold into once the cap on
/// distinct pairs is reached.
pub const OTHER: &str = "__other__";

/// Distinct (provider, model) pairs tracked by default.
pub const DEFAULT_MAX_MODEL_SERIES: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MissLabels {
    provider: String,
    model: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PrefixLabels {
    prefix: String,
}

/// Prefixes whose hit ratio `/metrics` shows: the busiest, so a scrape stays
/// small whatever the number of prompts.
pub const TOP_PREFIXES: usize = 20;
/// Prefixes counted to find the busiest; when full, a new one takes the
/// place of the one with the fewest calls.
const TRACKED_PREFIXES: usize = 1000;

/// Σ read, Σ input (over calls reporting both) and calls of one prefix.
#[derive(Debug, Clone, Copy, Default)]
struct PrefixCounts {
    read: u64,
    input: u64,
    calls: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

type Tokens = Family<ModelLabels, Counter>;

/// Every metric the sidecar exposes at `GET /metrics`.
pub struct Metrics {
    registry: Registry,
    calls: Tokens,
    input: Tokens,
    output: Tokens,
    cache_read: Tokens,
    cache_write: Tokens,
    cache_write_5m: Tokens,
    cache_write_1h: Tokens,
    reasoning: Tokens,
    audio_input: Tokens,
    image_input: Tokens,
    audio_output: Tokens,
    image_output: Tokens,
    web_searches: Tokens,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    /// A gauge: savings are negative when cache writes did not pay back.
    savings: Family<ModelLabels, Gauge<f64, AtomicU64>>,
    misses: Family<MissLabels, Counter>,
    /// Rewritten at each scrape from `prefixes`: the busiest ones only.
    prefix_hit_ratio: Family<PrefixLabels, Gauge<f64, AtomicU64>>,
    prefix_calls: Family<PrefixLabels, Gauge>,
    prefixes: Mutex<HashMap<PrefixId, PrefixCounts>>,
    /// Label values are the alert kinds: a fixed, small set.
    alerts: Family<AlertLabels, Counter>,
    received: Counter,
    accepted: Counter,
    rejected: Family<ReasonLabels, Counter>,
    refused_requests: Counter,
    delivered: Counter,
    dropped: Family<ReasonLabels, Counter>,
    queue_len: Gauge,
    folded: Counter,
    /// The (provider, model) pairs that have their own series.
    series: Mutex<HashSet<ModelLabels>>,
    max_series: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(DEFAULT_MAX_MODEL_SERIES)
    }
}

impl Metrics {
    /// Metrics with at most `max_series` (provider, model) pairs: each label
    /// set is a series per token family, and payloads name the model, so
    /// without a cap any client could grow `/metrics` without bound.
    pub fn new(max_series: usize) -> Self {
        let mut registry = Registry::with_prefix("llmtap");
        let mut tokens = |name: &str, help: &str| {
            let family = Tokens::default();
            registry.register(name, help, family.clone());
            family
        };
        let calls = tokens("calls", "LLM calls accepted, by provider and model");
        let input = tokens("input_tokens", "Input tokens, cached ones included");
        let output = tokens("output_tokens", "Output tokens, reasoning included");
        let cache_read = tokens(
            "cache_read_tokens",
            "Input tokens read from the prompt cache",
        );
        let cache_write = tokens(
            "cache_write_tokens",
            "Input tokens written to the prompt cache",
        );
        let cache_write_5m = tokens("cache_write_5m_tokens", "Cache writes with a 5-minute TTL");
        let cache_write_1h = tokens("cache_write_1h_tokens", "Cache writes with a 1-hour TTL");
        let reasoning = tokens("reasoning_tokens", "Reasoning tokens (part of output)");
        let audio_input = tokens("audio_input_tokens", "Audio input tokens (part of input)");
        let image_input = tokens("image_input_tokens", "Image input tokens (part of input)");
        let audio_output = tokens(
            "audio_output_tokens",
            "Audio output tokens (part of output)",
        );
        let image_output = tokens(
            "image_output_tokens",
            "Image output tokens (part of output)",
        );
        let web_searches = tokens(
            "web_search_requests",
            "Server-side web searches the provider ran",
        );
        let cost = Family::<ModelLabels, Counter<f64, AtomicU64>>::default();
        registry.register("cost_usd", "Cost in USD as priced by LiteLLM", cost.clone());
        let savings = Family::<ModelLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "cache_savings_usd",
            "USD the prompt cache saved (negative when writes did not pay back), summed",
            savings.clone(),
        );
        let prefix_hit_ratio = Family::<PrefixLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "prefix_cache_hit_ratio",
            "Cache read / input of the busiest prefixes (by calls), over their calls reporting both",
            prefix_hit_ratio.clone(),
        );
        let prefix_calls = Family::<PrefixLabels, Gauge>::default();
        registry.register(
            "prefix_calls",
            "Calls of the busiest prefixes since they were first tracked",
            prefix_calls.clone(),
        );
        let misses = Family::<MissLabels, Counter>::default();
        registry.register(
            "cache_misses",
            "Calls with a cacheable prefix that read nothing from the cache, by kind (uncached, cold, expired, silent)",
            misses.clone(),
        );
        let alerts = Family::<AlertLabels, Counter>::default();
        registry.register(
            "cache_alerts",
            "Cache alerts raised, by kind (hit_ratio_drop, silent_misses, cache_fields_missing, inconsistent_usage, cost_mismatch)",
            alerts.clone(),
        );
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let received = counter(
            "payloads_received",
            "Payload entries received, bad ones included",
        );
        let accepted = counter("events_accepted", "Events handed to the exporter");
        let folded = counter(
            "metrics_folded_calls",
            "Calls counted under model=\"__other__\" because --max-model-series was reached",
        );
        let refused_requests = counter(
            "requests_refused",
            "Requests answered 503 because the exporter queue (or the spool) was full",
        );
        let delivered = counter("events_delivered", "Events the capture API acknowledged");
        let mut by_reason = |name: &str, help: &str| {
            let family = Family::<ReasonLabels, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        let rejected = by_reason(
            "payloads_rejected",
            "Entries that produced no event, by reason",
        );
        let dropped = by_reason(
            "events_dropped",
            "Accepted events that were not delivered, by reason",
        );
        let queue_len = Gauge::default();
        registry.register(
            "queue_length",
            "Events accepted and not yet delivered or dropped (with --spool-dir: events on disk)",
            queue_len.clone(),
        );
        Metrics {
            registry,
            calls,
            input,
            output,
            cache_read,
            cache_write,
            cache_write_5m,
            cache_write_1h,
            reasoning,
            audio_input,
            image_input,
            audio_output,
            image_output,
            web_searches,
            cost,
            savings,
            misses,
            prefix_hit_ratio,
            prefix_calls,
            prefixes: Mutex::new(HashMap::new()),
            alerts,
            received,
            accepted,
            rejected,
            refused_requests,
            delivered,
            dropped,
            queue_len,
            folded,
            series: Mutex::new(HashSet::new()),
            max_series,
        }
    }

    /// Counts one cache alert.
    pub fn alert(&self, kind: AlertKind) {
        self.alerts
            .get_or_create(&AlertLabels {
                kind: kind.as_str(),
            })
            .inc();
    }

    /// Counts one entry of a request body.
    pub fn received(&self) {
        self.received.inc();
    }

    /// Counts an entry that produced no event.
    pub fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a request refused with 503 and the entries it carried.
    pub fn refused(&self) {
        self.refused_requests.inc();
    }

    /// Counts an accepted call's usage and cost.
    pub fn accepted(
        &self,
        provider: &str,
        model: &str,
        usage: &Usage,
        cost: Option<f64>,
        cache: &Observation,
    ) {
        let labels = self.series_of(provider, model);
        self.accepted.inc();
        self.calls.get_or_create(&labels).inc();
        for (family, value) in [
            (&self.input, usage.input),
            (&self.output, usage.output),
            (&self.cache_read, usage.cache_read),
            (&self.cache_write, usage.cache_write),
            (&self.cache_write_5m, usage.cache_write_5m),
            (&self.cache_write_1h, usage.cache_write_1h),
            (&self.reasoning, usage.reasoning),
            (&self.audio_input, usage.audio_input),
            (&self.image_input, usage.image_input),
            (&self.audio_output, usage.audio_output),
            (&self.image_output, usage.image_output),
            (&self.web_searches, usage.web_search_requests),
        ] {
            if let Some(v) = value {
                family.get_or_create(&labels).inc_by(v);
            }
        }
        if let Some(c) = cost.or(cache.priced_cost_usd) {
            self.cost.get_or_create(&labels).inc_by(c);
        }
        if let Some(saved) = cache.savings_usd {
            self.savings.get_or_create(&labels).inc_by(saved);
        }
        if let Some(id) = cache.prefix_id {
            self.count_prefix(id, usage);
        }
        if let Some(miss) = cache.miss {
            let ModelLabels { provider, model } = labels;
            self.misses
                .get_or_create(&MissLabels {
                    provider,
                    model,
                    kind: miss.as_str(),
                })
                .inc();
        }
    }

    /// Counts a call of prefix `id`, making room by forgetting the least
    /// busy prefix when [`TRACKED_PREFIXES`] are tracked.
    fn count_prefix(&self, id: PrefixId, usage: &Usage) {
        let mut prefixes = self.prefixes.lock().unwrap_or_else(PoisonError::into_inner);
        if !prefixes.contains_key(&id) && prefixes.len() >= TRACKED_PREFIXES {
            let quietest = prefixes
                .iter()
                .min_by_key(|(_, c)| c.calls)
                .map(|(&k, _)| k);
            if let Some(k) = quietest {
                prefixes.remove(&k);
            }
        }
        let counts = prefixes.entry(id).or_default();
        counts.calls += 1;
        if let (Some(read), Some(input)) = (usage.cache_read, usage.input) {
            counts.read += read;
            counts.input += input;
        }
    }

    /// Replaces the per-prefix series with those of the busiest prefixes.
    fn render_prefixes(&self) {
        let prefixes = self.prefixes.lock().unwrap_or_else(PoisonError::into_inner);
        let mut top: Vec<(&PrefixId, &PrefixCounts)> = prefixes.iter().collect();
        top.sort_unstable_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0)));
        top.truncate(TOP_PREFIXES);
        self.prefix_hit_ratio.clear();
        self.prefix_calls.clear();
        for (id, counts) in top {
            // Formatted only here, for the few shown: a call counts an 8-byte id.
            let labels = PrefixLabels {
                prefix: id.to_string(),
            };
            self.prefix_calls
                .get_or_create(&labels)
                .set(i64::try_from(counts.calls).unwrap_or(i64::MAX));
            if counts.input > 0 {
                self.prefix_hit_ratio
                    .get_or_create(&labels)
                    .set(counts.read as f64 / counts.input as f64);
            }
        }
    }

    /// The labels a call is counted under: its own pair, cut to
    /// [`MAX_LABEL_BYTES`], while there is room for it, else [`OTHER`].
    fn series_of(&self, provider: &str, model: &str) -> ModelLabels {
        let labels = ModelLabels {
            provider: clip(provider, MAX_LABEL_BYTES).to_owned(),
            model: clip(model, MAX_LABEL_BYTES).to_owned(),
        };
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if series.contains(&labels) {
            return labels;
        }
        if series.len() < self.max_series {
            series.insert(labels.clone());
            return labels;
        }
        drop(series);
        self.folded.inc();
        ModelLabels {
            provider: OTHER.to_owned(),
            model: OTHER.to_owned(),
        }
    }

    /// The text exposition, with the sink's delivery counters brought up to date.
    pub fn render(&self, delivery: &Delivery) -> String {
        catch_up(&self.delivered, delivery.delivered);
        for reason in DropReason::ALL {
            let labels = ReasonLabels {
                reason: reason.as_str().to_owned(),
            };
            catch_up(
                &self.dropped.get_or_create(&labels),
                delivery.dropped.get(reason),
            );
        }
        self.queue_len
            .set(i64::try_from(delivery.pending).unwrap_or(i64::MAX));
        self.render_prefixes();
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Exporter counters live in the exporter; mirror them into monotonic counters.
fn catch_up(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_busiest_prefixes_are_tracked_and_shown() {
        let metrics = Metrics::default();
        let mut usage = Usage::default();
        usage.input = Some(100);
        usage.cache_read = Some(50);
        // The id of a payload whose system prompt is `prompt`.
        let id = |prompt: &str| {
            let json = serde_json::json!({
                "model": "m",
                "messages": [{"role": "system", "content": prompt}, {"role": "user", "content": "q"}],
            });
            let payload = llmtap::Payload::from_slice(json.to_string().as_bytes()).unwrap();
            llmtap::cache_prefix_id(&payload, None).expect("a prefix")
        };
        let busy = id("busy");
        // One busy prefix, then more distinct ones than are tracked.
        for _ in 0..5 {
            metrics.count_prefix(busy, &usage);
        }
        for i in 0..3 * TRACKED_PREFIXES {
            metrics.count_prefix(id(&format!("p{i}")), &usage);
        }
        assert!(metrics.prefixes.lock().unwrap().len() <= TRACKED_PREFIXES);
        let text = metrics.render(&Delivery::default());
        let shown = text
            .lines()
            .filter(|l| l.starts_with("llmtap_prefix_calls{"))
            .count();
        assert_eq!(shown, TOP_PREFIXES);
        assert!(
            text.contains(&format!("llmtap_prefix_calls{{prefix=\"{busy}\"}} 5")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "llmtap_prefix_cache_hit_ratio{{prefix=\"{busy}\"}} 0.5"
        )));
    }
}
