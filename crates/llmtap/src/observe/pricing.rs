//! Per-token rates: LiteLLM's own, and a user's pricing file over them.
//!
//! A payload carries the rates LiteLLM priced it with
//! (`model_map_information.model_map_value`), but a self-hosted model has
//! none there, or a list price that is not what the team pays. A pricing
//! file replaces them, field by field, for the models it names:
//!
//! ```toml
//! [models."Qwen/Qwen3-8B"]
//! input_cost_per_token = 2e-07
//! output_cost_per_token = 6e-07
//! cache_read_input_token_cost = 2e-08
//! cache_creation_input_token_cost = 2.5e-07
//! cache_creation_input_token_cost_above_1hr = 4e-07
//!
//! [models."claude-*"]
//! cache_creation_input_token_cost_above_1hr = 6e-06
//! ```
//!
//! `prompt_cache_min_tokens` may be set too, for models whose map entry
//! lacks it (OpenAI caches from 1024 tokens): below it a miss is `uncached`,
//! not `silent`.
//!
//! A table's name is matched against the payload's `model`: an exact name
//! beats every glob (`*` any run of characters, `?` one character), and
//! among matching globs the longest pattern wins (it says the most).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::payload::ModelPrices;

/// Rates in USD per token, and the prompt-cache minimum; each `None` when unknown.
///
/// The field names are the price map's (and a pricing file's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rates {
    /// An uncached input token.
    pub input_cost_per_token: Option<f64>,
    /// An output token, reasoning included.
    pub output_cost_per_token: Option<f64>,
    /// An input token read from the cache.
    pub cache_read_input_token_cost: Option<f64>,
    /// An input token written to the cache with the default (5-minute) TTL.
    pub cache_creation_input_token_cost: Option<f64>,
    /// An input token written to the cache with Anthropic's 1-hour TTL.
    pub cache_creation_input_token_cost_above_1hr: Option<f64>,
    /// The shortest prompt the provider caches at all (tokens).
    pub prompt_cache_min_tokens: Option<u64>,
}

impl Rates {
    /// The rates LiteLLM's price map gave the payload.
    pub fn from_model_map(prices: &ModelPrices) -> Rates {
        Rates {
            input_cost_per_token: prices.input_cost_per_token.map(|a| a.0),
            output_cost_per_token: prices.output_cost_per_token.map(|a| a.0),
            cache_read_input_token_cost: prices.cache_read_input_token_cost.map(|a| a.0),
            cache_creation_input_token_cost: prices.cache_creation_input_token_cost.map(|a| a.0),
            cache_creation_input_token_cost_above_1hr: prices
                .cache_creation_input_token_cost_above_1hr
                .map(|a| a.0),
            prompt_cache_min_tokens: prices.prompt_cache_min_tokens,
        }
    }

    /// `self`'s rates where it has them, `base`'s elsewhere.
    pub fn over(self, base: Rates) -> Rates {
        Rates {
            input_cost_per_token: self.input_cost_per_token.or(base.input_cost_per_token),
            output_cost_per_token: self.output_cost_per_token.or(base.output_cost_per_token),
            cache_read_input_token_cost: self
                .cache_read_input_token_cost
                .or(base.cache_read_input_token_cost),
            cache_creation_input_token_cost: self
                .cache_creation_input_token_cost
                .or(base.cache_creation_input_token_cost),
            cache_creation_input_token_cost_above_1hr: self
                .cache_creation_input_token_cost_above_1hr
                .or(base.cache_creation_input_token_cost_above_1hr),
            prompt_cache_min_tokens: self
                .prompt_cache_min_tokens
                .or(base.prompt_cache_min_tokens),
        }
    }

    /// The first rate that is negative or not finite, by field name.
    fn invalid(&self) -> Option<(&'static str, f64)> {
        [
            ("input_cost_per_token", self.input_cost_per_token),
            ("output_cost_per_token", self.output_cost_per_token),
            (
                "cache_read_input_token_cost",
                self.cache_read_input_token_cost,
            ),
            (
                "cache_creation_input_token_cost",
                self.cache_creation_input_token_cost,
            ),
            (
                "cache_creation_input_token_cost_above_1hr",
                self.cache_creation_input_token_cost_above_1hr,
            ),
        ]
        .into_iter()
        .find_map(|(name, rate)| match rate {
            Some(r) if !r.is_finite() || r < 0.0 => Some((name, r)),
            _ => None,
        })
    }
}

