//! The settings of a [`Client`](crate::Client), from keyword arguments and
//! the environment.
//!
//! The names are `llmtap serve`'s config-file keys, so one vocabulary
//! covers the sidecar and the package; the environment variable of each is
//! the sidecar's too: `POSTHOG_API_KEY` and `POSTHOG_HOST` for the two the
//! exporter reads, `LLMTAP_<NAME>` for the rest (`LLMTAP_POSTGRES_URL`). A
//! keyword argument beats the environment, which beats the default; the
//! defaults are the library crates' constants. An unknown name or a value
//! of the wrong type is an error naming the setting, raised when the client
//! is made, and so is a client with no destination: `api_key` (PostHog),
//! `postgres_url` (PostgreSQL), or both, each getting every event.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use llmtap::{EventOptions, Pipeline, PrefixKey, Pricing, DEFAULT_MAX_EVENT_BYTES};
use llmtap_export::{
    ApiKey, CaptureBuilder, DatabaseUrl, PostgresBuilder, Settings as ExportSettings,
    DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_HOST, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY, ENV_API_KEY, ENV_HOST,
};
use serde_json::{Map, Value};

/// A setting's value from a Python keyword argument (as JSON) or from the
/// environment (as text).
pub(crate) trait Setting: Sized {
    fn from_json(value: Value) -> Result<Self, String>;
    fn from_env(text: &str) -> Result<Self, String> {
        Self::from_json(Value::String(text.to_owned()))
    }
}

