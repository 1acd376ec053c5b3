//! PostHog's settings: its own (key, host, HTTP), the shared [`Settings`]
//! under the same builder methods as ever, and the checks that turn them
//! into a running [`CaptureClient`].
//!
//! Everything is validated in [`CaptureBuilder::build`] so that a bad setting
//! fails at startup with a typed error, not at the first flush.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::body;
use super::exporter::PostHog;
use super::secret::ApiKey;
use super::CaptureClient;
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::settings::{invalid, non_zero, FullPolicy, Settings};
use crate::ExportClient;
#[cfg(feature = "spool")]
use crate::{SpoolError, SpoolSettings, Spooled};

/// PostHog US cloud.
pub const DEFAULT_HOST: &str = "https://us.i.posthog.com";
/// Environment variable read for the project API key.
pub const ENV_API_KEY: &str = "POSTHOG_API_KEY";
/// Environment variable read for the host.
pub const ENV_HOST: &str = "POSTHOG_HOST";
/// The largest `batch_bytes` accepted: PostHog's `/batch/` limit.
pub const MAX_BATCH_BYTES: usize = 20 * 1024 * 1024;
/// Per-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings for a [`CaptureClient`]; every setting has a default.
///
/// [`CaptureClient::builder`] starts from the environment
/// (`POSTHOG_API_KEY`, `POSTHOG_HOST`); anything set in code wins. The
/// queue, batch and retry methods set the shared [`Settings`].
#[derive(Clone)]
pub struct CaptureBuilder {
    api_key: Option<ApiKey>,
    host: String,
    settings: Settings,
    gzip: bool,
    request_timeout: Duration,
    http_client: Option<reqwest::Client>,
    headers: Vec<(String, String)>,
}

impl fmt::Debug for CaptureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("CaptureBuilder")
            .field("api_key", &self.api_key)
            .field("host", &self.host)
            .field("settings", &self.settings)
            .field("gzip", &self.gzip)
            .field("request_timeout", &self.request_timeout)
            .field("custom_http_client", &self.http_client.is_some())
            .field("headers", &header_names)
            .finish()
    }
}

impl Default for CaptureBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// The shared settings, set through the builder as they always were.
macro_rules! shared_setting {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.settings = self.settings.$name(value);
            self
        }
    };
}

