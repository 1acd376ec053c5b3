//! From any usage shape in an SLP to [`Usage`].

use crate::payload::{CacheWriteSplit, Payload, RawUsage, TokenCount};

use super::{Family, Reconciled, Usage};

/// What the normalizer needs to know about a call besides its usage object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UsageContext {
    /// The provider family (see [`Family::of`]).
    pub(crate) family: Family,
}

/// Normalized usage of one payload.
///
/// Sources in order of trust, merged field by field so a count missing from
/// one is taken from the next: `metadata.usage_object`, then `response.usage`
/// (older LiteLLM kept Responses-API cache and reasoning counts only there),
/// then the SLP's top-level `prompt_tokens`/`completion_tokens`. A source that
/// carries only some counts (a cache read next to the top-level totals) adds
/// exactly those; a count no source carries stays `None`.
pub fn normalize(payload: &Payload) -> Usage {
    normalize_reporting(payload).0
}

/// [`normalize`], and what it had to reconcile on the way. Only the counts a
/// source contributes to the result are judged: a contradiction in a
/// lower-trust source whose count was not used changed nothing.
pub(crate) fn normalize_reporting(payload: &Payload) -> (Usage, Reconciled) {
    let ctx = UsageContext::of(payload);
    let top_level = RawUsage {
        prompt_tokens: payload.prompt_tokens,
        completion_tokens: payload.completion_tokens,
        total_tokens: payload.total_tokens,
        ..RawUsage::default()
    };
    let mut merged = Usage::default();
    let mut reconciled = Reconciled::default();
    for raw in [
        payload.usage_object(),
        payload.response_usage(),
        Some(&top_level),
    ]
    .into_iter()
    .flatten()
    {
        let mut found = Reconciled::default();
        let usage = ctx.read_source(raw, &mut found);
        for (flag, used) in [
            (
                Reconciled::INPUT_BELOW_CACHE,
                merged.input.is_none() && usage.input.is_some(),
            ),
            (
                Reconciled::REASONING_ABOVE_OUTPUT,
                merged.output.is_none() && usage.output.is_some(),
            ),
            (
                Reconciled::SPLIT_MISMATCH,
                merged.cache_write.is_none() && usage.cache_write.is_some(),
            ),
        ] {
            if used {
                reconciled.insert(found.only(flag));
            }
        }
        merged = merged.or(usage);
    }
    (settle(merged, &mut reconciled), reconciled)
}

/// The tier that served the call, when the payload says: the usage object
/// (Anthropic's `service_tier`), then `response.usage`, then `response`
/// (OpenAI's). The request's own `service_tier` parameter (`auto`) is not
/// what served it and is not read.
pub(crate) fn service_tier(payload: &Payload) -> Option<&str> {
    fn of_usage(u: Option<&RawUsage>) -> Option<&str> {
        u?.service_tier.as_deref()
    }
    of_usage(payload.usage_object())
        .or(of_usage(payload.response_usage()))
        .or(payload.response_parts.service_tier.as_deref())
}

/// How a usage object counts its input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// LiteLLM's `Usage` (OpenAI chat names): both totals inclusive, by intent.
    LiteLlm,
    /// `input_tokens`/`output_tokens`: raw Anthropic (input excludes cache) or
    /// the Responses API (input includes cache).
    InputOutput,
    /// Raw Bedrock Converse: input excludes cache.
    Bedrock,
    /// Raw Gemini: input includes cache; candidates exclude thoughts.
    Gemini,
}

/// The counts of one usage object, before interpretation (`None` = field absent).
struct Counts {
    shape: Shape,
    input: Option<u64>,
    output: Option<u64>,
    total: Option<u64>,
    read: Option<u64>,
    write: Option<u64>,
    split: Option<(u64, u64)>,
    reasoning: Option<u64>,
    text: Option<u64>,
    audio_input: Option<u64>,
    image_input: Option<u64>,
    audio_output: Option<u64>,
    image_output: Option<u64>,
    web_search_requests: Option<u64>,
    /// `prompt_tokens_details.cache_creation_tokens` present: absent in the
    /// LiteLLM versions (1.65–1.74) that left cache writes out of `prompt_tokens`.
    details_carry_write: bool,
}

