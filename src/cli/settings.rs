//! A command's settings, declared once for its flags, environment variables
//! and `--config` TOML file.
//!
//! [`declare_settings!`] takes one list of fields, each with its doc comment
//! (the `--help` text), its clap and serde attributes and its default, and
//! writes:
//!
//! - the *layer*: a struct of `Option`s deriving both `clap::Args` (flags and
//!   `env = "…"`) and `serde::Deserialize` (the file, unknown keys refused);
//! - `or(self, file)`: each setting from flags and environment, else from the
//!   file; this is where the precedence flag > environment > file lives;
//! - `resolve(self)`: the plain settings struct, defaults applied;
//! - the `[default: …]` of each flag's help, from the same default.
//!
//! Why not clap's `default_value_t`: once parsed, a clap default cannot be
//! told from a flag, so it would hide the file's value. Leaving every field
//! `None` until `resolve` keeps "not given" visible through every
//! layer; the defaults are then written once, as the expression in the list.
//!
//! Each field is one of:
//!
//! ```text
//! name: Type = default,                   // resolves to Type; help shows default's Display
//! name: Type = default => "shown",        // help shows "shown" instead
//! name: Type,                             // no default: resolves to Option<Type>, shows "none"
//! name: Type => "shown",                  // the same, showing "shown"
//! name: Type = default; merge function,   // merge(flags, file) instead of flags.or(file)
//! ```

use std::convert::Infallible;
use std::path::Path;
use std::str::FromStr;

use std::path::PathBuf;

use llmtap::{Pipeline, PrefixKey, Pricing};
use llmtap_export::{ApiKey, DatabaseUrl};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Declares a settings layer and its resolved form; see the module docs.
macro_rules! declare_settings {
    (
        $(#[$meta:meta])*
        $vis:vis struct $Layer:ident => $Resolved:ident {
            $(
                $(#[$field_meta:meta])*
                $field:ident : $ty:ty $(= $default:expr)? $(=> $shown:expr)? $(; merge $merge:expr)?,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default, clap::Args, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        #[command(mut_args = $Layer::document_default)]
        $vis struct $Layer {
            $(
                $(#[$field_meta])*
                pub $field: Option<$ty>,
            )*
        }

        #[doc = concat!("[`", stringify!($Layer), "`] resolved: every default applied.")]
        #[derive(Debug)]
        $vis struct $Resolved {
            $(
                #[doc = concat!("See [`", stringify!($Layer), "::", stringify!($field), "`].")]
                pub $field: $crate::cli::settings::declare_settings!(@type $ty $(, $default)?),
            )*
        }

        impl $Layer {
            /// Each setting from `self` (flags and environment variables),
            /// else from `file`.
            pub fn or(self, file: Self) -> Self {
                $Layer {
                    $(
                        $field: $crate::cli::settings::declare_settings!(
                            @merge self.$field, file.$field $(, $merge)?
                        ),
                    )*
                }
            }

            /// The settings, with defaults for whatever is still unset.
            pub fn resolve(self) -> $Resolved {
                $Resolved {
                    $(
                        $field: $crate::cli::settings::declare_settings!(
                            @default self.$field $(, $default)?
                        ),
                    )*
                }
            }

            /// Adds `[default: …]` to the help of each setting's flag.
            fn document_default(arg: clap::Arg) -> clap::Arg {
                let shown: Option<String> = match arg.get_id().as_str() {
                    $(
                        stringify!($field) => Some($crate::cli::settings::declare_settings!(
                            @shown [$($default)?] [$($shown)?]
                        )),
                    )*
                    _ => None,
                };
                match shown {
                    Some(shown) => $crate::cli::settings::with_default(arg, &shown),
                    None => arg,
                }
            }
        }
    };
    (@type $ty:ty, $default:expr) => { $ty };
    (@type $ty:ty) => { Option<$ty> };
    (@merge $flags:expr, $file:expr, $merge:expr) => { $merge($flags, $file) };
    (@merge $flags:expr, $file:expr) => { $flags.or($file) };
    (@default $value:expr, $default:expr) => { $value.unwrap_or_else(|| $default) };
    (@default $value:expr) => { $value };
    (@shown [$($default:expr)?] [$shown:expr]) => { $shown.to_string() };
    (@shown [$default:expr] []) => { $default.to_string() };
    (@shown [] []) => { String::from("none") };
}
pub(crate) use declare_settings;

/// `help` with its default appended, as clap writes its own defaults.
pub fn with_default(arg: clap::Arg, shown: &str) -> clap::Arg {
    let help = arg.get_help().map(|h| format!("{h} [default: {shown}]"));
    let long_help = arg
        .get_long_help()
        .map(|h| format!("{h}\n\n[default: {shown}]"));
    let arg = match help {
        Some(help) => arg.help(help),
        None => arg.help(format!("[default: {shown}]")),
    };
    match long_help {
        Some(long_help) => arg.long_help(long_help),
        None => arg,
    }
}

/// Reads a `--config` file into a settings layer.
///
/// The error is serde's message (which names an unknown key) and the line
/// and column, but not the snippet of the file the `toml` crate would quote:
/// that line may hold a secret.
pub fn read_file<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        format!("{}{at}: {}", path.display(), e.message())
    })
}

/// A static property: `KEY=VALUE` on the command line, one entry of a
/// `[properties]` table in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The property name.
    pub key: String,
    /// Its value, always a string.
    pub value: String,
}

impl FromStr for Property {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (key, value) = s.split_once('=').ok_or("expected KEY=VALUE")?;
        Ok(Property {
            key: key.trim().to_owned(),
            value: value.to_owned(),
        })
    }
}