macro_rules! declare_settings {
    ($( $(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr; )*) => {
        /// Every setting, resolved.
        #[derive(Debug, Clone)]
        pub(crate) struct Settings {
            $( $(#[doc = $doc])* pub(crate) $name: $ty, )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $( $name: $default, )* }
            }
        }

        impl Settings {
            /// The names, in declaration order (for errors and the stubs).
            pub(crate) const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            fn set_json(&mut self, name: &str, value: Value) -> Result<(), String> {
                match name {
                    $( stringify!($name) => self.$name = Setting::from_json(value)?, )*
                    _ => return Err(unknown(name)),
                }
                Ok(())
            }

            fn set_env(&mut self, name: &str, text: &str) -> Result<(), String> {
                match name {
                    $( stringify!($name) => self.$name = Setting::from_env(text)?, )*
                    _ => return Err(unknown(name)),
                }
                Ok(())
            }
        }
    };
}

declare_settings! {
    /// The project API key (`POSTHOG_API_KEY`): events go to PostHog with one.
    api_key: Option<Secret> = None;
    /// The PostHog host (`POSTHOG_HOST`).
    posthog_host: String = DEFAULT_HOST.to_owned();
    /// A `postgres://` URL (`LLMTAP_POSTGRES_URL`): every call a row there
    /// too, or only there without an API key. Shown without its password.
    postgres_url: Option<DatabaseUrl> = None;
    /// Leave the prompt and the completion out of the events.
    privacy_mode: bool = false;
    /// Properties added to every event (below the computed ones).
    properties: Map<String, Value> = Map::new();
    /// Events held for sending before new ones are dropped (`queue_full`).
    queue_capacity: usize = DEFAULT_QUEUE_CAPACITY;
    /// Bytes of payload and event JSON held before new ones are dropped.
    queue_bytes: usize = DEFAULT_QUEUE_BYTES;
    /// Events per batch.
    batch_size: usize = DEFAULT_BATCH_SIZE;
    /// Batches sent at once.
    max_in_flight: usize = DEFAULT_MAX_IN_FLIGHT;
    /// How long a partial batch waits for more events, in milliseconds.
    flush_interval_ms: u64 = millis(DEFAULT_FLUSH_INTERVAL);
    /// Gzip the batches.
    gzip: bool = true;
    /// Content is shrunk to keep each event under this size.
    max_event_bytes: usize = DEFAULT_MAX_EVENT_BYTES;
    /// A TOML pricing file (USD per token by model name or glob), over LiteLLM's rates.
    pricing: Option<PathBuf> = None;
    /// Makes `cache_prefix_id` an HMAC under this key.
    prefix_key: Option<Secret> = None;
    /// How many recent event uuids are remembered to drop a call logged twice.
    dedup_window: usize = 100_000;
    /// How long the flush at interpreter exit may take, in seconds.
    shutdown_timeout_secs: u64 = 30;
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unknown(name: &str) -> String {
    format!(
        "unknown setting {name:?}; the settings are: {}",
        Settings::NAMES.join(", ")
    )
}

/// The environment variable a setting is read from.
fn env_name(name: &str) -> String {
    match name {
        "api_key" => ENV_API_KEY.to_owned(),
        "posthog_host" => ENV_HOST.to_owned(),
        other => format!("LLMTAP_{}", other.to_ascii_uppercase()),
    }
}

impl Settings {
    /// Defaults, then the environment, then `kwargs` (JSON of each value).
    pub(crate) fn resolve(kwargs: Vec<(String, Value)>) -> Result<Settings, String> {
        let mut settings = Settings::default();
        for name in Settings::NAMES {
            let var = env_name(name);
            if let Ok(text) = std::env::var(&var) {
                if !text.trim().is_empty() {
                    settings
                        .set_env(name, &text)
                        .map_err(|e| format!("{var}: {e}"))?;
                }
            }
        }
        settings.apply(kwargs)?;
        Ok(settings)
    }

    /// Defaults, then `kwargs`; the environment is not read.
    pub(crate) fn from_kwargs(kwargs: Vec<(String, Value)>) -> Result<Settings, String> {
        let mut settings = Settings::default();
        settings.apply(kwargs)?;
        Ok(settings)
    }

    fn apply(&mut self, kwargs: Vec<(String, Value)>) -> Result<(), String> {
        for (name, value) in kwargs {
            if value.is_null() && Settings::NAMES.contains(&name.as_str()) {
                continue; // `None` means "the default", as in most Python APIs.
            }
            self.set_json(&name, value)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }

    /// A digest of every setting, secrets included, as 16 hex digits.
    pub(crate) fn fingerprint(&self) -> String {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        // Debug redacts the secrets, so they are hashed on their own.
        format!("{self:?}").hash(&mut h);
        for secret in [&self.api_key, &self.prefix_key].into_iter().flatten() {
            secret.0.expose().hash(&mut h);
        }
        if let Some(url) = &self.postgres_url {
            url.expose().hash(&mut h);
        }
        format!("{:016x}", h.finish())
    }

    /// What a pipeline is built from, read once (the pricing file
    /// included), so a bad setting fails when the client is made.
    pub(crate) fn recipe(&self) -> Result<Recipe, String> {
        let mut options = EventOptions::default()
            .privacy_mode(self.privacy_mode)
            .max_event_bytes(self.max_event_bytes);
        for (key, value) in &self.properties {
            options = options.extra_property(key, value.clone());
        }
        let pricing = match &self.pricing {
            Some(path) => Some(Pricing::from_path(path).map_err(|e| format!("pricing: {e}"))?),
            None => None,
        };
        let prefix_key = match &self.prefix_key {
            Some(key) => {
                Some(PrefixKey::new(key.0.expose()).ok_or("prefix_key: must not be empty")?)
            }
            None => None,
        };
        Ok(Recipe {
            options,
            pricing,
            prefix_key,
        })
    }

    /// The destinations these settings name, in the order they are fed.
    pub(crate) fn destinations(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.api_key.is_some() {
            names.push(POSTHOG);
        }
        if self.postgres_url.is_some() {
            names.push(POSTGRES);
        }
        names
    }

    /// Checks every destination's settings without starting anything.
    pub(crate) fn check_destinations(&self) -> Result<(), String> {
        if self.destinations().is_empty() {
            return Err(format!(
                "no destination: set {ENV_API_KEY} or pass api_key= for PostHog, \
                 set {ENV_POSTGRES_URL} or pass postgres_url= for PostgreSQL, or both"
            ));
        }
        if let Some(posthog) = self.posthog() {
            posthog.check().map_err(|e| e.to_string())?;
        }
        if let Some(postgres) = self.postgres() {
            postgres.check().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// PostHog's exporter, with an API key.
    pub(crate) fn posthog(&self) -> Option<CaptureBuilder> {
        let key = self.api_key.as_ref()?;
        Some(
            CaptureBuilder::new()
                .api_key(key.0.clone())
                .host(&self.posthog_host)
                .gzip(self.gzip)
                .settings(self.export_settings()),
        )
    }

    /// PostgreSQL's exporter, with a URL.
    pub(crate) fn postgres(&self) -> Option<PostgresBuilder> {
        let url = self.postgres_url.as_ref()?;
        Some(PostgresBuilder::new(url.clone()).settings(self.export_settings()))
    }

    /// The queue and batch settings every destination shares (as `serve`'s).
    fn export_settings(&self) -> ExportSettings {
        ExportSettings::default()
            .queue_capacity(self.queue_capacity)
            .queue_bytes(self.queue_bytes)
            .batch_size(self.batch_size)
            .max_in_flight(self.max_in_flight)
            .flush_interval(Duration::from_millis(self.flush_interval_ms))
            .max_event_bytes(self.max_event_bytes)
    }
}

/// The destinations' names, in `stats()["destinations"]` (the exporters' own).
pub(crate) const POSTHOG: &str = "posthog";
pub(crate) const POSTGRES: &str = "postgres";

/// Where `postgres_url` is read from (`serve`'s variable).
const ENV_POSTGRES_URL: &str = "LLMTAP_POSTGRES_URL";

/// The parts of a [`Pipeline`], without its state: each process that
/// captures builds its own pipeline from it, since a pipeline inherited
/// through `fork` shares locks with threads the child does not have.
#[derive(Debug, Clone)]
pub(crate) struct Recipe {
    options: EventOptions,
    pricing: Option<Pricing>,
    prefix_key: Option<PrefixKey>,
}

impl Recipe {
    /// A fresh pipeline remembering up to `prefixes` prefixes.
    pub(crate) fn pipeline(&self, prefixes: NonZeroUsize) -> Pipeline {
        let mut pipeline = Pipeline::new(self.options.clone()).prefix_capacity(prefixes);
        if let Some(pricing) = &self.pricing {
            pipeline = pipeline.pricing(pricing.clone());
        }
        if let Some(key) = &self.prefix_key {
            pipeline = pipeline.prefix_key(key.clone());
        }
        pipeline
    }
}

/// A setting that must never be shown: its `Debug` is the exporter's
/// redacted [`ApiKey`].
#[derive(Debug, Clone)]
pub(crate) struct Secret(pub(crate) ApiKey);

impl Setting for Secret {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) if !s.trim().is_empty() => Ok(Secret(ApiKey::new(s.trim()))),
            Value::String(_) => Err("must not be blank".into()),
            // Never echo the value: it is a secret.
            _ => Err("expected a string".into()),
        }
    }
}

impl Setting for DatabaseUrl {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) if !s.trim().is_empty() => Ok(DatabaseUrl::new(s.trim())),
            Value::String(_) => Err("must not be blank".into()),
            // Never echo the value: it may hold a password.
            _ => Err("expected a postgres:// URL as a string".into()),
        }
    }
}