impl UsageContext {
    /// The context of a payload.
    pub(crate) fn of(payload: &Payload) -> Self {
        UsageContext {
            family: Family::of(payload.provider(), &payload.model),
        }
    }

    /// One source's counts, to be merged with the others'. Every count the
    /// object carries is a report, zero included: the real Anthropic API sends
    /// both cache counts on every response, 0 on a miss.
    fn read_source(&self, raw: &RawUsage, found: &mut Reconciled) -> Usage {
        let c = Counts::from_raw(raw);
        let mut usage = Usage {
            input: c.input.map(|base| self.total_input(&c, base, found)),
            output: c.output.map(|base| self.total_output(&c, base, found)),
            cache_read: c.read,
            cache_write: c.write,
            reasoning: c.reasoning,
            audio_input: c.audio_input,
            image_input: c.image_input,
            audio_output: c.audio_output,
            image_output: c.image_output,
            web_search_requests: c.web_search_requests,
            ..Usage::default()
        };
        // Totals of 0/0 with nothing above zero are a failure's or a
        // usage-less stream's placeholder, not a report; the next source may
        // have the real counts. An object without totals is a partial report
        // and keeps its zeros.
        if (c.input.is_some() || c.output.is_some()) && usage.is_all_zero() {
            return Usage::default();
        }
        if let Some((five_min, one_hour)) = c.split {
            let sum = five_min.saturating_add(one_hour);
            match usage.cache_write {
                None => usage.cache_write = Some(sum),
                Some(w) if w == sum => {}
                // A split that does not add up to the write is not trusted.
                Some(_) => {
                    found.insert(Reconciled::SPLIT_MISMATCH);
                    return usage;
                }
            }
            usage.cache_write_5m = Some(five_min);
            usage.cache_write_1h = Some(one_hour);
        }
        usage
    }

    /// All input, from a base count that may or may not include the cache.
    fn total_input(&self, c: &Counts, base: u64, found: &mut Reconciled) -> u64 {
        let (r, w) = (c.read.unwrap_or(0), c.write.unwrap_or(0));
        let excludes_cache = match c.shape {
            Shape::Bedrock => true,
            Shape::Gemini => false,
            Shape::InputOutput => self.family.raw_input_excludes_cache(),
            Shape::LiteLlm => false,
        };
        // A count meant to include the cache, below it: whatever the
        // normalizer makes of it, the payload contradicts itself.
        if !excludes_cache && base < r.saturating_add(w) {
            found.insert(Reconciled::INPUT_BELOW_CACHE);
        }
        if c.shape == Shape::LiteLlm && self.family == Family::AnthropicLike {
            return anthropic_prompt_tokens(c, base, r, w);
        }
        if excludes_cache {
            base + r + w
        } else {
            reconcile(base, r, w)
        }
    }

    /// All output, from a base count that may or may not include reasoning.
    fn total_output(&self, c: &Counts, base: u64, found: &mut Reconciled) -> u64 {
        let reasoning = c.reasoning.unwrap_or(0);
        // Gemini's candidates exclude thoughts by definition; elsewhere the
        // output is meant to include its reasoning.
        if c.shape != Shape::Gemini && reasoning > base {
            found.insert(Reconciled::REASONING_ABOVE_OUTPUT);
        }
        let folded_by_total = || {
            // xAI before LiteLLM folded its reasoning in: total counts it, completion does not.
            self.family != Family::AnthropicLike
                && reasoning > 0
                && c.input
                    .zip(c.total)
                    .is_some_and(|(i, t)| t == i + base + reasoning)
        };
        if c.shape == Shape::Gemini || reasoning > base || folded_by_total() {
            base + reasoning
        } else {
            base
        }
    }
}

