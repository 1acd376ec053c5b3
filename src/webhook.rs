//! `--alert-webhook URL`: each cache alert as a Slack-compatible
//! `{"text": "…"}` POST, from a thread of its own.
//!
//! The pipeline must never wait on a chat service: `send` only puts the
//! alert's one line in a bounded channel, and a full channel drops it
//! (counted, and said at the end). The thread has its own small runtime, so
//! it works the same under `serve`'s runtime and `replay`'s, and a slow or
//! dead hook costs the pipeline nothing. The URL is a secret (Slack's carries
//! its token), held as an `ApiKey`: it is never logged, printed by `Debug`,
//! or left in an error (reqwest's errors name the URL; they are stripped).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use llmtap::Alert;
use llmtap_export::ApiKey;

/// Alerts waiting for the hook; more are dropped, counted.
const BACKLOG: usize = 256;
/// Longest one POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// The hook's URL, checked at start: http(s) only.
pub fn url(s: &str) -> Result<ApiKey, &'static str> {
    let t = s.trim();
    if t.starts_with("https://") || t.starts_with("http://") {
        Ok(ApiKey::new(t))
    } else {
        Err("the alert webhook must be an http:// or https:// URL")
    }
}

/// serde for the URL in `serve`'s `--config` file.
pub fn url_from_file<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ApiKey>, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    url(&s).map(Some).map_err(serde::de::Error::custom)
}

/// A running webhook sender.
#[derive(Debug)]
pub struct Webhook {
    tx: Mutex<Option<SyncSender<String>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Webhook {
    /// Starts the sender thread for `url`.
    pub fn start(url: ApiKey) -> std::io::Result<Webhook> {
        let (tx, rx) = sync_channel::<String>(BACKLOG);
        let counts = Arc::new(Counts::default());
        let thread_counts = counts.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .user_agent(concat!("llmtap/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(std::io::Error::other)?;
        let thread = std::thread::Builder::new()
            .name("llmtap-webhook".into())
            .spawn(move || {
                while let Ok(text) = rx.recv() {
                    let body = serde_json::json!({ "text": text }).to_string();
                    // Built inside the runtime: the request's timeout timer needs it.
                    let sent = runtime.block_on(async {
                        client
                            .post(url.expose())
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await
                    });
                    match sent.map(|r| r.status()) {
                        Ok(status) if status.is_success() => {
                            thread_counts.sent.fetch_add(1, Ordering::Relaxed);
                        }
                        outcome => {
                            thread_counts.failed.fetch_add(1, Ordering::Relaxed);
                            // Never the URL: a status, or the error without it.
                            let why = match outcome {
                                Ok(status) => status.to_string(),
                                Err(e) => e.without_url().to_string(),
                            };
                            tracing::warn!(error = %why, "Alert webhook failed.");
                        }
                    }
                }
            })?;
        Ok(Webhook {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            counts,
        })
    }

    /// Queues `alert` for the hook; never waits.
    pub fn send(&self, alert: &Alert) {
        let tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = tx.as_ref() else { return };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            tx.try_send(alert.to_string())
        {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends what is queued, waiting at most `timeout`; says what became of
    /// the alerts when any was not delivered.
    pub fn close(&self, timeout: Duration) {
        drop(
            self.tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let deadline = Instant::now() + timeout;
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        let c = &self.counts;
        let (sent, failed, dropped) = (
            c.sent.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
        );
        if failed + dropped > 0 {
            tracing::warn!(
                sent,
                failed,
                dropped,
                "Some alerts did not reach the webhook."
            );
        }
    }
}
