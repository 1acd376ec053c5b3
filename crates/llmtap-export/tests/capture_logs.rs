//! What the capture exporter logs: one warning on the first drop, a total at
//! shutdown, and never the API key. Its own binary, because it installs a
//! process-wide subscriber (the worker logs from its own thread).

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::{builder, event, CaptureServer, ServerOptions, PATIENCE, TEST_KEY};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn warns_once_reports_totals_and_never_logs_the_key() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    // The server wants another key, and echoes nothing; the client's key
    // must not appear even in debug output.
    let server = CaptureServer::start_with(ServerOptions {
        api_key: Some("phc_other".into()),
        ..ServerOptions::default()
    });
    let client = builder(&server).build().unwrap();
    for i in 0..3 {
        client.capture(event(i)).unwrap();
    }
    let mut bad = event(9);
    bad.distinct_id.clear();
    assert!(client.capture(bad).is_err());
    client.flush_blocking(PATIENCE);
    client.capture(event(3)).unwrap();
    let report = client.shutdown_blocking(PATIENCE);
    assert_eq!(report.dropped.total(), 5);

    let debug = format!("{client:?}");
    assert!(!debug.contains(TEST_KEY), "{debug}");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!text.contains(TEST_KEY), "{text}");
    assert_eq!(text.matches("Dropped events").count(), 1, "{text}");
    assert!(text.contains("reason=\"invalid\""), "{text}");
    assert_eq!(text.matches("refused a batch").count(), 1, "{text}");
    assert!(text.contains("status=401"), "{text}");
    assert!(
        text.contains("shut down with dropped events") && text.contains("invalid=1, rejected=4"),
        "{text}"
    );
}
