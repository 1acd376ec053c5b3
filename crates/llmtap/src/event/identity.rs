//! Who and what an event is: its uuid, distinct id and trace.

use uuid::Uuid;

use crate::headers::HeaderProperties;
use crate::payload::Payload;

use super::props;

/// Namespace for llmtap's name-based (v5) event uuids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6c6c_6d74_6170_4c00_8000_0000_0000_0001);

/// The same payload always yields the same uuid, so a replayed or retried
/// payload is the same event to PostHog, while two attempts of one request
/// (distinct `litellm_call_id`s) stay two events.
pub(crate) fn event_uuid(payload: &Payload, event: &str) -> Uuid {
    let mut key = String::with_capacity(128);
    for part in [
        event,
        payload.litellm_call_id.as_deref().unwrap_or(""),
        payload.id.as_deref().unwrap_or(""),
        payload.status.as_deref().unwrap_or(""),
        payload.provider(),
        &payload.model,
    ] {
        key.push_str(part);
        key.push('\u{1f}');
    }
    // The start time tells apart calls that share ids (old payloads without a
    // call id); a payload without one is still the same event every time.
    if let Some(start) = payload.start_time {
        key.push_str(&start.as_micros().to_string());
    }
    Uuid::new_v5(&NAMESPACE, key.as_bytes())
}

/// The trace id by precedence: header property > `traceparent` > SLP `trace_id` > derived.
pub(crate) fn trace_id(payload: &Payload, headers: &HeaderProperties, uuid: &Uuid) -> String {
    let chosen = headers
        .property(props::TRACE_ID)
        .or(headers.traceparent().map(|tp| tp.trace_id.as_str()))
        .or(non_empty(&payload.trace_id))
        .or(non_empty(&payload.litellm_call_id))
        .or(non_empty(&payload.id));
    match chosen {
        Some(id) => url_safe(id),
        None => uuid.to_string(),
    }
}

/// Whose event this is: the end user when known.
///
/// Otherwise the payload's own ids stand in (`trace_id`, then
/// `litellm_call_id`, then `id`, then the event uuid), and the caller marks
/// the event `$process_person_profile: false`. Only the payload decides: no
/// header, `requester_custom_headers` entry or `traceparent` may, or a caller
/// could file its events under someone else.
pub(crate) fn distinct_id(payload: &Payload, uuid: &Uuid) -> DistinctId {
    let end_user = non_empty(&payload.end_user).or_else(|| {
        payload
            .metadata
            .as_ref()
            .and_then(|m| non_empty(&m.user_api_key_end_user_id))
    });
    if let Some(user) = end_user {
        return DistinctId::Person(user.to_owned());
    }
    let id = non_empty(&payload.trace_id)
        .or(non_empty(&payload.litellm_call_id))
        .or(non_empty(&payload.id));
    DistinctId::Anonymous(id.map_or_else(|| uuid.to_string(), str::to_owned))
}

/// A distinct id, and whether a person stands behind it.
pub(crate) enum DistinctId {
    /// The end user: PostHog keeps a person profile.
    Person(String),
    /// One of the payload's ids: no person to profile.
    Anonymous(String),
}

pub(crate) fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// PostHog puts trace ids in URLs; keep RFC 3986 unreserved characters only.
fn url_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_safe_keeps_unreserved_characters_only() {
        assert_eq!(url_safe("abc-123_x.y~z"), "abc-123_x.y~z");
        assert_eq!(url_safe("a b/c?d#é"), "a_b_c_d__");
    }
}
