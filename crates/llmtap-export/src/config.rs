//! Settings, their defaults, and the checks that turn them into a running client.
//!
//! Everything is validated in [`CaptureBuilder::build`] so that a bad setting
//! fails at startup with a typed error, not at the first flush.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::batcher::Limits;
use super::clock::{Clock, SystemClock};
pub use super::error::ConfigError;
use super::retry::RetryPolicy;
pub use super::secret::ApiKey;
use super::transport;
use super::CaptureClient;
use llmtap::event::DEFAULT_MAX_EVENT_BYTES;

/// PostHog US cloud.
pub const DEFAULT_HOST: &str = "https://us.i.posthog.com";
/// Environment variable read for the project API key.
pub const ENV_API_KEY: &str = "POSTHOG_API_KEY";
/// Environment variable read for the host.
pub const ENV_HOST: &str = "POSTHOG_HOST";
/// Events the queue holds before [`FullPolicy`] applies.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Default bound of the queue in bytes of event JSON (estimated): with prompts
/// in the events, 10 000 of them can otherwise take hundreds of MiB, and
/// events of up to `max_event_bytes` each far more.
pub const DEFAULT_QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// Events per batch.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// JSON bytes per request body before compression. PostHog's SDKs stay
/// under ~5 MiB; the server takes 20 MiB.
pub const DEFAULT_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// The largest `batch_bytes` accepted: PostHog's `/batch/` limit.
pub const MAX_BATCH_BYTES: usize = 20 * 1024 * 1024;
/// How long a partial batch may wait for more events.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Per-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Backoff ceiling of the first retry.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// Backoff ceiling cap.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Total time one batch may spend retrying before it is dropped.
pub const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(60);

/// What `capture` does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPolicy {
    /// Wait up to this long for room, then drop with reason `queue_full`.
    /// Blocks the calling thread: only for callers that prefer backpressure
    /// to loss.
    Block(Duration),
    /// Drop the new event at once (reason `queue_full`). The default: the hot
    /// path never waits.
    DropNewest,
}

impl FullPolicy {
    pub(crate) fn wait(self) -> Duration {
        match self {
            FullPolicy::Block(d) => d,
            FullPolicy::DropNewest => Duration::ZERO,
        }
    }
}

/// Settings for a [`CaptureClient`]; every setting has a default.
///
/// [`CaptureClient::builder`] starts from the environment
/// (`POSTHOG_API_KEY`, `POSTHOG_HOST`); anything set in code wins.
#[derive(Clone)]
pub struct CaptureBuilder {
    api_key: Option<ApiKey>,
    host: String,
    queue_capacity: usize,
    queue_bytes: usize,
    when_full: FullPolicy,
    batch_size: usize,
    batch_bytes: usize,
    flush_interval: Duration,
    max_event_bytes: usize,
    gzip: bool,
    request_timeout: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    retry_deadline: Duration,
    http_client: Option<reqwest::Client>,
    headers: Vec<(String, String)>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for CaptureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("CaptureBuilder")
            .field("api_key", &self.api_key)
            .field("host", &self.host)
            .field("queue_capacity", &self.queue_capacity)
            .field("queue_bytes", &self.queue_bytes)
            .field("when_full", &self.when_full)
            .field("batch_size", &self.batch_size)
            .field("batch_bytes", &self.batch_bytes)
            .field("flush_interval", &self.flush_interval)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("gzip", &self.gzip)
            .field("request_timeout", &self.request_timeout)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("retry_deadline", &self.retry_deadline)
            .field("custom_http_client", &self.http_client.is_some())
            .field("headers", &header_names)
            .field("clock", &self.clock)
            .finish()
    }
}

impl Default for CaptureBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl CaptureBuilder {
    /// Defaults only; the environment is not read.
    pub fn new() -> Self {
        CaptureBuilder {
            api_key: None,
            host: DEFAULT_HOST.to_owned(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            when_full: FullPolicy::DropNewest,
            batch_size: DEFAULT_BATCH_SIZE,
            batch_bytes: DEFAULT_BATCH_BYTES,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            gzip: true,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            retry_deadline: DEFAULT_RETRY_DEADLINE,
            http_client: None,
            headers: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Defaults, then `POSTHOG_API_KEY` and `POSTHOG_HOST` when set and non-empty.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`CaptureBuilder::from_env`] with any variable source: tests stay
    /// away from the process environment, which other threads share.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut builder = Self::new();
        let read = |name| lookup(name).filter(|v: &String| !v.trim().is_empty());
        if let Some(key) = read(ENV_API_KEY) {
            builder.api_key = Some(ApiKey::new(key.trim()));
        }
        if let Some(host) = read(ENV_HOST) {
            builder.host = host.trim().to_owned();
        }
        builder
    }

    /// The project API key (`phc_...`).
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Where `/batch/` lives, e.g. `https://eu.i.posthog.com` or a proxy
    /// with a path prefix. Default [`DEFAULT_HOST`].
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Events the queue holds. Default [`DEFAULT_QUEUE_CAPACITY`].
    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.queue_capacity = events;
        self
    }

