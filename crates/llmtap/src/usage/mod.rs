//! One truth about token usage across providers.
//!
//! Providers disagree on whether input counts include cached tokens, on what
//! each cache field is called, and on where reasoning lives; LiteLLM adds
//! version drift and zero-fills on top. [`normalize`] reads every alias,
//! checks the numbers against each other, and returns a [`Usage`] whose every
//! field is `None` when no source in the payload carries it and `Some(0)` when
//! one carries a zero: a reported `0` cache read is a miss, the number cache
//! analytics need most, never "unreported".

mod family;
mod normalize;

use std::iter::Sum;
use std::ops::{Add, AddAssign};

pub(crate) use family::Family;
pub use normalize::normalize;
pub(crate) use normalize::{normalize_reporting, service_tier};

/// Which contradictions between a payload's counts [`normalize`] had to
/// reconcile. The numbers it returns are the same whether or not anyone asks:
/// this only says that the payload, as LiteLLM carried it, did not add up,
/// which an alert (`inconsistent_usage`) reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reconciled(u8);

impl Reconciled {
    /// An input count meant to include the cache was below cache read + write.
    pub(crate) const INPUT_BELOW_CACHE: Reconciled = Reconciled(1);
    /// Reasoning above an output count meant to include it.
    pub(crate) const REASONING_ABOVE_OUTPUT: Reconciled = Reconciled(2);
    /// A 5m/1h split of the cache write that does not add up to the write.
    pub(crate) const SPLIT_MISMATCH: Reconciled = Reconciled(4);

    /// Nothing was reconciled.
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set.
    #[cfg(test)]
    pub(crate) fn contains(self, other: Reconciled) -> bool {
        self.0 & other.0 == other.0
    }

    pub(crate) fn insert(&mut self, other: Reconciled) {
        self.0 |= other.0;
    }

    /// The flags of `self` that `other` also has.
    fn only(self, other: Reconciled) -> Reconciled {
        Reconciled(self.0 & other.0)
    }
}

/// Normalized token usage of one call (or a sum of calls).
///
/// Inclusive by construction: `input` contains cache reads and writes, and
/// `output` contains reasoning, so the parts never need adding to the whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Usage {
    /// All input tokens, cached ones included.
    pub input: Option<u64>,
    /// All output tokens, reasoning included.
    pub output: Option<u64>,
    /// Input tokens served from the provider's prompt cache.
    pub cache_read: Option<u64>,
    /// Input tokens written to the provider's prompt cache.
    pub cache_write: Option<u64>,
    /// Part of `cache_write` with a 5-minute time-to-live (Anthropic).
    pub cache_write_5m: Option<u64>,
    /// Part of `cache_write` with a 1-hour time-to-live (Anthropic).
    pub cache_write_1h: Option<u64>,
    /// Reasoning ("thinking") tokens, a part of `output`.
    pub reasoning: Option<u64>,
    /// Audio tokens, a part of `input` (OpenAI audio models, Gemini).
    pub audio_input: Option<u64>,
    /// Image tokens, a part of `input`.
    pub image_input: Option<u64>,
    /// Audio tokens, a part of `output`.
    pub audio_output: Option<u64>,
    /// Image tokens, a part of `output` (image generation).
    pub image_output: Option<u64>,
    /// Server-side web searches the provider ran and bills per request (not tokens).
    pub web_search_requests: Option<u64>,
}

impl Usage {
    /// Input that was neither read from nor written to the cache.
    ///
    /// Derived rather than stored so it can never disagree with its parts;
    /// unreported cache counts are taken as no cache.
    pub fn uncached_input(&self) -> Option<u64> {
        let cached = self.cache_read.unwrap_or(0) + self.cache_write.unwrap_or(0);
        self.input.map(|i| i.saturating_sub(cached))
    }

    /// True when nothing at all was reported.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// True when no count is above zero: what failures and streams without a
    /// usage chunk carry, which is no report at all.
    pub fn is_all_zero(&self) -> bool {
        self.all_counts(|c| c.unwrap_or(0) == 0)
    }

    /// Field by field, keeps what `self` reported and takes the rest from `fallback`.
    pub fn or(self, fallback: Usage) -> Usage {
        self.zip_with(fallback, Option::or)
    }

    /// Builder-style setters for tests and gateways that already know their counts.
    pub fn with_input(mut self, v: u64) -> Self {
        self.input = Some(v);
        self
    }
    /// See [`Usage::with_input`].
    pub fn with_output(mut self, v: u64) -> Self {
        self.output = Some(v);
        self
    }
    /// See [`Usage::with_input`].
    pub fn with_cache_read(mut self, v: u64) -> Self {
        self.cache_read = Some(v);
        self
    }
    /// See [`Usage::with_input`].
    pub fn with_cache_write(mut self, v: u64) -> Self {
        self.cache_write = Some(v);
        self
    }
    /// See [`Usage::with_input`]; sets the 5m/1h split of the cache write.
    pub fn with_cache_write_split(mut self, five_min: u64, one_hour: u64) -> Self {
        self.cache_write_5m = Some(five_min);
        self.cache_write_1h = Some(one_hour);
        self
    }
    /// See [`Usage::with_input`].
    pub fn with_reasoning(mut self, v: u64) -> Self {
        self.reasoning = Some(v);
        self
    }
    /// See [`Usage::with_input`].
    pub fn with_audio_input(mut self, v: u64) -> Self {
        self.audio_input = Some(v);
        self
    }
    /// See [`Usage::with_input`].
    pub fn with_image_input(mut self, v: u64) -> Self {
        self.image_input = Some(v);
        self
    }
    /// See [`Usage::with_input`].
    pub fn with_audio_output(mut self, v: u64) -> Self {
        self.audio_output = Some(v);
        self
    }
    /// See [`Usage::with_input`].
    pub fn with_image_output(mut self, v: u64) -> Self {
        self.image_output = Some(v);
        self
    }
    /// See [`Usage::with_input`].
    pub fn with_web_search_requests(mut self, v: u64) -> Self {
        self.web_search_requests = Some(v);
        self
    }
}

