//! A PostgreSQL destination (feature `postgres`): every call a row of
//! `llm_calls`, the cache alerts in `llm_cache_alerts`, and an hourly cache
//! rollup per provider × model × prefix in `llm_cache_hourly`, kept in the
//! same transaction from exactly the rows inserted.
//!
//! It is an [`Exporter`], so the client's queue, batching, retries and drop
//! accounting are the ones PostHog gets: a database outage (refused
//! connections, a restart) is retried like a capture outage, and a payload
//! replayed is one row (`ON CONFLICT (uuid) DO NOTHING`), counted once in
//! the rollup. The schema is llmtap's own ([`SCHEMA_VERSION`]), created and
//! migrated on the first batch under an advisory lock; [`migrate`] does it
//! explicitly.
//!
//! TLS is as the URL's `sslmode` asks, with libpq's meanings (`disable`,
//! `allow`, `prefer`, `require`, `verify-ca`, `verify-full`, and
//! `sslrootcert` for the roots), on rustls: see `tls.rs`. A certificate
//! that fails the check, or a server without TLS where it is required, is
//! not retried: the batch is dropped as `rejected`, the reason in
//! `stats().last_rejection`, as PostHog's 401 is.
//!
//! ```no_run
//! use std::time::Duration;
//! use llmtap_export::PostgresBuilder;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = PostgresBuilder::new("postgres://llmtap:secret@127.0.0.1/llm").build()?;
//! # let event: llmtap::Event = unimplemented!();
//! client.capture(event)?;
//! let report = client.shutdown_blocking(Duration::from_secs(10));
//! assert!(report.is_lossless());
//! # Ok(()) }
//! ```

mod row;
mod schema;
mod tls;
mod write;

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use llmtap::{DropReason, Event};
use tokio::sync::OnceCell;
use tokio_postgres::error::SqlState;

use crate::client::ExportClient;
use crate::error::ConfigError;
use crate::exporter::{Answer, Exporter, Outcome};
use crate::settings::Settings;

pub use row::{AlertRow, CallRow, Row};
pub use schema::SCHEMA_VERSION;

/// The Postgres destination's client.
pub type PostgresClient = ExportClient<Postgres>;

/// Connections the pool keeps: one per batch in flight.
pub const DEFAULT_POOL_SIZE: usize = crate::settings::DEFAULT_MAX_IN_FLIGHT;

/// A connection URL whose password never shows: `Debug` and `Display`
/// write `postgres://user:***@host/db`.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a `postgres://` URL (or a `key=value` connection string).
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The URL itself, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
            // The key=value form.
            return redacted_pairs(url, " ");
        };
        let authority_end = url[scheme_end..]
            .find(['/', '?'])
            .map_or(url.len(), |i| i + scheme_end);
        let authority = &url[scheme_end..authority_end];
        let authority = match authority.rfind('@') {
            Some(at) => match authority[..at].find(':') {
                Some(colon) => format!("{}:***{}", &authority[..colon], &authority[at..]),
                None => authority.to_owned(),
            },
            None => authority.to_owned(),
        };
        let rest = &url[authority_end..];
        let rest = match rest.split_once('?') {
            Some((path, query)) => format!("{path}?{}", redacted_pairs(query, "&")),
            None => rest.to_owned(),
        };
        format!("{}{authority}{rest}", &url[..scheme_end])
    }
}

/// `key=value` pairs split by `sep`, each `password=` value hidden.
fn redacted_pairs(text: &str, sep: &str) -> String {
    text.split(sep)
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.trim().eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(sep)
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        DatabaseUrl::new(url)
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        DatabaseUrl::new(url)
    }
}

/// Builds a [`PostgresClient`].
#[derive(Debug)]
pub struct PostgresBuilder {
    url: DatabaseUrl,
    pool_size: usize,
    settings: Settings,
}

impl PostgresBuilder {
    /// A destination at `url`, with the exporter's default settings.
    pub fn new(url: impl Into<DatabaseUrl>) -> Self {
        PostgresBuilder {
            url: url.into(),
            pool_size: DEFAULT_POOL_SIZE,
            settings: Settings::default(),
        }
    }

    /// Connections kept open (default [`DEFAULT_POOL_SIZE`]).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// The queue, batch and retry settings (see [`Settings`]).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Checks the URL and settings and starts the worker thread. Connects
    /// nothing yet: the first batch connects and migrates, so a database
    /// that is down at start is waited for like one that goes down later.
    pub fn build(self) -> Result<PostgresClient, ConfigError> {
        ExportClient::start(self.exporter()?, self.settings)
    }

    /// Checks what [`PostgresBuilder::build`] checks (the URL, its TLS
    /// settings, the sizes) without starting anything: for a caller that
    /// wants a bad setting reported where it was made, not at the first call.
    pub fn check(&self) -> Result<(), ConfigError> {
        let exporter = self.exporter()?;
        self.settings.check(exporter.batch_overhead())
    }

    /// [`PostgresBuilder::build`] behind a disk spool (feature `spool`):
    /// what was captured survives a crash or a stop with the database down,
    /// and is written after the next start, as PostHog's spool does.
    #[cfg(feature = "spool")]
    pub fn build_spooled(
        self,
        spool: crate::SpoolSettings,
    ) -> Result<crate::Spooled<Postgres>, crate::SpoolError> {
        let exporter = self.exporter()?;
        crate::Spooled::start(exporter, self.settings, spool)
    }

