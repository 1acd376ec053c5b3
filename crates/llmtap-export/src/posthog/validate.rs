//! The checks PostHog's capture runs per event, run in `capture` before queueing
//! (through [`Exporter::validate`](crate::Exporter::validate)).
//!
//! One invalid event makes the server answer 400 for its whole batch, so a
//! bad event is refused at `capture` (counted `invalid`) and never costs the
//! good events around it.

use llmtap::Event;

/// The first problem found, or `Ok`.
pub(crate) fn validate(event: &Event) -> Result<(), &'static str> {
    if event.event.trim().is_empty() {
        return Err("empty event name");
    }
    if event.distinct_id.trim().is_empty() {
        return Err("empty distinct_id");
    }
    // The timestamp is typed (`Option<Timestamp>`), so it is always one
    // PostHog takes, and none at all means "when received".
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn event() -> Event {
        // Through serde: the wire shape is the stable part of `Event`.
        serde_json::from_value(serde_json::json!({
            "event": "$ai_generation",
            "distinct_id": "user-1",
            "properties": {},
            "timestamp": "2026-11-23T10:00:00.250+01:00",
            "uuid": Uuid::from_u128(7),
        }))
        .unwrap()
    }

    #[test]
    fn accepts_a_good_event() {
        assert_eq!(validate(&event()), Ok(()));
    }

    #[test]
    fn an_event_without_a_timestamp_is_valid() {
        let mut e = event();
        e.timestamp = None;
        assert_eq!(validate(&e), Ok(()));
    }

    #[test]
    fn refuses_what_the_server_would_400() {
        let mut e = event();
        e.event = " ".into();
        assert_eq!(validate(&e), Err("empty event name"));
        let mut e = event();
        e.distinct_id = String::new();
        assert_eq!(validate(&e), Err("empty distinct_id"));
    }

    #[test]
    fn a_time_posthog_would_refuse_cannot_even_be_an_event() {
        for ts in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
        ] {
            let wire = serde_json::json!({
                "event": "$ai_generation", "distinct_id": "u", "properties": {},
                "timestamp": ts, "uuid": Uuid::from_u128(7),
            });
            assert!(serde_json::from_value::<Event>(wire).is_err(), "{ts:?}");
        }
    }
}
