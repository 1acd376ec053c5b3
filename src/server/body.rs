//! Reading a request body under the limits: its size after decoding, the
//! time it takes to arrive, and the encodings understood.

use std::io::Write;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt;

use super::{echo, BodyLimits};

/// The UTF-8 byte order mark some clients put first.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a body was not read: the answer's status and its message.
#[derive(Debug)]
pub struct Refusal {
    /// 408, 413, 415 or 400.
    pub status: StatusCode,
    /// What the client is told.
    pub message: String,
    /// The `payloads_rejected` reason it is counted under.
    pub reason: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
            reason,
        }
    }

    fn too_large(limits: &BodyLimits) -> Self {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("body over {} bytes (after decoding)", limits.max_body_bytes),
        )
    }
}

/// The body, decoded, without a leading BOM; or why not.
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    limits: &BodyLimits,
) -> Result<Vec<u8>, Refusal> {
    let gzip = gzipped(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refused before a byte is read: the compressed size is capped too.
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(Refusal::too_large(limits));
    }
    let collect = collect(body, gzip, limits);
    let mut bytes = match tokio::time::timeout(limits.body_timeout, collect).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "body not received within {} ms",
                    limits.body_timeout.as_millis()
                ),
            ))
        }
    };
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    Ok(bytes)
}

/// Whether the body is gzip; 415 for any other encoding.
fn gzipped(headers: &HeaderMap) -> Result<bool, Refusal> {
    let mut gzip = false;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value.to_str().unwrap_or("?");
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if coding.eq_ignore_ascii_case("identity") {
                continue;
            }
            let is_gzip =
                coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip");
            if !is_gzip || gzip {
                return Err(Refusal::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_encoding",
                    format!(
                        "unsupported Content-Encoding `{}`; send identity or gzip",
                        echo(value)
                    ),
                ));
            }
            gzip = true;
        }
    }
    Ok(gzip)
}

/// Reads every frame, decoding gzip as it comes, never holding more than
/// the cap of decoded bytes (nor of compressed ones).
async fn collect(mut body: Body, gzip: bool, limits: &BodyLimits) -> Result<Vec<u8>, Refusal> {
    let capped = Capped {
        buf: Vec::new(),
        max: limits.max_body_bytes,
    };
    let mut sink = if gzip {
        Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(capped)))
    } else {
        Decoder::Plain(capped)
    };
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("reading the body failed: {}", echo(&e.to_string())),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len();
        if received > limits.max_body_bytes {
            return Err(Refusal::too_large(limits));
        }
        sink.write(&data, limits)?;
    }
    sink.finish(limits)
}

/// A `Vec` that refuses to grow past `max`.
struct Capped {
    buf: Vec<u8>,
    max: usize,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            return Err(std::io::Error::other(TooLarge));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The marker [`Capped`] fails with.
#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the body limit")
    }
}

impl std::error::Error for TooLarge {}

enum Decoder {
    Plain(Capped),
    Gzip(Box<flate2::write::MultiGzDecoder<Capped>>),
}

impl Decoder {
    fn write(&mut self, data: &[u8], limits: &BodyLimits) -> Result<(), Refusal> {
        let result = match self {
            Decoder::Plain(c) => c.write_all(data),
            Decoder::Gzip(d) => d.write_all(data),
        };
        result.map_err(|e| decode_error(&e, limits))
    }

    fn finish(self, limits: &BodyLimits) -> Result<Vec<u8>, Refusal> {
        match self {
            Decoder::Plain(c) => Ok(c.buf),
            Decoder::Gzip(d) => d
                .finish()
                .map(|c| c.buf)
                .map_err(|e| decode_error(&e, limits)),
        }
    }
}

fn decode_error(e: &std::io::Error, limits: &BodyLimits) -> Refusal {
    if e.get_ref().is_some_and(|inner| inner.is::<TooLarge>()) {
        return Refusal::too_large(limits);
    }
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "unreadable_body",
        format!("the gzip body is corrupt: {}", echo(&e.to_string())),
    )
}