impl<T: Setting> Setting for Option<T> {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            v => T::from_json(v).map(Some),
        }
    }
    fn from_env(text: &str) -> Result<Self, String> {
        T::from_env(text).map(Some)
    }
}

impl Setting for String {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Ok(s),
            v => Err(format!("expected a string, not {v}")),
        }
    }
}

impl Setting for PathBuf {
    fn from_json(value: Value) -> Result<Self, String> {
        String::from_json(value).map(PathBuf::from)
    }
}

impl Setting for bool {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Bool(b) => Ok(b),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(format!("expected true or false, not {s:?}")),
            },
            v => Err(format!("expected true or false, not {v}")),
        }
    }
}

macro_rules! count_setting {
    ($($ty:ty),*) => {$(
        impl Setting for $ty {
            fn from_json(value: Value) -> Result<Self, String> {
                let parsed = match &value {
                    Value::Number(n) => n.as_u64().and_then(|n| <$ty>::try_from(n).ok()),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                parsed.ok_or_else(|| format!("expected a whole number of at least 0, not {value}"))
            }
        }
    )*};
}
count_setting!(usize, u64);

impl Setting for Map<String, Value> {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Object(map) => Ok(map),
            v => Err(format!("expected a dict, not {v}")),
        }
    }
    /// A JSON object in the environment: `LLMTAP_PROPERTIES='{"team": "a"}'`.
    fn from_env(text: &str) -> Result<Self, String> {
        let value =
            serde_json::from_str(text).map_err(|e| format!("expected a JSON object: {e}"))?;
        Self::from_json(value)
    }
}