/// serde for a `[properties]` table (`key = "value"` lines).
pub fn property_table<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Property>>, D::Error> {
    let table = std::collections::BTreeMap::<String, String>::deserialize(d)?;
    Ok(Some(
        table
            .into_iter()
            .map(|(key, value)| Property { key, value })
            .collect(),
    ))
}

/// Properties merge by key rather than as a whole: the file's first, then
/// the flags', so a `--property` overrides one key of the file's table.
pub fn file_then_flags(
    flags: Option<Vec<Property>>,
    file: Option<Vec<Property>>,
) -> Option<Vec<Property>> {
    match (file, flags) {
        (Some(mut file), Some(flags)) => {
            file.extend(flags);
            Some(file)
        }
        (file, flags) => flags.or(file),
    }
}

/// clap's parser for an [`ApiKey`], which has no `FromStr`.
pub fn api_key(s: &str) -> Result<ApiKey, Infallible> {
    Ok(ApiKey::new(s))
}

/// clap's parser for a [`DatabaseUrl`] (`--postgres-url`): kept whole, shown without its password.
pub fn postgres_url(s: &str) -> Result<DatabaseUrl, &'static str> {
    match s.trim() {
        "" => Err("the PostgreSQL URL must not be empty"),
        url => Ok(DatabaseUrl::new(url)),
    }
}

/// serde for a [`DatabaseUrl`] (the `postgres_url` key of a config file).
pub fn postgres_url_from_file<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DatabaseUrl>, D::Error> {
    let url = String::deserialize(d)?;
    postgres_url(&url)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// serde for an [`ApiKey`], which has no `Deserialize`.
pub fn api_key_from_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiKey>, D::Error> {
    Ok(Some(ApiKey::new(String::deserialize(d)?)))
}

/// clap's parser for a [`PrefixKey`]: any non-empty bytes.
pub fn prefix_key(s: &str) -> Result<PrefixKey, &'static str> {
    PrefixKey::new(s).ok_or("the prefix key must not be empty")
}

/// serde for a [`PrefixKey`], which has no `Deserialize`.
pub fn prefix_key_from_file<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<PrefixKey>, D::Error> {
    let key = String::deserialize(d)?;
    prefix_key(&key).map(Some).map_err(serde::de::Error::custom)
}

/// `pipeline` with the cache settings every command shares: a pricing file
/// (`--pricing`) and a prefix key (`--prefix-key`). The file is read here,
/// once, so a bad one stops the command before any payload is read.
pub fn observing(
    mut pipeline: Pipeline,
    pricing: Option<&Path>,
    prefix_key: Option<PrefixKey>,
) -> Result<Pipeline, String> {
    if let Some(path) = pricing {
        let pricing = Pricing::from_path(path).map_err(|e| format!("--pricing: {e}"))?;
        pipeline = pipeline.pricing(pricing);
    }
    if let Some(key) = prefix_key {
        pipeline = pipeline.prefix_key(key);
    }
    Ok(pipeline)
}

/// The cache flags of the commands that read payload files (`replay`,
/// `report`); `serve` declares the same settings in its own list, so its
/// config file takes them too.
#[derive(Debug, Clone, clap::Args)]
pub struct CacheArgs {
    /// TOML file of USD-per-token rates by model name or glob, over LiteLLM's: drives
    /// cache_savings_usd, and prices calls LiteLLM left at 0.
    #[arg(long, env = "LLMTAP_PRICING", value_name = "FILE")]
    pub pricing: Option<PathBuf>,
    /// Makes cache_prefix_id an HMAC under this key, for prompts short enough to guess.
    #[arg(long, env = "LLMTAP_PREFIX_KEY", hide_env_values = true, value_parser = prefix_key)]
    pub prefix_key: Option<PrefixKey>,
}

impl CacheArgs {
    /// `pipeline` with these settings; see [`observing`].
    pub fn apply(&self, pipeline: Pipeline) -> Result<Pipeline, String> {
        observing(pipeline, self.pricing.as_deref(), self.prefix_key.clone())
    }
}

/// How the commands that read payload files read them.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Skip, and report, any line or array entry longer than this, so one runaway line
    /// cannot take the machine's memory: it is never held whole.
    #[arg(
        long,
        env = "LLMTAP_MAX_LINE_BYTES",
        value_name = "BYTES",
        default_value_t = super::input::DEFAULT_MAX_LINE_BYTES
    )]
    pub max_line_bytes: usize,
}
