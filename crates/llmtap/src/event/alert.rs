//! The PostHog event of a cache alert.
//!
//! Alerts are events beside the calls' own, so they reach PostHog the way the
//! calls do and can be charted, filtered and deduplicated like them.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{props, Content, Event};
use crate::observe::{Alert, AlertKind, PrefixId};
use crate::payload::Timestamp;

/// Namespace of alert uuids, apart from the calls' (`identity.rs`): an
/// alert is keyed by its rule and subject, not by a payload.
const ALERT_NAMESPACE: Uuid = Uuid::from_u128(0x6c6c_6d74_6170_4c00_8000_0000_0000_0002);

impl Alert {
    /// The `llmtap_cache_alert` event: filed under the prefix id (else the
    /// model), with no person profile, and a uuid derived from the kind, the
    /// subject and the payload time it fired at, so a replayed file raises
    /// the same events and PostHog keeps one of each.
    pub fn to_event(&self) -> Event {
        let prefix = self.prefix_id.map(|id| id.to_string());
        let mut p = Map::new();
        let mut set = |k: &str, v: Value| {
            p.insert(k.to_owned(), v);
        };
        set(props::ALERT_KIND, self.kind.as_str().into());
        if let Some(id) = &prefix {
            set(props::CACHE_PREFIX_ID, id.as_str().into());
        }
        set(props::MODEL, self.model.as_str().into());
        if !self.provider.is_empty() {
            set(props::PROVIDER, self.provider.as_str().into());
        }
        if let Some(r) = self.hit_ratio {
            set(props::ALERT_HIT_RATIO, r.into());
        }
        if let Some(r) = self.previous_hit_ratio {
            set(props::ALERT_PREVIOUS_HIT_RATIO, r.into());
        }
        set(props::ALERT_CALLS, self.calls.into());
        if let Some(s) = self.window_seconds {
            set(props::ALERT_WINDOW_SECONDS, s.into());
        }
        set(props::PROCESS_PERSON_PROFILE, false.into());
        set(props::LIB, "llmtap".into());
        set(props::LIB_VERSION, env!("CARGO_PKG_VERSION").into());

        let mut key = String::with_capacity(96);
        for part in [
            props::CACHE_ALERT,
            self.kind.as_str(),
            &self.provider,
            &self.model,
            prefix.as_deref().unwrap_or(""),
        ] {
            key.push_str(part);
            key.push('\u{1f}');
        }
        key.push_str(&self.at.as_micros().to_string());
        Event {
            event: props::CACHE_ALERT.to_owned(),
            distinct_id: prefix.unwrap_or_else(|| self.model.clone()),
            properties: p,
            content: Content::default(),
            timestamp: Some(self.at),
            uuid: Uuid::new_v5(&ALERT_NAMESPACE, key.as_bytes()),
            usage: None,
        }
    }

    /// The alert an `llmtap_cache_alert` event was made from, for an event
    /// read back from storage (the PostgreSQL report); `None` for any other
    /// event. It is [`Alert::to_event`] undone, so its `Display` is the line
    /// the alert printed when it fired.
    pub fn from_event(event: &Event) -> Option<Alert> {
        if event.event != props::CACHE_ALERT {
            return None;
        }
        let p = &event.properties;
        let text = |k: &str| p.get(k).and_then(Value::as_str);
        let ratio = |k: &str| p.get(k).and_then(Value::as_f64);
        let kind = text(props::ALERT_KIND)?;
        Some(Alert {
            kind: AlertKind::ALL.into_iter().find(|k| k.as_str() == kind)?,
            prefix_id: text(props::CACHE_PREFIX_ID).and_then(PrefixId::from_hex),
            provider: text(props::PROVIDER).unwrap_or_default().to_owned(),
            model: text(props::MODEL).unwrap_or_default().to_owned(),
            hit_ratio: ratio(props::ALERT_HIT_RATIO),
            previous_hit_ratio: ratio(props::ALERT_PREVIOUS_HIT_RATIO),
            calls: p
                .get(props::ALERT_CALLS)
                .and_then(Value::as_u64)
                .unwrap_or(0),
            window_seconds: ratio(props::ALERT_WINDOW_SECONDS),
            at: event.timestamp.unwrap_or(Timestamp::from_micros(0)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_reads_back_from_its_event() {
        let alert = Alert {
            kind: AlertKind::HitRatioDrop,
            prefix_id: PrefixId::from_hex("00000000000000ff"),
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            hit_ratio: Some(0.25),
            previous_hit_ratio: Some(0.9),
            calls: 20,
            window_seconds: Some(61.5),
            at: Timestamp::from_micros(1_750_000_000_000_000),
        };
        let mut event = alert.to_event();
        assert_eq!(Alert::from_event(&event), Some(alert.clone()));
        event.event = props::AI_GENERATION.into();
        assert_eq!(Alert::from_event(&event), None);
    }
}
