//! How events are built.

use serde_json::{Map, Value};

use super::DEFAULT_MAX_EVENT_BYTES;
use crate::headers::ProtectedProperties;

/// How events are built; `Default` is what most gateways want.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventOptions {
    /// Leave out `$ai_input` and `$ai_output_choices` entirely.
    pub privacy_mode: bool,
    /// Replace data URLs and bare base64 in content with a size marker.
    pub replace_binary: bool,
    /// Content is truncated to keep each event under this many bytes.
    pub max_event_bytes: usize,
    /// Added to every event (below computed properties in precedence).
    pub extra_properties: Map<String, Value>,
    /// PostHog groups, sent as `$groups` (e.g. `{"company": "acme"}`).
    pub groups: Map<String, Value>,
    /// What header-passed and extra properties may not override.
    pub protected: ProtectedProperties,
}

impl Default for EventOptions {
    fn default() -> Self {
        EventOptions {
            privacy_mode: false,
            replace_binary: true,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            extra_properties: Map::new(),
            groups: Map::new(),
            protected: ProtectedProperties::default(),
        }
    }
}

impl EventOptions {
    /// Sets [`EventOptions::privacy_mode`].
    pub fn privacy_mode(mut self, on: bool) -> Self {
        self.privacy_mode = on;
        self
    }
    /// Sets [`EventOptions::max_event_bytes`].
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }
    /// Adds one static property.
    pub fn extra_property(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra_properties.insert(key.into(), value.into());
        self
    }
    /// Adds one group.
    pub fn group(mut self, kind: impl Into<String>, key: impl Into<Value>) -> Self {
        self.groups.insert(kind.into(), key.into());
        self
    }
    /// Sets [`EventOptions::protected`].
    pub fn protected(mut self, protected: ProtectedProperties) -> Self {
        self.protected = protected;
        self
    }
}
