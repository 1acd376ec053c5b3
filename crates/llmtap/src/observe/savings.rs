//! What the cache did for one call: hit ratio, dollars saved, and the
//! call's cost when only a pricing file knows it.

use super::pricing::Rates;
use crate::usage::Usage;

/// Cache read ÷ input, when both are reported and input > 0.
///
/// [`Usage::input`] is all input, cache reads and writes included, for every
/// provider (the normalizer adds Anthropic's and Bedrock's cache counts to
/// their exclusive raw input), so the ratio is over the whole prompt: 18 000
/// read of 23 427 is 0.77, not 6 000 "of" the 3 uncached tokens. A sum over
/// calls is Σ read ÷ Σ input over the calls that report both.
pub(crate) fn hit_ratio(usage: &Usage) -> Option<f64> {
    let (read, input) = (usage.cache_read?, usage.input?);
    (input > 0).then(|| read as f64 / input as f64)
}

/// The cache writes of a call, by the TTL they are priced at: a write with
/// no 5m/1h split is priced at the 5m rate.
fn writes(usage: &Usage) -> (u64, u64) {
    match (usage.cache_write_5m, usage.cache_write_1h) {
        (Some(m5), Some(h1)) => (m5, h1),
        _ => (usage.cache_write.unwrap_or(0), 0),
    }
}

/// A rate, needed only when the count it multiplies is not zero: `Err` when
/// it is unknown for a non-zero count.
fn rate(count: u64, rate: Option<f64>) -> Result<f64, ()> {
    match (count, rate) {
        (0, _) => Ok(0.0),
        (_, Some(r)) => Ok(r),
        (_, None) => Err(()),
    }
}

/// What the cached tokens would have cost uncached minus what they cost:
/// `read × (input − read_rate) − write_5m × (write_5m_rate − input) −
/// write_1h × (write_1h_rate − input)`. Negative when writes did not pay
/// back. `None` when the call reports no cache count at all, or a rate
/// needed for a non-zero count is unknown.
pub(crate) fn savings_usd(usage: &Usage, rates: &Rates) -> Option<f64> {
    if usage.cache_read.is_none() && usage.cache_write.is_none() {
        return None;
    }
    let read = usage.cache_read.unwrap_or(0);
    let (write_5m, write_1h) = writes(usage);
    let input = rate(read + write_5m + write_1h, rates.input_cost_per_token).ok()?;
    let read_rate = rate(read, rates.cache_read_input_token_cost).ok()?;
    let w5 = rate(write_5m, rates.cache_creation_input_token_cost).ok()?;
    let w1 = rate(write_1h, rates.cache_creation_input_token_cost_above_1hr).ok()?;
    let saved = read as f64 * (input - read_rate)
        - write_5m as f64 * (w5 - input)
        - write_1h as f64 * (w1 - input);
    Some(usd(saved))
}

/// The call priced at `rates` token class by token class: uncached input,
/// cache reads, 5m and 1h writes, output (reasoning is output, priced as
/// such; audio and image tokens at the text rates, which is all a pricing
/// file says). `None` without any count, or without a rate a non-zero count
/// needs.
pub(crate) fn cost_usd(usage: &Usage, rates: &Rates) -> Option<f64> {
    if usage.input.is_none() && usage.output.is_none() {
        return None;
    }
    let read = usage.cache_read.unwrap_or(0);
    let (write_5m, write_1h) = writes(usage);
    let uncached = usage.uncached_input().unwrap_or(0);
    let output = usage.output.unwrap_or(0);
    let cost = uncached as f64 * rate(uncached, rates.input_cost_per_token).ok()?
        + read as f64 * rate(read, rates.cache_read_input_token_cost).ok()?
        + write_5m as f64 * rate(write_5m, rates.cache_creation_input_token_cost).ok()?
        + write_1h as f64 * rate(write_1h, rates.cache_creation_input_token_cost_above_1hr).ok()?
        + output as f64 * rate(output, rates.output_cost_per_token).ok()?;
    Some(usd(cost))
}

