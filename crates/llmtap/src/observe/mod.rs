//! Cache observability per call: which prefix a call shares, how much of
//! its input the cache served, what that saved, and why it missed.
//!
//! Pure like the other rooms: everything comes from the payload, its
//! normalized [`Usage`] and the per-prefix state the caller owns (a
//! [`crate::Pipeline`] keeps one). The PostHog names of what is found here
//! are written in `event/props.rs`; this room knows none of them.
//!
//! - `prefix.rs`: the cacheable prefix and its id ([`cache_prefix_id`]).
//! - `canonical.rs`: the canonical JSON the id is computed over.
//! - `savings.rs`: hit ratio, savings, and a cost from a pricing file.
//! - `pricing.rs`: [`Rates`] from the payload's price map, and a user's
//!   [`Pricing`] file over them.
//! - `state.rs`: the bounded per-prefix state and the miss classification.
//! - `alerts.rs`: the alert rules, evaluated against that state.

mod alerts;
mod canonical;
mod memo;
mod prefix;
mod pricing;
mod savings;
mod state;

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

pub use alerts::{Alert, AlertKind, AlertRules};
pub use prefix::{cache_prefix_id, PrefixId, PrefixKey};
pub use pricing::{Pricing, PricingError, Rates};
pub use state::{CacheTtls, DEFAULT_PREFIX_CAPACITY};

use crate::payload::Payload;
use crate::usage::{self, Reconciled, Usage};
use alerts::ModelFacts;
use memo::IdMemo;
use state::{Call, CallFacts, Key, PrefixState};

/// What the cache did for one call; each part only when it can be known.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Observation {
    /// The id of the call's cacheable prefix (`cache_prefix_id`).
    pub prefix_id: Option<PrefixId>,
    /// Cache read ÷ all input (`cache_hit_ratio`).
    pub hit_ratio: Option<f64>,
    /// USD the cache saved, negative when writes did not pay back (`cache_savings_usd`).
    pub savings_usd: Option<f64>,
    /// Why a call with a prefix read nothing from the cache (`cache_miss`).
    pub miss: Option<CacheMiss>,
    /// The call's cost by a pricing file, when LiteLLM priced it at 0 or not
    /// at all (sent as the event's total cost).
    pub priced_cost_usd: Option<f64>,
}

/// Why a call with a cacheable prefix read nothing from the cache: the first
/// that applies, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheMiss {
    /// Nothing could be cached: neither read nor written on a provider that
    /// reports writes, or the prompt is shorter than the model's
    /// `prompt_cache_min_tokens`.
    Uncached,
    /// The prefix was never cached before (as far as this state knows).
    Cold,
    /// The last write or read of the prefix is older than its TTL.
    Expired,
    /// Within the TTL, yet not read: the provider missed.
    Silent,
}

impl CacheMiss {
    /// The value of the `cache_miss` property.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMiss::Uncached => "uncached",
            CacheMiss::Cold => "cold",
            CacheMiss::Expired => "expired",
            CacheMiss::Silent => "silent",
        }
    }
}

impl fmt::Display for CacheMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How calls are observed, and the state they are observed against; what a
/// [`crate::Pipeline`] holds. Clones share the state and the memo.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observer {
    key: Option<PrefixKey>,
    pricing: Arc<Pricing>,
    ttls: CacheTtls,
    rules: AlertRules,
    state: Arc<PrefixState>,
    /// Ids of recent prefixes, computed under `key`.
    memo: Arc<IdMemo>,
}

impl Observer {
    /// Ids become HMACs under `key`; ids remembered under the old key are dropped.
    pub(crate) fn set_key(&mut self, key: PrefixKey) {
        self.key = Some(key);
        self.memo = Arc::default();
    }

    pub(crate) fn set_pricing(&mut self, pricing: Pricing) {
        self.pricing = Arc::new(pricing);
    }

    pub(crate) fn set_ttls(&mut self, ttls: CacheTtls) {
        self.ttls = ttls;
    }

    pub(crate) fn set_rules(&mut self, rules: AlertRules) {
        self.rules = rules;
    }

    /// A fresh state of `capacity` prefixes (what was remembered is dropped).
    pub(crate) fn set_capacity(&mut self, capacity: NonZeroUsize) {
        self.state = Arc::new(PrefixState::new(capacity));
    }

    /// How many prefixes the state remembers.
    pub(crate) fn tracked_prefixes(&self) -> usize {
        self.state.len()
    }

    /// Observes one call, records it in the state, and returns the alerts
    /// it raised (`reconciled`: what the normalizer found contradictory).
    pub(crate) fn observe(
        &self,
        payload: &Payload,
        usage: &Usage,
        reconciled: Reconciled,
    ) -> (Observation, Vec<Alert>) {
        observe(payload, usage, Some((self, reconciled)))
    }
}

