//! Credentials that ride in URLs never leave in an event.
//!
//! LiteLLM's `api_base` and its error texts echo request URLs, and those carry
//! secrets in two places: userinfo (`https://user:pw@host`) and the query
//! string (Gemini's `?key=`, Azure's `?api-key=`). Both are removed; the
//! scheme, host and path, which say where the call went, are kept.

use std::borrow::Cow;

const REDACTED: &str = "[redacted]";

/// A base URL without userinfo, query string or fragment.
pub(crate) fn base_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = split_scheme(url);
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let (_, host_and_path) = split_userinfo(rest);
    format!("{scheme}{host_and_path}")
}

/// Free text (an error message) with every URL's userinfo and query string
/// replaced by a marker; text without a URL is borrowed unchanged.
pub(crate) fn urls_in_text(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme is the run of scheme characters before `://`.
        let scheme_start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let body_start = at + 3;
        let body_len = rest[body_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(rest.len() - body_start);
        out.push_str(&rest[..body_start]);
        if scheme_start < at {
            redact_url_body(&rest[body_start..body_start + body_len], &mut out);
        } else {
            out.push_str(&rest[body_start..body_start + body_len]);
        }
        rest = &rest[body_start + body_len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `host/path?query#frag` (after `scheme://`), redacted into `out`.
fn redact_url_body(body: &str, out: &mut String) {
    let authority_end = body.find(['/', '?', '#']).unwrap_or(body.len());
    let (userinfo, _) = split_userinfo(&body[..authority_end]);
    let body = match userinfo {
        Some(len) => {
            out.push_str(REDACTED);
            out.push('@');
            &body[len + 1..]
        }
        None => body,
    };
    match body.find('?') {
        Some(q) => {
            out.push_str(&body[..q + 1]);
            out.push_str(REDACTED);
            if let Some(f) = body[q..].find('#') {
                out.push_str(&body[q + f..]);
            }
        }
        None => out.push_str(body),
    }
}

fn split_scheme(url: &str) -> (&str, &str) {
    match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    }
}

/// The byte length of the userinfo (up to the last `@` of the authority), and
/// what follows it.
fn split_userinfo(after_scheme: &str) -> (Option<usize>, &str) {
    let authority_end = after_scheme.find('/').unwrap_or(after_scheme.len());
    match after_scheme[..authority_end].rfind('@') {
        Some(at) => (Some(at), &after_scheme[at + 1..]),
        None => (None, after_scheme),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_lose_userinfo_query_and_fragment() {
        assert_eq!(
            base_url("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent?key=AIzaSECRET"),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"
        );
        assert_eq!(
            base_url("https://user:p%40ss@proxy.internal:8443/v1?api-key=abc#x"),
            "https://proxy.internal:8443/v1"
        );
        assert_eq!(
            base_url("http://127.0.0.1:4000/v1"),
            "http://127.0.0.1:4000/v1"
        );
        assert_eq!(base_url("api.openai.com/v1?k=1"), "api.openai.com/v1");
    }

    #[test]
    fn urls_in_errors_are_redacted_and_the_rest_kept() {
        let e = "Request to https://my.openai.azure.com/openai/deployments/x/chat?api-version=2024&api-key=SECRET failed: 401";
        assert_eq!(
            urls_in_text(e),
            "Request to https://my.openai.azure.com/openai/deployments/x/chat?[redacted] failed: 401"
        );
        let e = "connect error 'https://bob:hunter2@10.0.0.1/v1' refused";
        assert_eq!(
            urls_in_text(e),
            "connect error 'https://[redacted]@10.0.0.1/v1' refused"
        );
        let plain = "RateLimitError: too many requests";
        assert!(matches!(urls_in_text(plain), Cow::Borrowed(_)));
        let two = "a http://h/p?key=1 and https://u@h2/q#f end";
        assert_eq!(
            urls_in_text(two),
            "a http://h/p?[redacted] and https://[redacted]@h2/q#f end"
        );
    }

    #[test]
    fn redaction_never_panics_on_odd_text() {
        for t in [
            "://",
            "x://",
            "://@?#",
            "é://é@é?é",
            "http://",
            "a://b@",
            "?://",
        ] {
            let _ = urls_in_text(t);
            let _ = base_url(t);
        }
        assert!(!urls_in_text("https://u:SECRET@h").contains("SECRET"));
    }
}