/// Anthropic-family `prompt_tokens` through LiteLLM: inclusive today, but
/// 1.65–1.74 left cache writes out (Bedrock until at least 1.77), so the
/// numbers are checked against each other before being trusted.
fn anthropic_prompt_tokens(c: &Counts, base: u64, r: u64, w: u64) -> u64 {
    if r + w == 0 {
        return base;
    }
    if let Some(text) = c.text {
        if text + r + w == base {
            return base;
        }
        if text + r == base {
            return base + w;
        }
        if text == base {
            return base + r + w;
        }
    }
    if w > 0 {
        let raw_total_with_write = c
            .output
            .zip(c.total)
            .is_some_and(|(out, total)| total == base + out + w && total != base + out);
        if raw_total_with_write || !c.details_carry_write {
            return base + w;
        }
    }
    reconcile(base, r, w)
}

/// The checks that hold across sources once they are merged.
///
/// Nothing above zero means nothing was reported (failures, streams without a
/// usage chunk). Counts from different sources are checked against each
/// other as one object's are: an input smaller than its cache cannot include
/// it, and reasoning larger than the output was reported outside it.
fn settle(mut u: Usage, found: &mut Reconciled) -> Usage {
    if u.is_all_zero() {
        *found = Reconciled::default();
        return Usage::default();
    }
    if let Some(input) = u.input {
        let (r, w) = (u.cache_read.unwrap_or(0), u.cache_write.unwrap_or(0));
        if input < r.saturating_add(w) {
            found.insert(Reconciled::INPUT_BELOW_CACHE);
        }
        u.input = Some(reconcile(input, r, w));
    }
    if let (Some(output), Some(reasoning)) = (u.output, u.reasoning) {
        if reasoning > output {
            found.insert(Reconciled::REASONING_ABOVE_OUTPUT);
            u.output = Some(output.saturating_add(reasoning));
        }
    }
    u
}

/// A count that claims to include the cache but is smaller than it cannot.
fn reconcile(base: u64, r: u64, w: u64) -> u64 {
    if base >= r + w {
        base
    } else if base >= r {
        base + w
    } else {
        base + r + w
    }
}

