//! When to send a batch again, and how long to wait first.
//!
//! The decision is pure (no I/O, time passed in) so every status and header
//! shape is unit-tested; the worker's loop only applies it. The rules are
//! PostHog's: network errors, timeouts, 408, 429 and 500/502/503/504 are
//! transient; 400, 401, 403 and 413 will fail the same way again.

use std::time::{Duration, SystemTime};

/// What one attempt to send a batch produced, as far as retrying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// The server answered with this status.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The raw `Retry-After` header, if any.
        retry_after: Option<&'a str>,
    },
    /// No answer within the request timeout.
    Timeout,
    /// No answer: connection refused or reset, DNS or TLS failure.
    Network,
    /// The request could not be built; sending it again cannot help.
    Unsendable,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Transient: send again after the usual backoff.
    Retry,
    /// Transient, and the server said how long to wait: wait at least this.
    Throttled(Duration),
    /// Do not send this batch again. A 2xx classifies here too: it is done.
    Fatal,
}

/// Classifies one attempt. `now` resolves `Retry-After` given as an HTTP date.
pub fn classify(outcome: Outcome<'_>, now: SystemTime) -> Decision {
    match outcome {
        Outcome::Timeout | Outcome::Network => Decision::Retry,
        Outcome::Unsendable => Decision::Fatal,
        Outcome::Status { code, retry_after } => match code {
            429 | 503 => match retry_after.and_then(|v| parse_retry_after(v, now)) {
                Some(wait) => Decision::Throttled(wait),
                None => Decision::Retry,
            },
            408 | 500 | 502 | 504 => Decision::Retry,
            _ => Decision::Fatal,
        },
    }
}

/// Reads `Retry-After` as delay-seconds or an HTTP date. A date in the past
/// means no wait; anything unreadable is ignored (`None`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Retry timing for one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Backoff ceiling for the first retry; doubles each attempt.
    pub initial: Duration,
    /// The ceiling stops doubling here.
    pub max: Duration,
    /// A batch still failing after this long (waits included) is dropped.
    pub deadline: Duration,
}

/// The next step after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Wait(Duration),
    /// Do not retry: the server refused (`Fatal`).
    Refused,
    /// Would retry, but the wait would end past the deadline.
    OutOfTime,
}

