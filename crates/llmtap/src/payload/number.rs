//! Lenient scalar types for fields LiteLLM serializes inconsistently.
//!
//! LiteLLM dumps payloads with a tolerant serializer, so a count can arrive as
//! `12`, `12.0` or `"12"`, and a timestamp as epoch seconds or a naive date
//! string. These types accept every such spelling and reject what cannot be a
//! real value (negative, fractional or absurd counts) with a message that the
//! caller's error then pins to a field path.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// No single LLM call reports ten billion tokens; anything above is corrupt input.
pub(crate) const MAX_TOKENS: u64 = 10_000_000_000;

/// A token count as a provider reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenCount(pub u64);

impl<'de> Deserialize<'de> for TokenCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TokenVisitor)
    }
}

struct TokenVisitor;

impl TokenVisitor {
    fn check<E: de::Error>(v: u64) -> Result<TokenCount, E> {
        if v > MAX_TOKENS {
            return Err(E::custom(format_args!(
                "token count {v} is absurd (more than {MAX_TOKENS})"
            )));
        }
        Ok(TokenCount(v))
    }
}

impl Visitor<'_> for TokenVisitor {
    type Value = TokenCount;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-negative whole token count")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<TokenCount, E> {
        Self::check(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<TokenCount, E> {
        match u64::try_from(v) {
            Ok(v) => Self::check(v),
            Err(_) => Err(E::custom(format_args!("negative token count {v}"))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<TokenCount, E> {
        if !v.is_finite() {
            return Err(E::custom(format_args!(
                "token count {v} is not a finite number"
            )));
        }
        if v < 0.0 {
            return Err(E::custom(format_args!("negative token count {v}")));
        }
        if v.fract() != 0.0 {
            return Err(E::custom(format_args!(
                "token count {v} is not a whole number"
            )));
        }
        if v > MAX_TOKENS as f64 {
            return Err(E::custom(format_args!(
                "token count {v} is absurd (more than {MAX_TOKENS})"
            )));
        }
        Ok(TokenCount(v as u64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<TokenCount, E> {
        let t = v.trim();
        if let Ok(n) = t.parse::<i64>() {
            return self.visit_i64(n);
        }
        match t.parse::<f64>() {
            // Python's `NaN` / `Infinity` literals arrive spelled as strings
            // (see `Payload::from_scanned`); name them as they were written.
            Ok(n) if !n.is_finite() => Err(E::custom(format_args!(
                "token count {t} is not a finite number"
            ))),
            Ok(n) => self.visit_f64(n),
            Err(_) => Err(E::custom(format_args!("token count {v:?} is not a number"))),
        }
    }
}

/// A non-negative amount (a cost in USD, a duration in seconds) that may arrive as a string.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Amount(pub f64);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
                Ok(Amount(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Amount, E> {
                if v < 0.0 || !v.is_finite() {
                    return Err(E::custom(format_args!("{v} is negative")));
                }
                Ok(Amount(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
                match v.trim().parse::<f64>() {
                    Ok(n) => self.visit_f64(n),
                    Err(_) => Err(E::custom(format_args!("{v:?} is not a number"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Amount {
    /// An amount from any JSON value: `None` unless it is a finite, non-negative
    /// number (or a string holding one).
    fn from_value(v: &serde_json::Value) -> Option<Amount> {
        let n = match v {
            serde_json::Value::Number(n) => n.as_f64()?,
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
            _ => return None,
        };
        (n.is_finite() && n >= 0.0).then_some(Amount(n))
    }
}

/// For amounts that are informational (LiteLLM's costs): a negative, `NaN`
/// or mistyped value is dropped rather than failing the whole payload, since
/// the call happened whatever its price.
pub(crate) fn amount_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(Amount::from_value(&v))
}

/// For informational whole numbers (a price map's `prompt_cache_min_tokens`):
/// anything but a non-negative whole number of plausible size is absent.
pub(crate) fn count_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(Amount::from_value(&v)
        .filter(|a| a.0.fract() == 0.0 && a.0 <= MAX_TOKENS as f64)
        .map(|a| a.0 as u64))
}

/// For labels some versions fill with other types: anything but a non-empty
/// string is absent.
pub(crate) fn string_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Ok(Some(s)),
        _ => Ok(None),
    }
}

/// A boolean that LiteLLM may also write as `"true"`/`"false"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => Ok(Flag(true)),
                    "false" | "0" | "" => Ok(Flag(false)),
                    _ => Err(E::custom(format_args!("{v:?} is not a boolean"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A point in time, kept as microseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

/// Anything before 2000 or after 2200 is a unit mistake or garbage, not a call time.
const MIN_EPOCH_SECS: f64 = 946_684_800.0;
const MAX_EPOCH_SECS: f64 = 7_258_118_400.0;

impl Timestamp {
    /// A timestamp from microseconds since the Unix epoch.
    pub fn from_micros(micros: i64) -> Self {
        Self { micros }
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(self) -> i64 {
        self.micros
    }

    /// Seconds elapsed from `earlier` to `self` (negative if `self` is earlier).
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.micros - earlier.micros) as f64 / 1e6
    }

    /// RFC 3339 in UTC with microseconds, the form PostHog's capture API expects.
    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_micros(self.micros)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    fn from_epoch_secs(secs: f64) -> Result<Self, String> {
        if !(MIN_EPOCH_SECS..=MAX_EPOCH_SECS).contains(&secs) {
            return Err(format!(
                "{secs} is not a plausible epoch time in seconds (years 2000-2200)"
            ));
        }
        Ok(Self {
            micros: (secs * 1e6).round() as i64,
        })
    }

    fn parse_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(secs) = t.parse::<f64>() {
            return Self::from_epoch_secs(secs);
        }
        let micros = DateTime::parse_from_rfc3339(t)
            .map(|dt| dt.timestamp_micros())
            .or_else(|_| {
                // LiteLLM's naive strings are the proxy's local clock; proxies run in UTC.
                ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                    .iter()
                    .find_map(|fmt| NaiveDateTime::parse_from_str(t, fmt).ok())
                    .map(|dt| dt.and_utc().timestamp_micros())
                    .ok_or(())
            })
            .map_err(|()| format!("{s:?} is neither epoch seconds nor a date-time"))?;
        Self::from_epoch_secs(micros as f64 / 1e6)
            .map(|_| Self { micros })
            .map_err(|_| format!("{s:?} is not a plausible call time (years 2000-2200)"))
    }
}

/// As RFC 3339 in UTC with microseconds (what PostHog's capture API takes).
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("epoch seconds or a date-time string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Timestamp::from_epoch_secs(v).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_str(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(json: &str) -> Result<TokenCount, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn token_counts_accept_every_honest_spelling() {
        assert_eq!(tokens("12").unwrap(), TokenCount(12));
        assert_eq!(tokens("12.0").unwrap(), TokenCount(12));
        assert_eq!(tokens("\" 12 \"").unwrap(), TokenCount(12));
        assert_eq!(tokens("0").unwrap(), TokenCount(0));
    }

    #[test]
    fn token_counts_reject_what_cannot_be_a_count() {
        for bad in ["-1", "1.5", "\"abc\"", "true", "[]", "1e300", "\"-3\""] {
            assert!(tokens(bad).is_err(), "{bad} was accepted");
        }
        assert!(tokens(&(MAX_TOKENS + 1).to_string()).is_err());
    }

    #[test]
    fn timestamps_from_floats_and_strings_agree() {
        let f: Timestamp = serde_json::from_str("1737710446.847371").unwrap();
        let s: Timestamp = serde_json::from_str("\"2025-01-24 09:20:46.847371\"").unwrap();
        let r: Timestamp = serde_json::from_str("\"2025-01-24T09:20:46.847371Z\"").unwrap();
        assert_eq!(f, s);
        assert_eq!(s, r);
        assert_eq!(f.to_rfc3339(), "2025-01-24T09:20:46.847371Z");
    }

    #[test]
    fn timestamps_reject_garbage_and_wrong_units() {
        for bad in ["\"yesterday\"", "1737710446847", "-5", "null"] {
            assert!(serde_json::from_str::<Timestamp>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_and_flags_are_lenient_but_not_blind() {
        assert_eq!(
            serde_json::from_str::<Amount>("\"0.5\"").unwrap(),
            Amount(0.5)
        );
        assert!(serde_json::from_str::<Amount>("-0.5").is_err());
        assert_eq!(
            serde_json::from_str::<Flag>("\"true\"").unwrap(),
            Flag(true)
        );
        assert!(serde_json::from_str::<Flag>("\"maybe\"").is_err());
    }
}