impl CaptureBuilder {
    /// All the shared settings at once (queue, batches, retries), e.g. the
    /// ones another destination of the same stream uses.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Defaults only; the environment is not read.
    pub fn new() -> Self {
        CaptureBuilder {
            api_key: None,
            host: DEFAULT_HOST.to_owned(),
            settings: Settings::default(),
            gzip: true,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            http_client: None,
            headers: Vec::new(),
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

    shared_setting!(
        /// Events the queue holds. Default [`DEFAULT_QUEUE_CAPACITY`](crate::DEFAULT_QUEUE_CAPACITY).
        queue_capacity: usize
    );
    shared_setting!(
        /// Bytes of event JSON the queue holds, estimated as events are queued;
        /// the queue is full at whichever of this and `queue_capacity` comes
        /// first. Default [`DEFAULT_QUEUE_BYTES`](crate::DEFAULT_QUEUE_BYTES);
        /// at least `max_event_bytes`.
        queue_bytes: usize
    );
    shared_setting!(
        /// What `capture` does when the queue is full. Default [`FullPolicy::DropNewest`].
        when_full: FullPolicy
    );
    shared_setting!(
        /// Events per batch. Default [`DEFAULT_BATCH_SIZE`](crate::DEFAULT_BATCH_SIZE).
        batch_size: usize
    );
    shared_setting!(
        /// Request body bytes (JSON, before compression), at most
        /// [`MAX_BATCH_BYTES`]. Default [`DEFAULT_BATCH_BYTES`](crate::DEFAULT_BATCH_BYTES).
        batch_bytes: usize
    );
    shared_setting!(
        /// Longest wait before a partial batch is sent. Default
        /// [`DEFAULT_FLUSH_INTERVAL`](crate::DEFAULT_FLUSH_INTERVAL).
        flush_interval: Duration
    );
    shared_setting!(
        /// Larger events are shrunk with [`Event::fit_within`](llmtap::Event::fit_within),
        /// or dropped (`oversized`). Default
        /// [`DEFAULT_MAX_EVENT_BYTES`](llmtap::DEFAULT_MAX_EVENT_BYTES).
        max_event_bytes: usize
    );
    shared_setting!(
        /// Backoff ceiling of the first retry. Default
        /// [`DEFAULT_INITIAL_BACKOFF`](crate::DEFAULT_INITIAL_BACKOFF).
        initial_backoff: Duration
    );
    shared_setting!(
        /// Backoff ceiling cap. Default [`DEFAULT_MAX_BACKOFF`](crate::DEFAULT_MAX_BACKOFF).
        max_backoff: Duration
    );
    shared_setting!(
        /// Batches exported at once, each retrying on its own; they may land
        /// in any order. 1 sends one batch at a time, in capture order.
        /// Default [`DEFAULT_MAX_IN_FLIGHT`](crate::DEFAULT_MAX_IN_FLIGHT).
        max_in_flight: usize
    );
    shared_setting!(
        /// Total retry time per batch before it is dropped (`retries_exhausted`).
        /// Default [`DEFAULT_RETRY_DEADLINE`](crate::DEFAULT_RETRY_DEADLINE).
        retry_deadline: Duration
    );

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
        self.settings = self.settings.clock(clock);
        self
    }

    /// Checks every setting without starting anything: for a caller that
    /// builds the client later (lazily, in each process that captures) but
    /// wants a bad setting to fail now.
    pub fn check(self) -> Result<(), ConfigError> {
        self.validate().map(drop)
    }

    /// Checks every setting and starts the worker thread.
    pub fn build(self) -> Result<CaptureClient, ConfigError> {
        let Config { exporter, settings } = self.validate()?;
        ExportClient::start(exporter, settings)
    }

    /// Checks every setting, opens the spool and starts delivering what it
    /// holds: a [`Spooled`] client, whose `capture_all` returns once the
    /// events are on disk. Transient failures are then retried without a
    /// deadline (an outage is waited out on disk); see [`Spooled::start`].
    #[cfg(feature = "spool")]
    pub fn build_spooled(self, spool: SpoolSettings) -> Result<Spooled<PostHog>, SpoolError> {
        let Config { exporter, settings } = self.validate()?;
        Spooled::start(exporter, settings, spool)
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
        non_zero("request_timeout", self.request_timeout)?;
        let batch_bytes = self.settings.batch_bytes;
        if batch_bytes > MAX_BATCH_BYTES {
            return Err(invalid(
                "batch_bytes",
                format!("{batch_bytes} is over the capture API's {MAX_BATCH_BYTES}"),
            ));
        }
        self.settings.check(body::envelope_overhead(&api_key))?;
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
            exporter: PostHog::new(
                client,
                url,
                headers,
                self.gzip,
                self.request_timeout,
                api_key,
            ),
            settings: self.settings,
        })
    }
}

/// A validated configuration: the exporter and the shared settings.
#[derive(Debug)]
pub(crate) struct Config {
    pub exporter: PostHog,
    pub settings: Settings,
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

#[cfg(test)]
mod tests {
    use super::*;
    use llmtap::DEFAULT_MAX_EVENT_BYTES;

    fn valid() -> CaptureBuilder {
        CaptureBuilder::new().api_key("phc_secret_key_123")
    }

    #[test]
    fn defaults_validate() {
        let Config { exporter, settings } = valid().validate().unwrap();
        assert_eq!(exporter.url.as_str(), "https://us.i.posthog.com/batch/");
        assert_eq!(settings.batch_size, 500);
        assert_eq!(settings.batch_bytes, 5 * 1024 * 1024);
        assert_eq!(settings.queue_capacity, 10_000);
        assert_eq!(settings.max_event_bytes, DEFAULT_MAX_EVENT_BYTES);
        assert!(exporter.gzip);
        assert_eq!(settings.when_full, FullPolicy::DropNewest);
        assert_eq!(settings.max_in_flight, 4);
    }

    #[test]
    fn environment_supplies_defaults_and_code_wins() {
        let env = |name: &str| match name {
            ENV_API_KEY => Some(" phc_from_env ".to_owned()),
            ENV_HOST => Some("https://eu.i.posthog.com/".to_owned()),
            _ => None,
        };
        let config = CaptureBuilder::from_lookup(env).validate().unwrap();
        assert_eq!(config.exporter.key.expose(), "phc_from_env");
        assert_eq!(
            config.exporter.url.as_str(),
            "https://eu.i.posthog.com/batch/"
        );

        let config = CaptureBuilder::from_lookup(env)
            .api_key("phc_code")
            .host("http://127.0.0.1:9/ingest")
            .validate()
            .unwrap();
        assert_eq!(config.exporter.key.expose(), "phc_code");
        assert_eq!(
            config.exporter.url.as_str(),
            "http://127.0.0.1:9/ingest/batch/"
        );

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
        assert_eq!(setting(valid().max_in_flight(0)), "max_in_flight");
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
