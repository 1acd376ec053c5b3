//! [`PostHog`]: the [`Exporter`] for the capture API. One request per
//! attempt, and what its answer means for each event of the batch.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};

use super::body::{self, Body, Prepared};
use super::secret::ApiKey;
use super::status::{classify, Attempt, Decision};
use super::validate::validate;
use crate::exporter::{Answer, Exporter, Outcome};
use llmtap::{DropReason, Event};

/// How much of an error response is kept as the server's message.
const MESSAGE_BYTES: usize = 1024;

/// PostHog's capture API (`POST {host}/batch/`) as an [`Exporter`]. Built by
/// [`CaptureBuilder`](crate::CaptureBuilder); [`CaptureClient`](crate::CaptureClient)
/// is the client that drives it.
pub struct PostHog {
    pub(crate) client: reqwest::Client,
    pub(crate) url: reqwest::Url,
    pub(crate) headers: HeaderMap,
    pub(crate) gzip: bool,
    pub(crate) timeout: Duration,
    pub(crate) key: ApiKey,
    /// The key as a JSON string, written into every body.
    key_json: String,
}

/// How one request ended, before it means anything for the events.
#[derive(Debug)]
enum Reply {
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

impl PostHog {
    pub(crate) fn new(
        client: reqwest::Client,
        url: reqwest::Url,
        headers: HeaderMap,
        gzip: bool,
        timeout: Duration,
        key: ApiKey,
    ) -> Self {
        let key_json = body::json_string(key.expose());
        PostHog {
            client,
            url,
            headers,
            gzip,
            timeout,
            key,
            key_json,
        }
    }

    fn body(&self, events: &[Prepared], now: SystemTime) -> Body {
        let json = body::encode_body(&self.key_json, events, &body::sent_at(now));
        let json_len = json.len();
        if self.gzip {
            // Writing to a Vec cannot fail; if it somehow did, plain JSON still works.
            if let Ok(bytes) = body::gzip(&json) {
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

    async fn post(&self, body: Body) -> Reply {
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
        Reply::Status {
            code,
            retry_after,
            message,
        }
    }

    fn failure(&self, e: &reqwest::Error) -> Reply {
        // reqwest's message names the URL, never the body, but redact anyway.
        let text = self.key.redact(&error_chain(e));
        if e.is_timeout() {
            Reply::Timeout(text)
        } else if e.is_builder() || e.is_redirect() {
            Reply::Unsendable(text)
        } else {
            Reply::Network(text)
        }
    }
}

/// What a reply means for every event of its batch of `events`: the capture
/// API takes or refuses a batch as a whole. A 413 splits the batch rather
/// than refusing it (the worker drops an event that draws a 413 alone), and
/// so does a 400 for two or more events: the server 400s a whole batch for
/// one invalid event, and halving isolates it, so it alone is dropped (a
/// 400 for one event). Every other failure goes through [`classify`].
fn answer(reply: Reply, now: SystemTime, events: usize) -> Answer {
    let (attempt, status, detail) = match &reply {
        Reply::Status { code, .. } if (200..300).contains(code) => {
            return Answer::all(Outcome::Delivered).with_status(*code);
        }
        Reply::Status {
            code: code @ (400 | 413),
            message,
            ..
        } if *code == 413 || events > 1 => {
            return Answer::all(Outcome::Split)
                .with_status(*code)
                .with_detail(message.as_str());
        }
        Reply::Status {
            code,
            retry_after,
            message,
        } => (
            Attempt::Status {
                code: *code,
                retry_after: retry_after.as_deref(),
            },
            Some(*code),
            message,
        ),
        Reply::Timeout(e) => (Attempt::Timeout, None, e),
        Reply::Network(e) => (Attempt::Network, None, e),
        Reply::Unsendable(e) => (Attempt::Unsendable, None, e),
    };
    let outcome = match classify(attempt, now) {
        Decision::Retry => Outcome::RetryAfter(None),
        Decision::Throttled(wait) => Outcome::RetryAfter(Some(wait)),
        Decision::Fatal => Outcome::Dropped(DropReason::Rejected),
    };
    let answer = Answer::all(outcome).with_detail(detail.as_str());
    match status {
        Some(code) => answer.with_status(code),
        None => answer,
    }
}

#[async_trait]
impl Exporter for PostHog {
    type Item = Prepared;

    fn name(&self) -> &'static str {
        "posthog"
    }

    /// One invalid event makes the server answer 400 for its whole batch.
    fn validate(&self, event: &Event) -> Result<(), &'static str> {
        validate(event)
    }

    fn encode(&self, event: &Event) -> Result<Prepared, DropReason> {
        let json = serde_json::to_vec(event).map_err(|_| DropReason::Invalid)?;
        Ok(Prepared { json })
    }

    fn batch_overhead(&self) -> usize {
        body::envelope_overhead(&self.key)
    }

    async fn export(&self, batch: &[Prepared]) -> Answer {
        let body = self.body(batch, SystemTime::now());
        let (json_len, wire_len) = (body.json_len, body.bytes.len());
        let reply = self.post(body).await;
        answer(reply, SystemTime::now(), batch.len()).with_bytes(json_len, wire_len)
    }
}

/// Never the key (nor the JSON copy of it), nor header values, nor a URL's
/// password.
impl fmt::Debug for PostHog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostHog")
            .field("url", &printable(&self.url))
            .field("api_key", &self.key)
            .field("gzip", &self.gzip)
            .field("request_timeout", &self.timeout)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The URL without any password, for `Debug`.
fn printable(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("**REDACTED**"));
    }
    url.to_string()
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