/// A user's pricing file, parsed: rates per model name or glob.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pricing {
    exact: HashMap<String, Rates>,
    /// Longest pattern first, so the first match is the one that wins.
    globs: Vec<(String, Rates)>,
}

/// Why a pricing file was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PricingError {
    /// The file could not be read.
    #[error("cannot read the pricing file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not TOML, or not the expected shape (unknown field, wrong type);
    /// the message names the line and the table.
    #[error("pricing file: {message}")]
    Syntax {
        /// The TOML parser's description, with line and column.
        message: String,
    },
    /// A rate that cannot be a price.
    #[error(
        "pricing file: models.{model:?}.{field} = {value} is not a price (negative or not finite)"
    )]
    InvalidRate {
        /// The table (model name or glob).
        model: String,
        /// The field.
        field: &'static str,
        /// The value found.
        value: f64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    models: HashMap<String, Rates>,
}

impl Pricing {
    /// No file: every call keeps LiteLLM's rates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a pricing file's text.
    pub fn from_toml_str(text: &str) -> Result<Pricing, PricingError> {
        let file: File = toml::from_str(text).map_err(|e| PricingError::Syntax {
            message: e.to_string().trim_end().to_owned(),
        })?;
        let mut pricing = Pricing::default();
        for (pattern, rates) in file.models {
            if let Some((field, value)) = rates.invalid() {
                return Err(PricingError::InvalidRate {
                    model: pattern,
                    field,
                    value,
                });
            }
            if is_glob(&pattern) {
                pricing.globs.push((pattern, rates));
            } else {
                pricing.exact.insert(pattern, rates);
            }
        }
        // Longest first; among equally long ones the more literal (fewer
        // wildcards), then byte order: which wins never depends on the
        // order of the file or of a hash map.
        pricing.globs.sort_by(|(a, _), (b, _)| {
            glob_len(b)
                .cmp(&glob_len(a))
                .then(literal_len(b).cmp(&literal_len(a)))
                .then(a.cmp(b))
        });
        Ok(pricing)
    }

    /// Reads and parses a pricing file (at startup: the pipeline itself never
    /// touches the file system).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Pricing, PricingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PricingError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// True when the file names no model.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.globs.is_empty()
    }

    /// The file's rates for `model`: its exact table, else the longest glob that matches.
    pub fn rates_for(&self, model: &str) -> Option<&Rates> {
        if let Some(r) = self.exact.get(model) {
            return Some(r);
        }
        self.globs
            .iter()
            .find(|(pattern, _)| glob_matches(pattern, model))
            .map(|(_, r)| r)
    }
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

fn glob_len(pattern: &str) -> usize {
    pattern.chars().count()
}

fn literal_len(pattern: &str) -> usize {
    pattern.chars().filter(|c| !matches!(c, '*' | '?')).count()
}

