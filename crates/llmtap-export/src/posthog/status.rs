//! Which answers of the capture API are worth sending again.
//!
//! Pure (no I/O, time passed in) so every status and header shape is
//! unit-tested; [`PostHog::export`](super::PostHog) turns the [`Decision`]
//! into the [`Outcome`](crate::Outcome) the worker acts on. The rules are
//! PostHog's: network errors, timeouts, 408, 429 and 500/502/503/504 are
//! transient; 400, 401, 403 and 413 will fail the same way again (a 413,
//! and a 400 for several events, is split before it gets here).

use std::time::{Duration, SystemTime};

pub(crate) use crate::retry::Decision;

/// What one attempt to send a batch produced, as far as retrying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt<'a> {
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

/// Classifies one attempt. `now` resolves `Retry-After` given as an HTTP date.
pub(crate) fn classify(outcome: Attempt<'_>, now: SystemTime) -> Decision {
    match outcome {
        Attempt::Timeout | Attempt::Network => Decision::Retry,
        Attempt::Unsendable => Decision::Fatal,
        Attempt::Status { code, retry_after } => match code {
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
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Attempt<'static> {
        Attempt::Status {
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
        assert_eq!(classify(Attempt::Timeout, now()), Decision::Retry);
        assert_eq!(classify(Attempt::Network, now()), Decision::Retry);
    }

    #[test]
    fn permanent_statuses_never_retry() {
        for code in [400, 401, 403, 404, 413, 422, 501, 505, 301, 200, 204] {
            assert_eq!(classify(status(code), now()), Decision::Fatal, "{code}");
        }
        assert_eq!(classify(Attempt::Unsendable, now()), Decision::Fatal);
    }

    #[test]
    fn retry_after_seconds_on_429_and_503() {
        for code in [429, 503] {
            let outcome = Attempt::Status {
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
        let outcome = Attempt::Status {
            code: 429,
            retry_after: Some("Mon, 23 Nov 2026 00:00:45 GMT"),
        };
        assert_eq!(
            classify(outcome, now()),
            Decision::Throttled(Duration::from_secs(45))
        );
        // A date already past means "now", not an error.
        let past = Attempt::Status {
            code: 503,
            retry_after: Some("Sun, 22 Nov 2026 23:00:00 GMT"),
        };
        assert_eq!(classify(past, now()), Decision::Throttled(Duration::ZERO));
    }

    #[test]
    fn unreadable_retry_after_falls_back_to_backoff() {
        for value in ["soon", "-5", "1.5", ""] {
            let outcome = Attempt::Status {
                code: 429,
                retry_after: Some(value),
            };
            assert_eq!(classify(outcome, now()), Decision::Retry, "{value:?}");
        }
    }

    #[test]
    fn retry_after_is_ignored_where_it_is_not_a_throttle() {
        let outcome = Attempt::Status {
            code: 500,
            retry_after: Some("30"),
        };
        assert_eq!(classify(outcome, now()), Decision::Retry);
        let outcome = Attempt::Status {
            code: 400,
            retry_after: Some("30"),
        };
        assert_eq!(classify(outcome, now()), Decision::Fatal);
    }
}
