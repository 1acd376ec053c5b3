//! One request: the body PostHog's `/batch/` expects, gzip, and the answer.
//!
//! The body is assembled from events serialized once ahead of time, with a
//! fresh `sent_at` per attempt: PostHog corrects client clock skew with
//! `sent_at`, so a retried body must not carry the first attempt's time.

use std::io::Write;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};

use super::batcher::Prepared;
use super::config::Config;
use super::secret::ApiKey;

const BODY_START: &str = "{\"api_key\":";
const BATCH_START: &str = ",\"batch\":[";
const SENT_AT_START: &str = "],\"sent_at\":\"";
const BODY_END: &str = "\"}";
/// `2026-11-23T14:53:17.123Z`: RFC 3339, milliseconds, always this long.
const SENT_AT_LEN: usize = 24;
/// How much of an error response is kept as the server's message.
const MESSAGE_BYTES: usize = 1024;

/// Bytes of a body that are not events, for a given key.
pub(crate) fn envelope_overhead(key: &ApiKey) -> usize {
    BODY_START.len()
        + json_string(key.expose()).len()
        + BATCH_START.len()
        + SENT_AT_START.len()
        + SENT_AT_LEN
        + BODY_END.len()
}

fn json_string(s: &str) -> String {
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
fn gzip(json: &[u8]) -> std::io::Result<Vec<u8>> {
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

/// How an attempt ended.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The server answered. `message` is the start of the body for non-2xx.
    Status {
        code: u16,
        retry_after: Option<String>,
        message: String,
    },
    Timeout(String),
    Network(String),
    Unsendable(String),
}

#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    gzip: bool,
    timeout: Duration,
    key: ApiKey,
    key_json: String,
}

impl Transport {
    pub fn new(config: &Config) -> Self {
        Transport {
            client: config.client.clone(),
            url: config.url.clone(),
            headers: config.headers.clone(),
            gzip: config.gzip,
            timeout: config.request_timeout,
            key: config.api_key.clone(),
            key_json: json_string(config.api_key.expose()),
        }
    }

    pub fn body(&self, events: &[Prepared], now: SystemTime) -> Body {
        let json = encode_body(&self.key_json, events, &sent_at(now));
        let json_len = json.len();
        if self.gzip {
            // Writing to a Vec cannot fail; if it somehow did, plain JSON still works.
            if let Ok(bytes) = gzip(&json) {
                return Body {
                    bytes,
                    json_len,
                    gzipped: true,
                };
            }
        }
        Body {
            bytes: json,
            json_len,
            gzipped: false,
        }
    }

    pub async fn post(&self, body: Body) -> Answer {
        let mut request = self
            .client
            .post(self.url.clone())
            .timeout(self.timeout)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if body.gzipped {
            request = request.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let response = match request.body(body.bytes).send().await {
            Ok(response) => response,
            Err(e) => return self.failure(&e),
        };
        let code = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Read (a bounded part of) the body so the connection can be reused,
        // and keep it as the server's message when it is an error.
        let message = read_capped(response, MESSAGE_BYTES).await;
        let message = if (200..300).contains(&code) {
            String::new()
        } else {
            self.key.redact(message.trim())
        };
        Answer::Status {
            code,
            retry_after,
            message,
        }
    }

    fn failure(&self, e: &reqwest::Error) -> Answer {
        // reqwest's message names the URL, never the body, but redact anyway.
        let text = self.key.redact(&error_chain(e));
        if e.is_timeout() {
            Answer::Timeout(text)
        } else if e.is_builder() || e.is_redirect() {
            Answer::Unsendable(text)
        } else {
            Answer::Network(text)
        }
    }
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> String {
    let mut kept = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = cap.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if kept.len() >= cap {
            break;
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// `error sending request: connection refused`: reqwest's top-level message
/// alone rarely says what went wrong.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn prepared(json: &str) -> Prepared {
        Prepared {
            uuid: Uuid::nil(),
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