    fn status(code: u16, retry_after: Option<&str>) -> Reply {
        Reply::Status {
            code,
            retry_after: retry_after.map(str::to_owned),
            message: format!("status {code}"),
        }
    }

    fn outcome(reply: Reply) -> Outcome {
        answer(reply, SystemTime::UNIX_EPOCH, 1).outcome(0)
    }

    #[test]
    fn replies_become_outcomes_for_the_whole_batch() {
        assert_eq!(outcome(status(200, None)), Outcome::Delivered);
        assert_eq!(outcome(status(413, None)), Outcome::Split);
        assert_eq!(outcome(status(500, None)), Outcome::RetryAfter(None));
        assert_eq!(
            outcome(status(429, Some("30"))),
            Outcome::RetryAfter(Some(Duration::from_secs(30)))
        );
        assert_eq!(
            outcome(status(401, None)),
            Outcome::Dropped(DropReason::Rejected)
        );
        assert_eq!(
            outcome(Reply::Timeout("t".into())),
            Outcome::RetryAfter(None)
        );
        assert_eq!(
            outcome(Reply::Network("n".into())),
            Outcome::RetryAfter(None)
        );
        assert_eq!(
            outcome(Reply::Unsendable("u".into())),
            Outcome::Dropped(DropReason::Rejected)
        );
        // The status and message travel with the answer, for `last_rejection`.
        let a = answer(status(400, None), SystemTime::UNIX_EPOCH, 1);
        assert_eq!((a.status, a.detail.as_str()), (Some(400), "status 400"));
    }

    #[test]
    fn a_400_splits_a_batch_and_drops_a_single_event() {
        let at = SystemTime::UNIX_EPOCH;
        assert_eq!(
            answer(status(400, None), at, 1).outcome(0),
            Outcome::Dropped(DropReason::Rejected)
        );
        let a = answer(status(400, None), at, 2);
        assert_eq!(a.outcome(0), Outcome::Split);
        assert_eq!((a.status, a.detail.as_str()), (Some(400), "status 400"));
        // A 413 splits whatever the size (the worker drops a single event);
        // other refusals never split.
        assert_eq!(answer(status(413, None), at, 1).outcome(0), Outcome::Split);
        assert_eq!(
            answer(status(401, None), at, 50).outcome(0),
            Outcome::Dropped(DropReason::Rejected)
        );
    }
}
