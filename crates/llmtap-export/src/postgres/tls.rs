//! TLS to the database as the URL's `sslmode` asks, with libpq's meanings
//! (<https://www.postgresql.org/docs/current/libpq-ssl.html>), on rustls.
//!
//! tokio-postgres's parser knows only `disable`, `prefer` and `require`, and
//! no `sslrootcert`, so [`configure`] reads and strips both keys (from a
//! `postgres://…?sslmode=…` URL or a `key=value` string) before handing the
//! rest to [`tokio_postgres::Config`], then sets the driver's mode and a
//! certificate check to match:
//!
//! | sslmode | TLS | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | never | — |
//! | `allow`, `prefer` (the default) | when the server offers it | not checked |
//! | `require` | always, or no connection | not checked |
//! | `verify-ca` | always | chain checked against the roots |
//! | `verify-full` | always | chain, and the host name in it |
//!
//! As in libpq, an `sslrootcert` given to `prefer` or `require` makes them
//! check the chain as `verify-ca` does. The roots are that PEM file, else
//! Mozilla's (`webpki-roots`, compiled in, the ones the PostHog client
//! trusts), not the system's store. A Unix socket never uses TLS, as in
//! libpq.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::DatabaseUrl;
use crate::error::ConfigError;

/// libpq's `sslmode` values (`allow` is taken as `prefer`: TLS when the
/// server offers it is never less than `allow` asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode {other:?} is none of disable, allow, prefer, require, verify-ca, \
                     verify-full"
                ))
            }
        })
    }
}

impl SslMode {
    /// What tokio-postgres is told: whether TLS is tried, and whether its
    /// absence fails the connection. The checks are [`Verifier`]'s.
    fn driver(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Driver;
        match self {
            SslMode::Disable => Driver::Disable,
            SslMode::Prefer => Driver::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Driver::Require,
        }
    }
}

/// A connection string split into what it asks of TLS and the rest, for
/// tokio-postgres. No `Debug`: `rest` holds the password.
pub(super) struct Request {
    pub(super) mode: SslMode,
    pub(super) root_cert: Option<PathBuf>,
    pub(super) rest: String,
}

impl Request {
    /// Reads and strips `sslmode` (default `prefer`, as in libpq) and
    /// `sslrootcert` (empty is none). The last of a repeated key wins. The
    /// error never quotes the string: it may hold the password.
    pub(super) fn parse(url: &str) -> Result<Request, String> {
        let malformed = || "not a PostgreSQL connection URL".to_owned();
        let (rest, pairs) = match ["postgres://", "postgresql://"]
            .iter()
            .find(|scheme| url.starts_with(*scheme))
        {
            Some(scheme) => split_url(url, scheme.len()).ok_or_else(malformed)?,
            None => split_key_values(url).ok_or_else(malformed)?,
        };
        let mut request = Request {
            mode: SslMode::Prefer,
            root_cert: None,
            rest,
        };
        for (key, value) in pairs {
            match key {
                Key::Mode => request.mode = value.parse()?,
                Key::RootCert => request.root_cert = (!value.is_empty()).then(|| value.into()),
            }
        }
        Ok(request)
    }
}

/// The keys read here, which tokio-postgres must not see.
#[derive(Clone, Copy)]
enum Key {
    Mode,
    RootCert,
}

impl Key {
    fn of(key: &str) -> Option<Key> {
        match key {
            "sslmode" => Some(Key::Mode),
            "sslrootcert" => Some(Key::RootCert),
            _ => None,
        }
    }
}

/// `postgres://user:pw@host/db?k=v&…`: the query is what follows the first
/// `?` after the credentials (found the way tokio-postgres finds them: up
/// to the first `@`); its `k=v` pairs are split on `&` and percent-decoded.
fn split_url(url: &str, scheme_len: usize) -> Option<(String, Vec<(Key, String)>)> {
    let after_scheme = &url[scheme_len..];
    let host_start = scheme_len + after_scheme.find('@').map_or(0, |at| at + 1);
    let Some(query_start) = url[host_start..].find('?').map(|q| host_start + q) else {
        return Some((url.to_owned(), Vec::new()));
    };
    let mut ours = Vec::new();
    let mut kept = Vec::new();
    for param in url[query_start + 1..].split('&') {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match percent_decode(key).as_deref().and_then(Key::of) {
            Some(key) => ours.push((key, percent_decode(value)?)),
            None => kept.push(param),
        }
    }
    let mut rest = url[..query_start].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Some((rest, ours))
}

/// `%XX` decoded, as UTF-8; `None` when it is not.
fn percent_decode(s: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
    Some(decoded.into_owned())
}