impl Counts {
    fn from_raw(raw: &RawUsage) -> Counts {
        let n = |c: Option<TokenCount>| c.map(|c| c.0);
        let pd = raw.prompt_tokens_details.as_ref();
        let id = raw.input_tokens_details.as_ref();
        let cd = raw.completion_tokens_details.as_ref();
        let od = raw.output_tokens_details.as_ref();

        let (shape, mut input, mut output, total) =
            if raw.prompt_tokens.is_some() || raw.completion_tokens.is_some() {
                let deepseek = n(raw.prompt_cache_hit_tokens)
                    .zip(n(raw.prompt_cache_miss_tokens))
                    .map(|(h, m)| h + m);
                (
                    Shape::LiteLlm,
                    n(raw.prompt_tokens).or(deepseek),
                    n(raw.completion_tokens),
                    n(raw.total_tokens),
                )
            } else if raw.input_tokens.is_some() || raw.output_tokens.is_some() {
                (
                    Shape::InputOutput,
                    n(raw.input_tokens),
                    n(raw.output_tokens),
                    n(raw.total_tokens),
                )
            } else if raw.bedrock_input_tokens.is_some() || raw.bedrock_output_tokens.is_some() {
                (
                    Shape::Bedrock,
                    n(raw.bedrock_input_tokens),
                    n(raw.bedrock_output_tokens),
                    n(raw.bedrock_total_tokens),
                )
            } else {
                let tool_use = n(raw.gemini_tool_use_prompt).unwrap_or(0);
                (
                    Shape::Gemini,
                    n(raw.gemini_prompt).map(|p| p + tool_use),
                    n(raw.gemini_candidates),
                    n(raw.gemini_total),
                )
            };

        // Aliases of one quantity are never added: LiteLLM mirrors the same
        // count under several names. The largest survives a zero-filled twin.
        let mut read = max_of([
            pd.and_then(|d| d.cached_tokens),
            id.and_then(|d| d.cached_tokens),
            raw.cache_read_input_tokens,
            raw.prompt_cache_hit_tokens,
            raw.num_cached_tokens,
            raw.bedrock_cache_read,
            raw.bedrock_cache_read_count,
            raw.gemini_cached,
        ]);
        let mut write = max_of([
            pd.and_then(|d| d.cache_creation_tokens),
            pd.and_then(|d| d.cache_write_tokens),
            id.and_then(|d| d.cache_creation_tokens),
            id.and_then(|d| d.cache_write_tokens),
            raw.cache_creation_input_tokens,
            raw.bedrock_cache_write,
            raw.bedrock_cache_write_count,
        ]);
        let reasoning = max_of([
            cd.and_then(|d| d.reasoning_tokens),
            od.and_then(|d| d.reasoning_tokens),
            od.and_then(|d| d.thinking_tokens),
            raw.gemini_thoughts,
        ]);
        let mut split = pd
            .and_then(|d| d.cache_creation_token_details.as_ref())
            .or(raw.cache_creation.as_ref())
            .and_then(split_of);

        // Raw Anthropic usage with context compaction reports every sampling
        // iteration; the top-level counts may cover only the last one, so a
        // larger sum over the iterations wins.
        let iterations = raw
            .iterations
            .as_deref()
            .filter(|its| shape == Shape::InputOutput && !its.is_empty());
        if let Some(its) = iterations {
            input = input.max(sum_of(its, |u| u.input_tokens));
            output = output.max(sum_of(its, |u| u.output_tokens));
            read = read.max(sum_of(its, |u| u.cache_read_input_tokens));
            write = write.max(sum_of(its, |u| u.cache_creation_input_tokens));
            let split_sum = sum_of(its, |u| {
                u.cache_creation.as_ref()?.ephemeral_5m_input_tokens
            })
            .zip(sum_of(its, |u| {
                u.cache_creation.as_ref()?.ephemeral_1h_input_tokens
            }));
            let total_of = |s: Option<(u64, u64)>| s.map(|(a, b)| a.saturating_add(b));
            if total_of(split_sum) > total_of(split) {
                split = split_sum;
            }
        }

        Counts {
            shape,
            input,
            output,
            total,
            read,
            write,
            split,
            reasoning,
            text: pd.and_then(|d| n(d.text_tokens)),
            audio_input: max_of([
                pd.and_then(|d| d.audio_tokens),
                id.and_then(|d| d.audio_tokens),
            ]),
            image_input: max_of([
                pd.and_then(|d| d.image_tokens),
                id.and_then(|d| d.image_tokens),
            ]),
            audio_output: max_of([
                cd.and_then(|d| d.audio_tokens),
                od.and_then(|d| d.audio_tokens),
            ]),
            image_output: max_of([
                cd.and_then(|d| d.image_tokens),
                od.and_then(|d| d.image_tokens),
            ]),
            web_search_requests: max_of([
                raw.server_tool_use
                    .as_ref()
                    .and_then(|s| s.web_search_requests),
                pd.and_then(|d| d.web_search_requests),
            ]),
            details_carry_write: pd.is_some_and(|d| d.cache_creation_tokens.is_some()),
        }
    }
}

fn split_of(s: &CacheWriteSplit) -> Option<(u64, u64)> {
    Some((
        s.ephemeral_5m_input_tokens?.0,
        s.ephemeral_1h_input_tokens?.0,
    ))
}

/// The sum of one count over raw usage objects; `None` when none carries it.
fn sum_of(items: &[RawUsage], count: impl Fn(&RawUsage) -> Option<TokenCount>) -> Option<u64> {
    items
        .iter()
        .filter_map(count)
        .map(|c| c.0)
        .reduce(u64::saturating_add)
}

fn max_of<const N: usize>(values: [Option<TokenCount>; N]) -> Option<u64> {
    values.into_iter().flatten().map(|c| c.0).max()
}
