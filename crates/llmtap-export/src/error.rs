//! Why a client could not be built.

use thiserror::Error;

#[cfg(doc)]
use crate::{CaptureBuilder, ExportClient};

/// Why a client could not be built: a shared setting
/// ([`ExportClient::start`]), or one of PostHog's ([`CaptureBuilder::build`]:
/// key, host, headers, HTTP client).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No API key from code or `POSTHOG_API_KEY`.
    #[error("no PostHog API key: set POSTHOG_API_KEY or call CaptureBuilder::api_key")]
    MissingApiKey,
    /// The host is not an http(s) URL.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A numeric or duration setting is out of range.
    #[error("invalid {setting}: {reason}")]
    InvalidSetting {
        /// The builder method's name.
        setting: &'static str,
        /// The rule it broke.
        reason: String,
    },
    /// An extra header's name or value is not valid HTTP. The value is never
    /// printed: it may be a credential.
    #[error("invalid header {name:?}")]
    InvalidHeader {
        /// The header name as given.
        name: String,
    },
    /// The default HTTP client could not be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    /// The worker thread or its runtime could not start.
    #[error("cannot start the export worker: {0}")]
    Worker(#[source] std::io::Error),
}