/// `host=db sslmode=require …`: split as tokio-postgres splits it (`key`,
/// `=` with optional spaces around it, a value bare or in `'…'`, `\`
/// escaping the next character); the pairs not read here are passed on
/// as written.
fn split_key_values(s: &str) -> Option<(String, Vec<(Key, String)>)> {
    type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;
    let mut it: Chars<'_> = s.char_indices().peekable();
    let end = |it: &mut Chars<'_>| it.peek().map_or(s.len(), |&(i, _)| i);
    fn skip_spaces(it: &mut Chars<'_>) {
        while it.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    }
    let mut ours = Vec::new();
    let mut kept = Vec::new();
    loop {
        skip_spaces(&mut it);
        let start = end(&mut it);
        if start == s.len() {
            break;
        }
        while it
            .next_if(|&(_, c)| !c.is_whitespace() && c != '=')
            .is_some()
        {}
        let key = &s[start..end(&mut it)];
        skip_spaces(&mut it);
        it.next_if(|&(_, c)| c == '=')?;
        skip_spaces(&mut it);
        let quoted = it.next_if(|&(_, c)| c == '\'').is_some();
        let mut value = String::new();
        loop {
            match it.next() {
                None if quoted => return None,
                None => break,
                Some((_, '\'')) if quoted => break,
                Some((_, c)) if c.is_whitespace() && !quoted => break,
                Some((_, '\\')) => value.extend(it.next().map(|(_, c)| c)),
                Some((_, c)) => value.push(c),
            }
        }
        if key.is_empty() || (value.is_empty() && !quoted) {
            return None;
        }
        match Key::of(key) {
            Some(key) => ours.push((key, value)),
            None => kept.push(s[start..end(&mut it)].trim_end()),
        }
    }
    Some((kept.join(" "), ours))
}

/// The driver's configuration and TLS connector for `url`, the roots read
/// now: an unknown `sslmode` or an unreadable `sslrootcert` fails the
/// build, not every batch. Errors show the URL redacted, never the
/// parser's message (which can quote the password).
pub(super) fn configure(
    url: &DatabaseUrl,
) -> Result<(tokio_postgres::Config, MakeRustlsConnect), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidSetting {
        setting: "postgres_url",
        reason,
    };
    let request = Request::parse(url.expose()).map_err(|why| invalid(format!("{url}: {why}")))?;
    let mut config = tokio_postgres::Config::from_str(&request.rest)
        .map_err(|_| invalid(format!("{url} is not a PostgreSQL connection URL")))?;
    let over_sockets = !config.get_hosts().is_empty()
        && config.get_hostaddrs().is_empty()
        && config.get_hosts().iter().all(is_socket);
    let mode = match over_sockets {
        true => SslMode::Disable,
        false => request.mode,
    };
    config.ssl_mode(mode.driver());
    let roots = match (&request.root_cert, mode) {
        (_, SslMode::Disable) => None,
        (Some(path), _) => Some(
            read_roots(path)
                .map_err(|why| invalid(format!("{url}: sslrootcert {}: {why}", path.display())))?,
        ),
        (None, SslMode::VerifyCa | SslMode::VerifyFull) => Some(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        (None, _) => None,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier {
        roots: roots.map(Arc::new),
        check_name: mode == SslMode::VerifyFull,
        provider: provider.clone(),
    };
    let mut tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // What PostgreSQL 17 asks of a direct TLS connection
    // (`sslnegotiation=direct`), and harmless to older servers.
    tls.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok((config, MakeRustlsConnect::new(tls)))
}

#[cfg(unix)]
fn is_socket(host: &Host) -> bool {
    matches!(host, Host::Unix(_))
}

#[cfg(not(unix))]
fn is_socket(_: &Host) -> bool {
    false
}

/// Every certificate of a PEM file, as trust anchors; at least one.
fn read_roots(path: &std::path::Path) -> Result<RootCertStore, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    Ok(roots)
}

