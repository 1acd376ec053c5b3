//! The PostHog event of a cache alert.
//!
//! Alerts are events beside the calls' own, so they reach PostHog the way the
//! calls do and can be charted, filtered and deduplicated like them.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{props, Content, Event};
use crate::observe::Alert;

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
}