impl RetryPolicy {
    /// The backoff ceiling before retry number `attempt` (0-based):
    /// `initial * 2^attempt`, capped at `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Full jitter: uniform in `[0, ceiling)`, where `unit` is a uniform
    /// sample in `[0, 1)`. Spreads retries from many clients after an outage.
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        // Checked: near Duration::MAX the float product can round past it.
        Duration::try_from_secs_f64(ceiling.as_secs_f64() * unit)
            .map_or(ceiling, |d| d.min(ceiling))
    }

    /// Decides the next step, given how long this batch has been trying.
    /// `Retry-After` is a floor on the wait, never a way around the deadline.
    pub fn next(&self, decision: Decision, attempt: u32, elapsed: Duration, unit: f64) -> Step {
        let wait = match decision {
            Decision::Fatal => return Step::Refused,
            Decision::Retry => self.backoff(attempt, unit),
            Decision::Throttled(min) => self.backoff(attempt, unit).max(min),
        };
        if elapsed.saturating_add(wait) > self.deadline {
            Step::OutOfTime
        } else {
            Step::Wait(wait)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Outcome<'static> {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }

    fn now() -> SystemTime {
        // 2026-11-23T00:00:00Z
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_392_000)
    }

    #[test]
    fn transient_statuses_retry() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(status(code), now()), Decision::Retry, "{code}");
        }
        assert_eq!(classify(Outcome::Timeout, now()), Decision::Retry);
        assert_eq!(classify(Outcome::Network, now()), Decision::Retry);
    }

    #[test]
    fn permanent_statuses_never_retry() {
        for code in [400, 401, 403, 404, 413, 422, 501, 505, 301, 200, 204] {
            assert_eq!(classify(status(code), now()), Decision::Fatal, "{code}");
        }
        assert_eq!(classify(Outcome::Unsendable, now()), Decision::Fatal);
    }

    #[test]
    fn retry_after_seconds_on_429_and_503() {
        for code in [429, 503] {
            let outcome = Outcome::Status {
                code,
                retry_after: Some(" 120 "),
            };
            assert_eq!(
                classify(outcome, now()),
                Decision::Throttled(Duration::from_secs(120))
            );
        }
    }

    #[test]
    fn retry_after_http_date() {
        let outcome = Outcome::Status {
            code: 429,
            retry_after: Some("Mon, 23 Nov 2026 00:00:45 GMT"),
        };
        assert_eq!(
            classify(outcome, now()),
            Decision::Throttled(Duration::from_secs(45))
        );
        // A date already past means "now", not an error.
        let past = Outcome::Status {
            code: 503,
            retry_after: Some("Sun, 22 Nov 2026 23:00:00 GMT"),
        };
        assert_eq!(classify(past, now()), Decision::Throttled(Duration::ZERO));
    }

    #[test]
    fn unreadable_retry_after_falls_back_to_backoff() {
        for value in ["soon", "-5", "1.5", ""] {
            let outcome = Outcome::Status {
                code: 429,
                retry_after: Some(value),
            };
            assert_eq!(classify(outcome, now()), Decision::Retry, "{value:?}");
        }
    }

    #[test]
    fn retry_after_is_ignored_where_it_is_not_a_throttle() {
        let outcome = Outcome::Status {
            code: 500,
            retry_after: Some("30"),
        };
        assert_eq!(classify(outcome, now()), Decision::Retry);
        let outcome = Outcome::Status {
            code: 400,
            retry_after: Some("30"),
        };
        assert_eq!(classify(outcome, now()), Decision::Fatal);
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            deadline: Duration::from_secs(10),
        }
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let p = policy();
        let ms: Vec<u128> = (0..8).map(|a| p.ceiling(a).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let p = policy();
        assert_eq!(p.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(p.backoff(3, 0.5), Duration::from_millis(400));
        assert!(p.backoff(3, 0.999_999) < Duration::from_millis(800));
        // Out-of-range samples cannot escape the cap.
        assert_eq!(p.backoff(10, 7.0), Duration::from_secs(2));
        assert_eq!(p.backoff(10, -1.0), Duration::ZERO);
        assert_eq!(p.backoff(10, f64::NAN), Duration::ZERO);
        let huge = RetryPolicy {
            initial: Duration::MAX,
            max: Duration::MAX,
            deadline: Duration::MAX,
        };
        assert_eq!(huge.backoff(40, 1.0), Duration::MAX);
        assert!(matches!(
            huge.next(Decision::Retry, 3, Duration::MAX, 0.5),
            Step::OutOfTime | Step::Wait(_)
        ));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = policy();
        let d = Decision::Throttled(Duration::from_secs(3));
        assert_eq!(
            p.next(d, 0, Duration::ZERO, 0.5),
            Step::Wait(Duration::from_secs(3))
        );
        // A jittered backoff above the floor wins.
        let d = Decision::Throttled(Duration::from_millis(10));
        assert_eq!(
            p.next(d, 4, Duration::ZERO, 0.5),
            Step::Wait(Duration::from_millis(800))
        );
    }

    #[test]
    fn the_deadline_bounds_the_total_time() {
        let p = policy();
        assert_eq!(
            p.next(Decision::Retry, 9, Duration::from_secs(8), 0.5),
            Step::Wait(Duration::from_secs(1))
        );
        assert_eq!(
            p.next(Decision::Retry, 9, Duration::from_millis(9_500), 0.5),
            Step::OutOfTime
        );
        // A throttle longer than the budget gives up at once instead of sleeping in vain.
        let long = Decision::Throttled(Duration::from_secs(3600));
        assert_eq!(p.next(long, 0, Duration::ZERO, 0.5), Step::OutOfTime);
        assert_eq!(
            p.next(Decision::Fatal, 0, Duration::ZERO, 0.5),
            Step::Refused
        );
    }

    #[test]
    fn jittered_retries_always_stop_by_the_deadline() {
        let p = policy();
        for unit in [0.3, 0.999] {
            let mut elapsed = Duration::ZERO;
            let mut attempt = 0;
            while let Step::Wait(w) = p.next(Decision::Retry, attempt, elapsed, unit) {
                elapsed += w;
                attempt += 1;
                assert!(attempt < 100, "never gave up");
            }
            assert!(elapsed <= p.deadline);
            assert!(attempt > 3);
        }
    }
}