/// Checks the server's certificate as far as the mode asks, and no
/// further: none without roots (TLS then protects from eavesdroppers, not
/// from a server in the middle, as libpq's `require`), the chain with
/// them (`verify-ca`), and the host name too with `check_name`
/// (`verify-full`). The handshake's signatures are always checked, with
/// the ring provider the connection uses.
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("roots", &self.roots.as_ref().map(|r| r.len()))
            .field("check_name", &self.check_name)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            let algorithms = self.provider.signature_verification_algorithms.all;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                algorithms,
            )?;
            if self.check_name {
                verify_server_name(&cert, server_name)?;
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether connecting failed on TLS in a way retrying cannot mend: the
/// certificate did not pass the check (or the server refused ours), or the
/// server has no TLS and the mode requires it. A handshake cut by a
/// restart is an I/O error, not this, and is retried.
pub(super) fn is_refusal(error: &tokio_postgres::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        let tls = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()),
            None => e.is::<rustls::Error>(),
        };
        // tokio-postgres's own words for a server that answered "no TLS".
        if tls || e.to_string() == "server does not support TLS" {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> (SslMode, Option<String>, String) {
        let r = Request::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let root = r.root_cert.map(|p| p.display().to_string());
        (r.mode, root, r.rest)
    }

    #[test]
    fn every_libpq_mode_is_read_and_stripped_from_a_url() {
        for (given, want) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Prefer),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let url = format!("postgres://u:pw@db:5432/llm?sslmode={given}");
            assert_eq!(
                parse(&url),
                (want, None, "postgres://u:pw@db:5432/llm".into())
            );
        }
        // libpq's default.
        assert_eq!(parse("postgresql://db/llm").0, SslMode::Prefer);
    }

    #[test]
    fn the_other_query_keys_pass_through_as_written() {
        let (mode, root, rest) = parse(
            "postgres://u:p%3Fw@db/llm?application_name=a%20b&sslrootcert=%2Fetc%2Fca%20x.pem\
             &sslmode=verify-full&connect_timeout=3",
        );
        assert_eq!(mode, SslMode::VerifyFull);
        assert_eq!(root.as_deref(), Some("/etc/ca x.pem"));
        assert_eq!(
            rest,
            "postgres://u:p%3Fw@db/llm?application_name=a%20b&connect_timeout=3"
        );
        // A `?` in the password is not the query; the last sslmode wins.
        let (mode, _, rest) = parse("postgres://u:a?b@db/llm?sslmode=disable&sslmode=require");
        assert_eq!(
            (mode, rest.as_str()),
            (SslMode::Require, "postgres://u:a?b@db/llm")
        );
        // An empty sslrootcert is none, as in libpq.
        assert_eq!(parse("postgres://db/llm?sslrootcert=").1, None);
    }

    #[test]
    fn key_value_strings_are_split_as_tokio_postgres_splits_them() {
        let (mode, root, rest) = parse(
            "host=db  password='it\\'s x' sslmode = verify-ca user=u\\ x \
             sslrootcert='/ca dir/root.pem' dbname=llm",
        );
        assert_eq!(mode, SslMode::VerifyCa);
        assert_eq!(root.as_deref(), Some("/ca dir/root.pem"));
        assert_eq!(rest, "host=db password='it\\'s x' user=u\\ x dbname=llm");
        let (mode, _, rest) = parse("host=db sslmode=require");
        assert_eq!((mode, rest.as_str()), (SslMode::Require, "host=db"));
        let (mode, _, rest) = parse("password='a\\' sslmode=disable' host=db");
        assert_eq!(mode, SslMode::Prefer, "inside a quoted value: not a key");
        assert_eq!(rest, "password='a\\' sslmode=disable' host=db");
    }

    #[test]
    fn an_unknown_mode_or_a_malformed_string_is_an_error_without_the_string() {
        for url in [
            "postgres://u:s3cr3t@db/llm?sslmode=verify",
            "host=db password=s3cr3t sslmode=Require",
        ] {
            let err = Request::parse(url).err().expect(url);
            assert!(err.contains("sslmode") && !err.contains("s3cr3t"), "{err}");
        }
        for url in [
            "host=db password='s3cr3t",
            "host=db password",
            "host=db sslmode=",
        ] {
            let err = Request::parse(url).err().expect(url);
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }

    #[test]
    fn the_mode_tells_the_driver_whether_tls_is_optional() {
        use tokio_postgres::config::SslMode as Driver;
        let driver = |url: &str| configure(&DatabaseUrl::new(url)).unwrap().0.get_ssl_mode();
        assert_eq!(driver("postgres://db/llm"), Driver::Prefer);
        assert_eq!(driver("postgres://db/llm?sslmode=disable"), Driver::Disable);
        assert_eq!(
            driver("postgres://db/llm?sslmode=verify-full"),
            Driver::Require
        );
        assert_eq!(
            driver("postgres://db/llm?sslmode=verify-ca"),
            Driver::Require
        );
        // A Unix socket never uses TLS, as in libpq.
        assert_eq!(
            driver("host=/run/postgresql sslmode=require"),
            Driver::Disable
        );
    }
}
