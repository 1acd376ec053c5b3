//! Properties passed in HTTP headers: `x-posthog-property-<key>` and
//! `x-posthog-flag-<key>`, and the W3C `traceparent`.
//!
//! A leaf: header syntax only. It knows neither payloads (the pipeline hands
//! it the SLP's `metadata.requester_custom_headers` as plain pairs) nor event
//! property names (the event builder decides what a flag is called).

const PROPERTY_PREFIX: &str = "x-posthog-property-";
const FLAG_PREFIX: &str = "x-posthog-flag-";
const TRACEPARENT: &str = "traceparent";

/// Properties and trace context requested through headers, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderProperties {
    properties: Vec<HeaderProperty>,
    traceparent: Option<TraceParent>,
}

/// What one `x-posthog-*` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderProperty {
    /// A plain property or a feature flag.
    pub kind: HeaderKind,
    /// The header name after its prefix, lowercased (`team` for `X-PostHog-Property-Team`).
    pub key: String,
    /// The header's value.
    pub value: String,
}

/// The two kinds of property header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    /// `x-posthog-property-<key>`.
    Property,
    /// `x-posthog-flag-<key>`.
    Flag,
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

    /// `self` overlaid with `later`: later properties win, as does a later traceparent.
    pub fn merged(mut self, later: &HeaderProperties) -> Self {
        self.properties.extend(later.properties.iter().cloned());
        if later.traceparent.is_some() {
            self.traceparent.clone_from(&later.traceparent);
        }
        self
    }

    /// The requested properties in order (a later duplicate overrides an earlier one).
    pub fn properties(&self) -> impl Iterator<Item = &HeaderProperty> {
        self.properties.iter()
    }

    /// The value of the last plain property header with this key.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|p| p.kind == HeaderKind::Property && p.key == key)
            .map(|p| p.value.as_str())
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
        } else if let Some((kind, key)) = classify(name) {
            self.properties.push(HeaderProperty {
                kind,
                key,
                value: value.to_owned(),
            });
        }
    }
}

/// Whether llmtap reads this header at all (properties, flags, trace context).
pub(crate) fn is_wanted(header: &str) -> bool {
    header.eq_ignore_ascii_case(TRACEPARENT) || classify(header).is_some()
}

/// The kind and key of a property header, if it is one of ours.
fn classify(header: &str) -> Option<(HeaderKind, String)> {
    let strip = |prefix: &str| {
        header
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .map(|_| header[prefix.len()..].to_ascii_lowercase())
            .filter(|k| !k.is_empty())
    };
    strip(PROPERTY_PREFIX)
        .map(|k| (HeaderKind::Property, k))
        .or_else(|| strip(FLAG_PREFIX).map(|k| (HeaderKind::Flag, k)))
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
            .map(|p| (p.kind, p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (HeaderKind::Property, "team", "search"),
                (HeaderKind::Flag, "new-prompt", "variant-b"),
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
        assert_eq!(merged.property("env"), Some("staging"));
    }
}