    fn exporter(&self) -> Result<Postgres, ConfigError> {
        let (config, tls) = tls::configure(&self.url)?;
        if self.pool_size == 0 {
            return Err(ConfigError::InvalidSetting {
                setting: "pool_size",
                reason: "must be at least 1".into(),
            });
        }
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| ConfigError::InvalidSetting {
                setting: "pool_size",
                reason: e.to_string(),
            })?;
        Ok(Postgres {
            pool,
            url: self.url.clone(),
            migrated: OnceCell::new(),
        })
    }
}

/// How long connecting may take before the batch is retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The exporter: rows in batches over a pool of connections.
pub struct Postgres {
    pool: Pool,
    url: DatabaseUrl,
    migrated: OnceCell<()>,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Why a batch did not go in, and whether retrying can help.
enum Failure {
    Transient(String),
    /// A row the database refuses: split until it is alone.
    Refused(String),
    /// TLS as the URL asks cannot be had (see [`tls::is_refusal`]): every
    /// row fails the same way until the server or the URL changes.
    Tls(String),
}

impl Postgres {
    async fn write(&self, batch: &[Row]) -> Result<u64, Failure> {
        let mut conn = self.pool.get().await.map_err(|e| {
            let why = match &e {
                PoolError::Backend(e) => explain(e),
                e => e.to_string(),
            };
            let why = format!("cannot connect to {}: {why}", self.url);
            match e {
                PoolError::Backend(e) if tls::is_refusal(&e) => Failure::Tls(why),
                _ => Failure::Transient(why),
            }
        })?;
        self.migrated
            .get_or_try_init(|| async { schema::migrate(&mut conn).await.map(drop) })
            .await
            .map_err(|e| classify(&e))?;
        write::insert(&mut conn, batch)
            .await
            .map_err(|e| classify(&e))
    }
}

/// Connection losses, timeouts, serialization failures and deadlocks are
/// transient; an error in the data (a value the column refuses) is not.
fn classify(e: &tokio_postgres::Error) -> Failure {
    let text = explain(e);
    match e.code() {
        None => Failure::Transient(text),
        Some(code)
            if code == &SqlState::T_R_SERIALIZATION_FAILURE
                || code == &SqlState::T_R_DEADLOCK_DETECTED
                || code == &SqlState::ADMIN_SHUTDOWN
                || code == &SqlState::CRASH_SHUTDOWN
                || code == &SqlState::CANNOT_CONNECT_NOW
                || code == &SqlState::TOO_MANY_CONNECTIONS
                || code.code().starts_with("08") =>
        {
            Failure::Transient(text)
        }
        Some(_) => Failure::Refused(text),
    }
}

/// The error and its causes, `a: b: c`: tokio-postgres's own message is
/// only the kind ("error performing TLS handshake", "db error"), the why
/// is in its sources. None of them holds the password: the configuration,
/// the one place it is, fails at build with a message of ours.
fn explain(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl Exporter for Postgres {
    type Item = Row;

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn encode(&self, event: &Event) -> Result<Row, DropReason> {
        Row::from_event(event, chrono::Utc::now())
    }

    async fn export(&self, batch: &[Row]) -> Answer {
        match self.write(batch).await {
            Ok(inserted) => Answer::all(Outcome::Delivered)
                .with_detail(format!("{inserted} new of {}", batch.len())),
            Err(Failure::Transient(why)) => Answer::all(Outcome::RetryAfter(None)).with_detail(why),
            // Halves until the row the database refuses is alone, then drops it.
            Err(Failure::Refused(why)) if batch.len() > 1 => {
                Answer::all(Outcome::Split).with_detail(why)
            }
            Err(Failure::Refused(why) | Failure::Tls(why)) => {
                Answer::all(Outcome::Dropped(DropReason::Rejected)).with_detail(why)
            }
        }
    }
}

/// Creates or migrates llmtap's schema at `url` now, over TLS as its
/// `sslmode` asks; returns how many migrations ran. (The client does this
/// on its first batch anyway.)
pub async fn migrate(url: &DatabaseUrl) -> Result<usize, String> {
    let (config, tls) = tls::configure(url).map_err(|e| e.to_string())?;
    let (mut client, connection) = config
        .connect(tls)
        .await
        .map_err(|e| format!("cannot connect to {url}: {}", explain(&e)))?;
    let task = tokio::spawn(connection);
    let result = schema::migrate(&mut client).await.map_err(|e| explain(&e));
    drop(client);
    let _ = task.await;
    result
}

/// One client connected to `url` the way the destination connects, its
/// connection driven by a task on the current runtime: for reading back
/// what it wrote (`llmtap report --postgres-url`).
pub async fn connect(url: &DatabaseUrl) -> Result<tokio_postgres::Client, String> {
    let (config, tls) = tls::configure(url).map_err(|e| e.to_string())?;
    let (client, connection) = config
        .connect(tls)
        .await
        .map_err(|e| format!("cannot connect to {url}: {}", explain(&e)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}
