//! Properties passed in HTTP headers: `x-posthog-property-<key>` and `x-posthog-flag-<key>`.
//!
//! They come from the caller's own headers (a gateway's request, or the static
//! headers LiteLLM's generic logger sends) and from each SLP's
//! `metadata.requester_custom_headers` (the client's per-request headers).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::event::props;
use crate::payload::Payload;

const PROPERTY_PREFIX: &str = "x-posthog-property-";
const FLAG_PREFIX: &str = "x-posthog-flag-";
const TRACEPARENT: &str = "traceparent";

/// Properties and trace context requested through headers, in the order given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderProperties {
    properties: Vec<(String, Value)>,
    traceparent: Option<TraceParent>,
}

/// The parts of a W3C `traceparent` header llmtap uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits: the caller's span, our parent.
    pub parent_id: String,
}

impl TraceParent {
    /// Parses `00-<trace>-<parent>-<flags>`; all-zero ids are invalid per the spec.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let mut parts = value.trim().split('-');
        let (_version, trace, parent, _flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes().all(|b| b.is_ascii_hexdigit())
                && s.bytes().any(|b| b != b'0')
        };
        (hex(trace, 32) && hex(parent, 16)).then(|| TraceParent {
            trace_id: trace.to_ascii_lowercase(),
            parent_id: parent.to_ascii_lowercase(),
        })
    }
}

impl HeaderProperties {
    /// Reads header name/value pairs; names are case-insensitive, other headers are ignored.
    pub fn from_pairs<K, V, I>(pairs: I) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut out = HeaderProperties::default();
        for (name, value) in pairs {
            out.push(name.as_ref(), value.as_ref());
        }
        out
    }

    /// The client's per-request headers that LiteLLM's proxy put in the SLP.
    pub fn from_payload(payload: &Payload) -> Self {
        let mut out = HeaderProperties::default();
        let headers = payload
            .metadata
            .as_ref()
            .and_then(|m| m.requester_custom_headers.as_ref());
        for (name, value) in headers.into_iter().flatten() {
            if let Some(value) = value.as_str() {
                out.push(name, value);
            }
        }
        out
    }

    /// `self` overlaid with `later`: later properties win, as does a later traceparent.
    pub fn merged(mut self, later: &HeaderProperties) -> Self {
        self.properties.extend(later.properties.iter().cloned());
        if later.traceparent.is_some() {
            self.traceparent.clone_from(&later.traceparent);
        }
        self
    }

    /// The requested properties in order (a later duplicate overrides an earlier one).
    pub fn properties(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.properties.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The W3C trace context, if a valid `traceparent` header was given.
    pub fn traceparent(&self) -> Option<&TraceParent> {
        self.traceparent.as_ref()
    }

    /// True when no header asked for anything.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty() && self.traceparent.is_none()
    }

    fn push(&mut self, name: &str, value: &str) {
        if name.eq_ignore_ascii_case(TRACEPARENT) {
            if let Some(tp) = TraceParent::parse(value) {
                self.traceparent = Some(tp);
            }
        } else if let Some(key) = property_key(name) {
            self.properties.push((key, Value::String(value.to_owned())));
        }
    }
}

/// Whether llmtap reads this header at all (properties, flags, trace context).
pub fn is_wanted(header: &str) -> bool {
    header.eq_ignore_ascii_case(TRACEPARENT) || property_key(header).is_some()
}

/// The property a header sets, if it is one of ours.
pub fn property_key(header: &str) -> Option<String> {
    let strip = |prefix: &str| {
        header
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .map(|_| header[prefix.len()..].to_ascii_lowercase())
            .filter(|k| !k.is_empty())
    };
    strip(PROPERTY_PREFIX)
        .or_else(|| strip(FLAG_PREFIX).map(|k| format!("{}{k}", props::FEATURE_PREFIX)))
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
    fn property_and_flag_headers_map_case_insensitively() {
        let h = HeaderProperties::from_pairs([
            ("X-PostHog-Property-Team", "search"),
            ("x-posthog-flag-New-Prompt", "variant-b"),
            ("authorization", "Bearer sk-secret"),
            ("x-posthog-property-", "empty key is ignored"),
        ]);
        let got: Vec<_> = h
            .properties()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("team".to_owned(), Value::from("search")),
                ("$feature/new-prompt".to_owned(), Value::from("variant-b")),
            ]
        );
    }

    #[test]
    fn only_our_headers_are_wanted() {
        assert!(is_wanted("X-PostHog-Property-team"));
        assert!(is_wanted("x-posthog-flag-beta"));
        assert!(is_wanted("TraceParent"));
        assert!(!is_wanted("x-api-key"));
        assert!(!is_wanted("authorization"));
    }

    #[test]
    fn traceparent_is_parsed_and_validated() {
        let tp =
            TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id, "00f067aa0ba902b7");
        assert!(
            TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
        assert!(TraceParent::parse("garbage").is_none());
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let static_h = HeaderProperties::from_pairs([("x-posthog-property-env", "prod")]);
        let request = HeaderProperties::from_pairs([("x-posthog-property-env", "staging")]);
        let merged = static_h.merged(&request);
        assert_eq!(
            merged.properties().last().unwrap().1,
            &Value::from("staging")
        );
    }

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