/// `*` matches any run of characters (none included), `?` exactly one;
/// everything else itself. Iterative with one backtrack point, so no
/// pattern can make it slower than `O(pattern × text)`.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is retried from.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_by_hand() {
        for (p, t) in [
            ("*", ""),
            ("*", "anything"),
            ("claude-*", "claude-sonnet-4-5"),
            ("*sonnet*", "claude-sonnet-4-5"),
            ("gpt-4?", "gpt-4o"),
            ("a*b*c", "aXbYbZc"),
            ("Qwen/*-8B", "Qwen/Qwen3-8B"),
            ("é?", "éa"),
            ("**", "x"),
        ] {
            assert!(glob_matches(p, t), "{p} should match {t}");
        }
        for (p, t) in [
            ("claude-*", "anthropic/claude-sonnet"),
            ("gpt-4?", "gpt-4"),
            ("gpt-4?", "gpt-4oo"),
            ("a*b*c", "aXbYbZ"),
            ("?", ""),
            ("abc", "abd"),
        ] {
            assert!(!glob_matches(p, t), "{p} should not match {t}");
        }
    }

    #[test]
    fn exact_beats_glob_and_the_longest_glob_wins() {
        let pricing = Pricing::from_toml_str(
            r#"
            [models."*"]
            input_cost_per_token = 1.0
            [models."claude-*"]
            input_cost_per_token = 2.0
            [models."claude-sonnet-*"]
            input_cost_per_token = 3.0
            [models."claude-sonnet-4-5"]
            input_cost_per_token = 4.0
            "#,
        )
        .unwrap();
        let rate = |m: &str| pricing.rates_for(m).and_then(|r| r.input_cost_per_token);
        assert_eq!(rate("claude-sonnet-4-5"), Some(4.0));
        assert_eq!(rate("claude-sonnet-4-6"), Some(3.0));
        assert_eq!(rate("claude-haiku-4-5"), Some(2.0));
        assert_eq!(rate("gpt-4o"), Some(1.0));
        assert!(!pricing.is_empty());
        assert!(Pricing::new().rates_for("x").is_none());
    }

    #[test]
    fn equally_long_globs_resolve_the_same_way_every_time() {
        let text = r#"
            [models."a**"]
            input_cost_per_token = 1.0
            [models."ab?"]
            input_cost_per_token = 2.0
            [models."a?c"]
            input_cost_per_token = 3.0
        "#;
        for _ in 0..8 {
            let p = Pricing::from_toml_str(text).unwrap();
            // "a?c" and "ab?" say as much; byte order picks "a?c".
            assert_eq!(p.rates_for("abc").unwrap().input_cost_per_token, Some(3.0));
            // The more literal of two equally long globs wins.
            assert_eq!(p.rates_for("abd").unwrap().input_cost_per_token, Some(2.0));
            assert_eq!(p.rates_for("axd").unwrap().input_cost_per_token, Some(1.0));
        }
    }

    #[test]
    fn the_file_replaces_field_by_field() {
        let file = Rates {
            cache_read_input_token_cost: Some(1e-8),
            ..Rates::default()
        };
        let map = Rates {
            input_cost_per_token: Some(1e-6),
            cache_read_input_token_cost: Some(5e-7),
            ..Rates::default()
        };
        let merged = file.over(map);
        assert_eq!(merged.input_cost_per_token, Some(1e-6));
        assert_eq!(merged.cache_read_input_token_cost, Some(1e-8));
        assert_eq!(merged.output_cost_per_token, None);
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let err = Pricing::from_toml_str("[models.x]\ninput_cost_per_tokn = 1e-6\n").unwrap_err();
        assert!(matches!(err, PricingError::Syntax { .. }), "{err}");
        assert!(err.to_string().contains("input_cost_per_tokn"), "{err}");
        let err =
            Pricing::from_toml_str("[models.x]\ninput_cost_per_token = \"cheap\"\n").unwrap_err();
        assert!(matches!(err, PricingError::Syntax { .. }), "{err}");
        let err = Pricing::from_toml_str("[model.x]\n").unwrap_err();
        assert!(matches!(err, PricingError::Syntax { .. }), "{err}");
        let err = Pricing::from_toml_str("not toml [").unwrap_err();
        assert!(matches!(err, PricingError::Syntax { .. }), "{err}");
        let err =
            Pricing::from_toml_str("[models.\"q\"]\noutput_cost_per_token = -1e-6\n").unwrap_err();
        match err {
            PricingError::InvalidRate {
                model,
                field,
                value,
            } => {
                assert_eq!(
                    (model.as_str(), field, value),
                    ("q", "output_cost_per_token", -1e-6)
                );
            }
            other => panic!("{other}"),
        }
        let err = Pricing::from_toml_str("[models.q]\ninput_cost_per_token = nan\n").unwrap_err();
        assert!(matches!(err, PricingError::InvalidRate { .. }), "{err}");
        let err = Pricing::from_path("/nonexistent/pricing.toml").unwrap_err();
        assert!(matches!(err, PricingError::Read { .. }), "{err}");
        // Integers are prices too, and an empty file prices nothing.
        let p = Pricing::from_toml_str("[models.q]\ninput_cost_per_token = 0\n").unwrap();
        assert_eq!(p.rates_for("q").unwrap().input_cost_per_token, Some(0.0));
        assert!(Pricing::from_toml_str("").unwrap().is_empty());
    }

    #[test]
    fn file_and_model_map_share_field_names() {
        // Every field a pricing file accepts is read from the price map too.
        let json = r#"{"input_cost_per_token": 1, "output_cost_per_token": 2,
            "cache_read_input_token_cost": 3, "cache_creation_input_token_cost": 4,
            "cache_creation_input_token_cost_above_1hr": 5, "prompt_cache_min_tokens": 6}"#;
        let from_map = Rates::from_model_map(&serde_json::from_str(json).unwrap());
        let from_file: Rates = serde_json::from_str(json).unwrap();
        assert_eq!(from_map, from_file);
        assert_eq!(from_map.prompt_cache_min_tokens, Some(6));
    }
}
