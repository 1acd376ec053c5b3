//! How long to wait before sending a batch again, and when to give up.
//!
//! Pure (no I/O; time and the random sample are passed in), so the backoff
//! and the deadline are unit-tested without sleeping; the worker's loop only
//! applies it. What counts as transient is the destination's call: its
//! [`Exporter`](crate::Exporter) answers [`Outcome::RetryAfter`](crate::Outcome::RetryAfter)
//! (PostHog's HTTP rules are in `posthog/status.rs`).

use std::time::Duration;

/// What to do after a failed attempt: the retry policy's input. The worker
/// builds it from [`Outcome::RetryAfter`](crate::Outcome::RetryAfter); an
/// HTTP destination's status rules (PostHog's `classify`) produce it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Transient: send again after the usual backoff.
    Retry,
    /// Transient, and the destination said how long to wait: wait at least this.
    Throttled(Duration),
    /// Do not send this batch again (`classify` puts a 2xx here too: it is done).
    Fatal,
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
    /// Do not retry: the destination refused (`Fatal`).
    Refused,
    /// Would retry, but the wait would end past the deadline.
    OutOfTime,
}

impl RetryPolicy {
    /// The backoff ceiling before retry number `attempt` (0-based):
    /// `initial * 2^attempt`, capped at `max`.
    pub(crate) fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Full jitter: uniform in `[0, ceiling)`, where `unit` is a uniform
    /// sample in `[0, 1)`. Spreads retries from many clients after an outage.
    pub(crate) fn backoff(&self, attempt: u32, unit: f64) -> Duration {
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
    pub(crate) fn next(
        &self,
        decision: Decision,
        attempt: u32,
        elapsed: Duration,
        unit: f64,
    ) -> Step {
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
