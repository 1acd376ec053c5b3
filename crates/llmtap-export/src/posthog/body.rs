//! The body PostHog's `/batch/` expects, and gzip.
//!
//! The body is assembled from events serialized once ahead of time, with a
//! fresh `sent_at` per attempt: PostHog corrects client clock skew with
//! `sent_at`, so a retried body must not carry the first attempt's time.

use std::io::Write;
use std::time::SystemTime;

use super::secret::ApiKey;
use crate::batcher::Weighed;
use chrono::{DateTime, SecondsFormat, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;

const BODY_START: &str = "{\"api_key\":";
const BATCH_START: &str = ",\"batch\":[";
const SENT_AT_START: &str = "],\"sent_at\":\"";
const BODY_END: &str = "\"}";
/// `2026-11-23T14:53:17.123Z`: RFC 3339, milliseconds, always this long.
const SENT_AT_LEN: usize = 24;

/// An event ready for the wire: serialized once, so size checks, batching and
/// retries never serialize it again. PostHog's [`Exporter::Item`](crate::Exporter::Item).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub(crate) json: Vec<u8>,
}

impl Weighed for Prepared {
    fn bytes(&self) -> usize {
        self.json.len()
    }
}

/// Bytes of a body that are not events, for a given key.
pub(crate) fn envelope_overhead(key: &ApiKey) -> usize {
    BODY_START.len()
        + json_string(key.expose()).len()
        + BATCH_START.len()
        + SENT_AT_START.len()
        + SENT_AT_LEN
        + BODY_END.len()
}

pub(crate) fn json_string(s: &str) -> String {
    // Serializing a &str cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

pub(crate) fn sent_at(now: SystemTime) -> String {
    DateTime::<Utc>::from(now).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The JSON body for `events`.
pub(crate) fn encode_body(key_json: &str, events: &[Prepared], sent_at: &str) -> Vec<u8> {
    let payload: usize = events.iter().map(|e| e.json.len() + 1).sum();
    let mut body = Vec::with_capacity(payload + key_json.len() + 64);
    body.extend_from_slice(BODY_START.as_bytes());
    body.extend_from_slice(key_json.as_bytes());
    body.extend_from_slice(BATCH_START.as_bytes());
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&event.json);
    }
    body.extend_from_slice(SENT_AT_START.as_bytes());
    body.extend_from_slice(sent_at.as_bytes());
    body.extend_from_slice(BODY_END.as_bytes());
    body
}

/// Level 1 on the zlib-rs backend: level 6 on miniz_oxide was two thirds of
/// the exporter's CPU (BENCHMARKS.md); level 1 is 13x cheaper for bodies
/// about twice as large, still a fraction of the JSON.
pub(crate) fn gzip(json: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
    encoder.write_all(json)?;
    encoder.finish()
}

/// A body ready to send.
#[derive(Debug)]
pub(crate) struct Body {
    pub bytes: Vec<u8>,
    pub json_len: usize,
    pub gzipped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn prepared(json: &str) -> Prepared {
        Prepared {
            json: json.as_bytes().to_vec(),
        }
    }

    #[test]
    fn sent_at_has_a_fixed_length() {
        for secs in [0, 1_795_392_000, 4_102_444_799] {
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(sent_at(t).len(), SENT_AT_LEN, "{}", sent_at(t));
        }
        assert_eq!(
            sent_at(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_392_000_123)),
            "2026-11-23T00:00:00.123Z"
        );
    }

    #[test]
    fn body_size_is_overhead_plus_events_and_commas() {
        let key = ApiKey::new("phc_\"quoted\"");
        let events = [prepared(r#"{"a":1}"#), prepared(r#"{"b":"two"}"#)];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_392_000);
        let body = encode_body(&json_string(key.expose()), &events, &sent_at(now));
        assert_eq!(body.len(), envelope_overhead(&key) + 7 + 1 + 11);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["api_key"], "phc_\"quoted\"");
        assert_eq!(value["batch"][1]["b"], "two");
        assert_eq!(value["sent_at"], "2026-11-23T00:00:00.000Z");

        let empty = encode_body(&json_string(key.expose()), &[], &sent_at(now));
        assert_eq!(empty.len(), envelope_overhead(&key));
    }
}
