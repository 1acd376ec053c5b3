//! `model_map_information`: LiteLLM's price-map entry for the model it called.
//!
//! LiteLLM copies the whole entry into every payload (about 200 fields); only
//! the per-token rates that cache savings need, and the model's prompt-cache
//! minimum, are read. The entry is informational: a rate that is missing,
//! `null`, negative or mistyped is simply unknown, and never fails the payload.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::number::{self, Amount};

/// The parts of `model_map_information` llmtap reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ModelMapInformation {
    /// The price-map entry (`null` when LiteLLM found none, as on many failures).
    #[serde(deserialize_with = "object_or_none")]
    pub model_map_value: Option<ModelPrices>,
}

/// Per-token rates in USD and the prompt-cache minimum, with the price map's
/// own field names (which a pricing file uses too, see [`crate::Pricing`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ModelPrices {
    /// An uncached input token.
    #[serde(deserialize_with = "number::amount_or_none")]
    pub input_cost_per_token: Option<Amount>,
    /// An output token (reasoning included).
    #[serde(deserialize_with = "number::amount_or_none")]
    pub output_cost_per_token: Option<Amount>,
    /// An input token read from the prompt cache.
    #[serde(deserialize_with = "number::amount_or_none")]
    pub cache_read_input_token_cost: Option<Amount>,
    /// An input token written to the cache (Anthropic: the 5-minute TTL).
    #[serde(deserialize_with = "number::amount_or_none")]
    pub cache_creation_input_token_cost: Option<Amount>,
    /// An input token written to the cache with Anthropic's 1-hour TTL.
    #[serde(deserialize_with = "number::amount_or_none")]
    pub cache_creation_input_token_cost_above_1hr: Option<Amount>,
    /// The shortest prompt the provider caches at all.
    #[serde(deserialize_with = "number::count_or_none")]
    pub prompt_cache_min_tokens: Option<u64>,
    #[serde(
        rename = "input_cost_per_token_above_128k_tokens",
        deserialize_with = "number::amount_or_none"
    )]
    above_128k: Option<Amount>,
    #[serde(
        rename = "input_cost_per_token_above_200k_tokens",
        deserialize_with = "number::amount_or_none"
    )]
    above_200k: Option<Amount>,
    /// Present (not `null`) on models priced by tiers of their own bounds.
    tiered_pricing: Option<IgnoredAny>,
}

impl ModelPrices {
    /// The input size above which the plain rates stop pricing a call (the
    /// map has `input_cost_per_token_above_128k_tokens`, `…_above_200k_tokens`,
    /// or any `tiered_pricing`, which counts from 0): the lowest such bound.
    pub fn tiered_above_tokens(&self) -> Option<u64> {
        if self.tiered_pricing.is_some() {
            return Some(0);
        }
        match (self.above_128k, self.above_200k) {
            (Some(_), _) => Some(128_000),
            (None, Some(_)) => Some(200_000),
            (None, None) => None,
        }
    }
}

/// An object parsed as `T`; anything else (`null`, a string some dumper
/// wrote instead) is `None` rather than a failed payload. Unlike parsing into
/// a `Value` first, the object is read once and its other fields skipped.
pub(crate) fn object_or_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object or anything else (ignored)")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<T>, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_bounds_come_from_the_map_itself() {
        let bound = |json: &str| {
            serde_json::from_str::<ModelPrices>(json)
                .unwrap()
                .tiered_above_tokens()
        };
        assert_eq!(bound(r#"{"input_cost_per_token": 3e-06}"#), None);
        assert_eq!(
            bound(r#"{"input_cost_per_token_above_200k_tokens": 6e-06, "tiered_pricing": null}"#),
            Some(200_000)
        );
        assert_eq!(
            bound(
                r#"{"input_cost_per_token_above_128k_tokens": 2e-06, "input_cost_per_token_above_200k_tokens": 4e-06}"#
            ),
            Some(128_000)
        );
        assert_eq!(
            bound(r#"{"tiered_pricing": [{"range": [0, 1000]}]}"#),
            Some(0)
        );
    }

    #[test]
    fn rates_are_read_and_the_rest_skipped() {
        let info: ModelMapInformation = serde_json::from_str(
            r#"{"model_map_key": "m", "model_map_value": {
                "key": "m", "input_cost_per_token": 3e-06, "output_cost_per_token": "1.5e-05",
                "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": null,
                "cache_creation_input_token_cost_above_1hr": -1, "prompt_cache_min_tokens": 1024,
                "supported_openai_params": ["tools"], "tiered_pricing": null}}"#,
        )
        .unwrap();
        let p = info.model_map_value.unwrap();
        assert_eq!(p.input_cost_per_token, Some(Amount(3e-6)));
        assert_eq!(p.output_cost_per_token, Some(Amount(1.5e-5)));
        assert_eq!(p.cache_read_input_token_cost, Some(Amount(3e-7)));
        assert_eq!(p.cache_creation_input_token_cost, None);
        // Negative is no price, not a failed payload.
        assert_eq!(p.cache_creation_input_token_cost_above_1hr, None);
        assert_eq!(p.prompt_cache_min_tokens, Some(1024));
    }

    #[test]
    fn a_missing_or_odd_entry_is_none() {
        for json in [
            r#"{"model_map_key": "", "model_map_value": null}"#,
            r#"{"model_map_value": "n/a"}"#,
            r#"{"model_map_value": [1, {"a": 2}]}"#,
            r#"{}"#,
        ] {
            let info: ModelMapInformation = serde_json::from_str(json).unwrap();
            assert_eq!(info.model_map_value, None, "{json}");
        }
    }
}
