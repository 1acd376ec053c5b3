//! How events are built.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{props, DEFAULT_MAX_EVENT_BYTES};

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

/// Property names that header-passed (and static extra) properties may not override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedProperties(BTreeSet<String>);

impl Default for ProtectedProperties {
    /// Token counts, costs, `$ai_cache_reporting_exclusive` and the event's identity.
    fn default() -> Self {
        ProtectedProperties(
            props::PROTECTED_BY_DEFAULT
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        )
    }
}

impl ProtectedProperties {
    /// Nothing protected: headers may override any computed property.
    pub fn none() -> Self {
        ProtectedProperties(BTreeSet::new())
    }

    /// Exactly these names.
    pub fn only<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        ProtectedProperties(names.into_iter().map(Into::into).collect())
    }

    /// Adds a name.
    pub fn protect(mut self, name: impl Into<String>) -> Self {
        self.0.insert(name.into());
        self
    }

    /// Removes a name.
    pub fn allow(mut self, name: &str) -> Self {
        self.0.remove(name);
        self
    }

    /// Whether `name` is protected.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_is_configurable() {
        let p = ProtectedProperties::default();
        assert!(p.contains("$ai_input_tokens"));
        assert!(!p.contains("team"));
        assert!(!p
            .clone()
            .allow("$ai_input_tokens")
            .contains("$ai_input_tokens"));
        assert!(ProtectedProperties::none().protect("team").contains("team"));
    }
}