    /// Bytes of event JSON the queue holds, estimated as events are queued;
    /// the queue is full at whichever of this and `queue_capacity` comes
    /// first. Default [`DEFAULT_QUEUE_BYTES`]; at least `max_event_bytes`.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// What `capture` does when the queue is full. Default [`FullPolicy::DropNewest`].
    pub fn when_full(mut self, policy: FullPolicy) -> Self {
        self.when_full = policy;
        self
    }

    /// Events per batch. Default [`DEFAULT_BATCH_SIZE`].
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch_size = events;
        self
    }

    /// Request body bytes (JSON, before compression). Default [`DEFAULT_BATCH_BYTES`].
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes;
        self
    }

    /// Longest wait before a partial batch is sent. Default [`DEFAULT_FLUSH_INTERVAL`].
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Larger events are shrunk with [`Event::fit_within`](crate::Event::fit_within),
    /// or dropped (`oversized`). Default [`DEFAULT_MAX_EVENT_BYTES`].
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// Compress bodies with gzip (`Content-Encoding: gzip`). Default on.
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// Per-request timeout. Default [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Backoff ceiling of the first retry. Default [`DEFAULT_INITIAL_BACKOFF`].
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Backoff ceiling cap. Default [`DEFAULT_MAX_BACKOFF`].
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Total retry time per batch before it is dropped (`retries_exhausted`).
    /// Default [`DEFAULT_RETRY_DEADLINE`].
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.retry_deadline = deadline;
        self
    }

    /// Sends with this client (proxies, custom TLS roots). The request
    /// timeout above is still applied per request.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Adds a header to every request (e.g. for an authenticating proxy).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the time source for retry backoff and deadlines; see [`Clock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks every setting and starts the worker thread.
    pub fn build(self) -> Result<CaptureClient, ConfigError> {
        CaptureClient::start(self.validate()?)
    }

    pub(crate) fn validate(self) -> Result<Config, ConfigError> {
        let api_key = self
            .api_key
            .filter(|k| !k.expose().trim().is_empty())
            .ok_or(ConfigError::MissingApiKey)?;
        let url = batch_url(&self.host).map_err(|reason| ConfigError::InvalidHost {
            host: api_key.redact(&self.host),
            reason,
        })?;
        at_least_one("queue_capacity", self.queue_capacity)?;
        at_least_one("batch_size", self.batch_size)?;
        at_least_one("max_event_bytes", self.max_event_bytes)?;
        if self.queue_bytes < self.max_event_bytes {
            return Err(invalid(
                "queue_bytes",
                "must hold at least one event of max_event_bytes",
            ));
        }
        non_zero("flush_interval", self.flush_interval)?;
        non_zero("request_timeout", self.request_timeout)?;
        non_zero("initial_backoff", self.initial_backoff)?;
        non_zero("retry_deadline", self.retry_deadline)?;
        if self.max_backoff < self.initial_backoff {
            return Err(invalid("max_backoff", "must not be below initial_backoff"));
        }
        let overhead = transport::envelope_overhead(&api_key);
        if self.batch_bytes > MAX_BATCH_BYTES {
            return Err(invalid(
                "batch_bytes",
                format!(
                    "{} is over the capture API's {MAX_BATCH_BYTES}",
                    self.batch_bytes
                ),
            ));
        }
        if self.batch_bytes < overhead.saturating_add(self.max_event_bytes) {
            return Err(invalid(
                "batch_bytes",
                format!(
                    "{} cannot hold one event of max_event_bytes ({}) plus the {overhead}-byte envelope",
                    self.batch_bytes, self.max_event_bytes
                ),
            ));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let invalid = || ConfigError::InvalidHeader { name: name.clone() };
            let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let mut header_value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            // Keeps the value out of reqwest's Debug output.
            header_value.set_sensitive(true);
            headers.append(header_name, header_value);
        }
        let client = match self.http_client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .user_agent(concat!("llmtap/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| ConfigError::HttpClient(e.to_string()))?,
        };
        Ok(Config {
            api_key,
            url,
            queue_capacity: self.queue_capacity,
            queue_bytes: self.queue_bytes,
            when_full: self.when_full,
            limits: Limits {
                max_events: self.batch_size,
                max_bytes: self.batch_bytes,
                overhead,
            },
            flush_interval: self.flush_interval,
            max_event_bytes: self.max_event_bytes,
            gzip: self.gzip,
            request_timeout: self.request_timeout,
            retry: RetryPolicy {
                initial: self.initial_backoff,
                max: self.max_backoff,
                deadline: self.retry_deadline,
            },
            client,
            headers,
            clock: self.clock,
        })
    }
}

/// A validated configuration.
#[derive(Debug)]
pub(crate) struct Config {
    pub api_key: ApiKey,
    pub url: reqwest::Url,
    pub queue_capacity: usize,
    pub queue_bytes: usize,
    pub when_full: FullPolicy,
    pub limits: Limits,
    pub flush_interval: Duration,
    pub max_event_bytes: usize,
    pub gzip: bool,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub client: reqwest::Client,
    pub headers: HeaderMap,
    pub clock: Arc<dyn Clock>,
}