/// Rounded to 10⁻¹² USD: float noise (`0.035532000000000004`) is not a digit
/// anyone should see, and a picodollar is far below any real price.
fn usd(x: f64) -> f64 {
    let r = (x * 1e12).round() / 1e12;
    // No `-0` in events.
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anthropic_rates() -> Rates {
        Rates {
            input_cost_per_token: Some(3e-6),
            output_cost_per_token: Some(1.5e-5),
            cache_read_input_token_cost: Some(3e-7),
            cache_creation_input_token_cost: Some(3.75e-6),
            cache_creation_input_token_cost_above_1hr: Some(6e-6),
            prompt_cache_min_tokens: Some(1024),
        }
    }

    #[test]
    fn ratio_is_over_all_input() {
        let u = Usage::default().with_input(23427).with_cache_read(18000);
        assert_eq!(hit_ratio(&u), Some(18000.0 / 23427.0));
        assert_eq!(
            hit_ratio(&Usage::default().with_input(0).with_cache_read(0)),
            None
        );
        assert_eq!(hit_ratio(&Usage::default().with_input(10)), None);
        assert_eq!(
            hit_ratio(&Usage::default().with_input(10).with_cache_read(0)),
            Some(0.0)
        );
    }

    #[test]
    fn savings_by_ttl() {
        let r = anthropic_rates();
        // 18000 × (3e-6 − 3e-7) − 1424 × (3.75e-6 − 3e-6) − 4000 × (6e-6 − 3e-6)
        let split = Usage::default()
            .with_input(23427)
            .with_cache_read(18000)
            .with_cache_write(5424)
            .with_cache_write_split(1424, 4000);
        assert_eq!(savings_usd(&split, &r), Some(0.035532));
        // No split: all of the write at the 5m rate.
        let unsplit = Usage::default()
            .with_input(23427)
            .with_cache_read(18000)
            .with_cache_write(5424);
        assert_eq!(savings_usd(&unsplit, &r), Some(0.044532));
        // A write that is never read back costs.
        let write_only = Usage::default()
            .with_input(5000)
            .with_cache_read(0)
            .with_cache_write(4000);
        assert_eq!(savings_usd(&write_only, &r), Some(-0.003));
    }

    #[test]
    fn savings_need_only_the_rates_their_counts_use() {
        let openai = Rates {
            input_cost_per_token: Some(1.1e-6),
            cache_read_input_token_cost: Some(5.5e-7),
            ..Rates::default()
        };
        let u = Usage::default().with_input(4000).with_cache_read(3584);
        assert_eq!(savings_usd(&u, &openai), Some(0.0019712));
        // A write without a known write rate: unknown, not a guess.
        let w = u.with_cache_write(100);
        assert_eq!(savings_usd(&w, &openai), None);
        // A 1h write without a 1h rate is not priced at the 5m rate.
        let mut r = anthropic_rates();
        r.cache_creation_input_token_cost_above_1hr = None;
        let h1 = Usage::default()
            .with_cache_read(0)
            .with_cache_write(10)
            .with_cache_write_split(0, 10);
        assert_eq!(savings_usd(&h1, &r), None);
        // Zero counts need no rate at all, and save nothing.
        let zero = Usage::default()
            .with_input(50)
            .with_cache_read(0)
            .with_cache_write(0);
        assert_eq!(savings_usd(&zero, &Rates::default()), Some(0.0));
        // Nothing reported: nothing to say.
        assert_eq!(
            savings_usd(&Usage::default().with_input(50), &anthropic_rates()),
            None
        );
    }

    #[test]
    fn cost_prices_every_class_once() {
        let r = anthropic_rates();
        let u = Usage::default()
            .with_input(23427)
            .with_output(400)
            .with_cache_read(18000)
            .with_cache_write(5424)
            .with_cache_write_split(1424, 4000);
        // 3 × 3e-6 + 18000 × 3e-7 + 1424 × 3.75e-6 + 4000 × 6e-6 + 400 × 1.5e-5
        assert_eq!(cost_usd(&u, &r), Some(0.040749));
        assert_eq!(cost_usd(&Usage::default(), &r), None);
        let no_output_rate = Rates {
            output_cost_per_token: None,
            ..r
        };
        assert_eq!(cost_usd(&u, &no_output_rate), None);
    }
}
