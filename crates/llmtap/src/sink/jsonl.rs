use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{Delivery, DropReason, Sink, SinkError};
use crate::event::Event;

/// Writes each event as one line of JSON: the capture-API event object.
///
/// The default destination when no capture endpoint is configured; the output
/// can be inspected, diffed, or replayed into PostHog later.
pub struct JsonlSink {
    out: Mutex<Box<dyn Write + Send>>,
    written: AtomicU64,
    closed: AtomicBool,
}

impl std::fmt::Debug for JsonlSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlSink")
            .field("written", &self.written())
            .finish_non_exhaustive()
    }
}

impl JsonlSink {
    /// Writes to any writer (buffered here).
    pub fn new(writer: impl Write + Send + 'static) -> Self {
        JsonlSink {
            out: Mutex::new(Box::new(BufWriter::new(writer))),
            written: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self::new(io::stdout())
    }

    /// Creates (or truncates) a file.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::new(File::create(path)?))
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Flushes buffered lines to the underlying writer.
    pub fn flush_now(&self) -> io::Result<()> {
        self.lock().flush()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Write + Send>> {
        // A panic while holding the lock leaves at worst a partial line; keep going.
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Sink for JsonlSink {
    fn delivery(&self) -> Delivery {
        Delivery::immediate(self.written())
    }

    fn capture(&self, event: Event) -> Result<(), SinkError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SinkError::dropped(DropReason::Closed));
        }
        let mut line = serde_json::to_vec(&event).map_err(io::Error::from)?;
        line.push(b'\n');
        self.lock().write_all(&line)?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn flush(&self, _timeout: Duration) -> Result<(), SinkError> {
        Ok(self.flush_now()?)
    }

    async fn shutdown(&self, _timeout: Duration) -> Result<(), SinkError> {
        self.closed.store(true, Ordering::Release);
        Ok(self.flush_now()?)
    }
}