/// `{host}/batch/`, keeping any path prefix a proxy needs.
fn batch_url(host: &str) -> Result<reqwest::Url, String> {
    let host = host.trim();
    let url = reqwest::Url::parse(host).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host name".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".to_owned());
    }
    let base = url.as_str().trim_end_matches('/');
    reqwest::Url::parse(&format!("{base}/batch/")).map_err(|e| e.to_string())
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidSetting {
        setting,
        reason: reason.into(),
    }
}

fn at_least_one(setting: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(invalid(setting, "must be at least 1"));
    }
    Ok(())
}

fn non_zero(setting: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(invalid(setting, "must be longer than zero"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> CaptureBuilder {
        CaptureBuilder::new().api_key("phc_secret_key_123")
    }

    #[test]
    fn defaults_validate() {
        let config = valid().validate().unwrap();
        assert_eq!(config.url.as_str(), "https://us.i.posthog.com/batch/");
        assert_eq!(config.limits.max_events, 100);
        assert_eq!(config.limits.max_bytes, 5 * 1024 * 1024);
        assert_eq!(config.queue_capacity, 10_000);
        assert_eq!(config.max_event_bytes, DEFAULT_MAX_EVENT_BYTES);
        assert!(config.gzip);
        assert_eq!(config.when_full, FullPolicy::DropNewest);
    }

    #[test]
    fn environment_supplies_defaults_and_code_wins() {
        let env = |name: &str| match name {
            ENV_API_KEY => Some(" phc_from_env ".to_owned()),
            ENV_HOST => Some("https://eu.i.posthog.com/".to_owned()),
            _ => None,
        };
        let config = CaptureBuilder::from_lookup(env).validate().unwrap();
        assert_eq!(config.api_key.expose(), "phc_from_env");
        assert_eq!(config.url.as_str(), "https://eu.i.posthog.com/batch/");

        let config = CaptureBuilder::from_lookup(env)
            .api_key("phc_code")
            .host("http://127.0.0.1:9/ingest")
            .validate()
            .unwrap();
        assert_eq!(config.api_key.expose(), "phc_code");
        assert_eq!(config.url.as_str(), "http://127.0.0.1:9/ingest/batch/");

        // Empty variables are as good as unset.
        let empty = |_: &str| Some("  ".to_owned());
        assert!(matches!(
            CaptureBuilder::from_lookup(empty).validate(),
            Err(ConfigError::MissingApiKey)
        ));
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        let setting = |b: CaptureBuilder| match b.validate() {
            Err(ConfigError::InvalidSetting { setting, .. }) => setting,
            other => panic!("{other:?}"),
        };
        assert_eq!(setting(valid().batch_size(0)), "batch_size");
        assert_eq!(setting(valid().queue_capacity(0)), "queue_capacity");
        assert_eq!(
            setting(valid().max_event_bytes(1000).queue_bytes(999)),
            "queue_bytes"
        );
        assert_eq!(
            setting(valid().flush_interval(Duration::ZERO)),
            "flush_interval"
        );
        assert_eq!(
            setting(valid().request_timeout(Duration::ZERO)),
            "request_timeout"
        );
        assert_eq!(
            setting(valid().max_backoff(Duration::from_millis(1))),
            "max_backoff"
        );
        assert_eq!(
            setting(valid().batch_bytes(MAX_BATCH_BYTES + 1)),
            "batch_bytes"
        );
        assert_eq!(setting(valid().batch_bytes(1000)), "batch_bytes");
        assert_eq!(
            setting(valid().retry_deadline(Duration::ZERO)),
            "retry_deadline"
        );
        assert!(matches!(
            CaptureBuilder::new().validate(),
            Err(ConfigError::MissingApiKey)
        ));
        for host in [
            "ftp://example.com",
            "not a url",
            "https://x.com/?a=1",
            "http://",
        ] {
            assert!(
                matches!(
                    valid().host(host).validate(),
                    Err(ConfigError::InvalidHost { .. })
                ),
                "{host}"
            );
        }
        assert!(matches!(
            valid().header("bad header", "v").validate(),
            Err(ConfigError::InvalidHeader { .. })
        ));
        assert!(matches!(
            valid().header("x-ok", "line\nbreak").validate(),
            Err(ConfigError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn the_key_never_shows_in_debug_or_errors() {
        let key = "phc_secret_key_123";
        let builder = valid().header("Authorization", "Bearer hunter2");
        let printed = format!("{builder:?} {:?}", builder.clone().validate().unwrap());
        assert!(!printed.contains(key), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("**REDACTED**"));
        assert_eq!(ApiKey::from(key).to_string(), "**REDACTED**");

        let err = valid()
            .host(format!("https://{key}"))
            .batch_size(0)
            .validate();
        let err = err.unwrap_err();
        assert!(!format!("{err} {err:?}").contains(key));
        let err = valid().host(format!("ftp://{key}")).validate().unwrap_err();
        assert!(!format!("{err} {err:?}").contains(key), "{err}");
        assert!(!format!("{:?}", ConfigError::MissingApiKey).contains(key));
    }
}