/// One call's observation. Without an observer (`build_event`, a one-shot
/// view of one payload) it is what a fresh pipeline would say: plain ids,
/// LiteLLM's rates, and a prefix nobody has seen yet is `cold`; and it raises
/// no alert, which needs history.
pub(crate) fn observe(
    payload: &Payload,
    usage: &Usage,
    observer: Option<(&Observer, Reconciled)>,
) -> (Observation, Vec<Alert>) {
    let (observer, reconciled) = match observer {
        Some((o, r)) => (Some(o), r),
        None => (None, Reconciled::default()),
    };
    let map = payload.model_prices().map(Rates::from_model_map);
    let file = observer.and_then(|o| o.pricing.rates_for(&payload.model).copied());
    let rates = match (file, map) {
        (Some(f), Some(m)) => f.over(m),
        (Some(f), None) => f,
        (None, m) => m.unwrap_or_default(),
    };
    let prefix_id = prefix::prefix_id(
        payload,
        observer.and_then(|o| o.key.as_ref()),
        observer.map(|o| &*o.memo),
    );
    let facts = CallFacts {
        at: payload
            .start_time
            .or(payload.end_time)
            .map(|t| t.as_micros()),
        read: usage.cache_read,
        write: usage.cache_write,
        write_1h: usage.cache_write_1h,
        input: usage.input,
        min_tokens: rates.prompt_cache_min_tokens,
    };
    let mut alerts = Vec::new();
    let miss = match observer {
        Some(o) => {
            let model = ModelFacts {
                has_prefix: prefix_id.is_some(),
                reports_cache: usage.cache_read.is_some() || usage.cache_write.is_some(),
                inconsistent: !reconciled.is_empty(),
                cost_mismatch: cost_mismatch(payload, usage, map, o.rules.cost_tolerance),
                read_input: usage.cache_read.zip(usage.input),
                prefix_dropped: false,
            };
            let scope = state::scope(payload.provider(), &payload.model);
            let call = Call {
                key: prefix_id.map(|id| Key::with_scope(scope, id)),
                scope,
                model,
            };
            let mut fires = Vec::new();
            let miss = o
                .state
                .observe(&call, &facts, &o.ttls, &o.rules, &mut fires);
            // Names are attached after the lock is released; nothing is
            // allocated unless something fired.
            alerts.extend(
                fires
                    .into_iter()
                    .map(|f| f.into_alert(payload.provider(), &payload.model)),
            );
            miss
        }
        None => prefix_id.and_then(|_| state::classify(None, &facts, &CacheTtls::default())),
    };
    let observation = Observation {
        prefix_id,
        hit_ratio: savings::hit_ratio(usage),
        savings_usd: savings::savings_usd(usage, &rates),
        miss,
        priced_cost_usd: match (file, payload.cost_usd()) {
            (Some(_), None) => savings::cost_usd(usage, &rates),
            _ => None,
        },
    };
    (observation, alerts)
}

/// Whether LiteLLM's `response_cost` differs by more than `tolerance` (a
/// fraction) from the call's tokens at the payload's own model-map rates.
///
/// Only calls the plain rates price completely are judged: none with web
/// searches (priced per request), a served tier other than the standard one
/// (priority, flex and batch have their own rates), audio or image tokens
/// (their own rates), or an input above the map's own tier bound
/// (`input_cost_per_token_above_200k_tokens` and the like). A
/// pricing file is not used: the question is whether LiteLLM's cost agrees
/// with LiteLLM's rates.
fn cost_mismatch(payload: &Payload, usage: &Usage, map: Option<Rates>, tolerance: f64) -> bool {
    let (Some(reported), Some(rates)) = (payload.cost_usd(), map) else {
        return false;
    };
    let nonzero = |c: Option<u64>| c.unwrap_or(0) > 0;
    if nonzero(usage.web_search_requests)
        || nonzero(usage.audio_input)
        || nonzero(usage.image_input)
        || nonzero(usage.audio_output)
        || nonzero(usage.image_output)
        || payload
            .model_prices()
            .and_then(|p| p.tiered_above_tokens())
            .is_some_and(|bound| usage.input.unwrap_or(0) > bound)
        || usage::service_tier(payload)
            .is_some_and(|t| !matches!(t, "standard" | "default" | "auto"))
    {
        return false;
    }
    let Some(expected) = savings::cost_usd(usage, &rates).filter(|&c| c > 0.0) else {
        return false;
    };
    (reported - expected).abs() > tolerance * expected
}