/// The field-wise operations, written once over the field list: a struct
/// literal must name every field, so a new token class that is not listed
/// here fails to compile instead of being forgotten by `or` or `+`.
macro_rules! count_fields {
    ($($field:ident),* $(,)?) => {
        impl Usage {
            fn zip_with(
                self,
                other: Usage,
                f: impl Fn(Option<u64>, Option<u64>) -> Option<u64>,
            ) -> Usage {
                Usage { $($field: f(self.$field, other.$field)),* }
            }

            fn all_counts(&self, pred: impl Fn(Option<u64>) -> bool) -> bool {
                $(pred(self.$field))&&*
            }
        }
    };
}

count_fields!(
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
    web_search_requests,
);

/// `None + x = x`: a count one side did not report never erases the other's.
fn add_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    }
}

impl Add for Usage {
    type Output = Usage;

    fn add(self, rhs: Usage) -> Usage {
        self.zip_with(rhs, add_opt)
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        *self = *self + rhs;
    }
}

impl Sum for Usage {
    fn sum<I: Iterator<Item = Usage>>(iter: I) -> Usage {
        iter.fold(Usage::default(), Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addition_never_loses_a_known_count() {
        let a = Usage::default().with_input(10).with_cache_read(4);
        let b = Usage::default().with_input(5).with_reasoning(2);
        let sum = a + b;
        assert_eq!(sum.input, Some(15));
        assert_eq!(sum.cache_read, Some(4));
        assert_eq!(sum.reasoning, Some(2));
        assert_eq!(sum.cache_write, None, "nobody reported a write");
        assert_eq!(sum.output, None);
    }

    #[test]
    fn streaming_chunks_sum_like_one_call() {
        let chunks = [
            Usage::default().with_input(100).with_cache_read(80),
            Usage::default().with_output(3),
            Usage::default().with_output(4).with_reasoning(0),
        ];
        let total: Usage = chunks.into_iter().sum();
        assert_eq!(
            total,
            Usage::default()
                .with_input(100)
                .with_cache_read(80)
                .with_output(7)
                .with_reasoning(0)
        );
    }

    #[test]
    fn uncached_input_is_derived_and_never_negative() {
        let u = Usage::default()
            .with_input(100)
            .with_cache_read(60)
            .with_cache_write(30);
        assert_eq!(u.uncached_input(), Some(10));
        let inconsistent = Usage::default().with_input(10).with_cache_read(60);
        assert_eq!(inconsistent.uncached_input(), Some(0));
        assert_eq!(Usage::default().uncached_input(), None);
    }

    #[test]
    fn or_fills_only_the_gaps() {
        let primary = Usage::default().with_input(10);
        let fallback = Usage::default().with_input(99).with_cache_read(5);
        assert_eq!(primary.or(fallback).input, Some(10));
        assert_eq!(primary.or(fallback).cache_read, Some(5));
    }

    #[test]
    fn reconciliations_are_reported_without_changing_a_number() {
        let payload = |usage: &str| {
            let json = format!(
                r#"{{"model": "gpt-4o", "custom_llm_provider": "openai",
                    "metadata": {{"usage_object": {usage}}}}}"#
            );
            crate::payload::Payload::from_slice(json.as_bytes()).unwrap()
        };
        // 100 prompt tokens cannot include 150 cached ones; 20 reasoning
        // tokens cannot be part of 10 completion tokens.
        let bad = payload(
            r#"{"prompt_tokens": 100, "completion_tokens": 10,
                "prompt_tokens_details": {"cached_tokens": 150},
                "completion_tokens_details": {"reasoning_tokens": 20}}"#,
        );
        let (usage, reconciled) = normalize_reporting(&bad);
        assert_eq!(usage, normalize(&bad));
        assert_eq!((usage.input, usage.output), (Some(250), Some(30)));
        assert!(reconciled.contains(Reconciled::INPUT_BELOW_CACHE));
        assert!(reconciled.contains(Reconciled::REASONING_ABOVE_OUTPUT));

        let good = payload(
            r#"{"prompt_tokens": 1000, "completion_tokens": 50,
                "prompt_tokens_details": {"cached_tokens": 800},
                "completion_tokens_details": {"reasoning_tokens": 20}}"#,
        );
        let (usage, reconciled) = normalize_reporting(&good);
        assert_eq!(usage, normalize(&good));
        assert!(reconciled.is_empty(), "{reconciled:?}");
    }
}
