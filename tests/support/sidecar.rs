//! `llmtap serve` as the tests run it: the real binary on 127.0.0.1, its
//! address read from stderr, stopped with SIGTERM like a deployment stops it.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::process::{Collected, Proc};
use super::{CaptureServer, PATIENCE, TEST_KEY};

/// What `serve` prints once it accepts connections.
const LISTENING: &str = "llmtap serve: listening on http://";

/// A running `llmtap serve` in its own process group, killed on drop.
pub struct Sidecar {
    proc: Proc,
    addr: SocketAddr,
    stderr: Collected,
}

impl Sidecar {
    /// Serve shipping to `capture` with [`TEST_KEY`], plus `extra` flags.
    pub fn start(capture: &CaptureServer, extra: &[&str]) -> Sidecar {
        let host = capture.url();
        Self::spawn(
            &[
                ("POSTHOG_HOST", host.as_str()),
                ("POSTHOG_API_KEY", TEST_KEY),
            ],
            extra,
        )
        .unwrap_or_else(|e| panic!("llmtap serve did not start: {e}"))
    }

    /// `llmtap serve --listen 127.0.0.1:0 EXTRA…` (no `--listen` added when
    /// `extra` has one) with `env` and none of the caller's `POSTHOG_*` or
    /// `LLMTAP_*` variables. `Err` holds the exit status and stderr when it
    /// exits, or hangs, without saying where it listens.
    pub fn spawn(env: &[(&str, &str)], extra: &[&str]) -> Result<Sidecar, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_llmtap"));
        cmd.arg("serve");
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if inherited_setting(&key) {
                cmd.env_remove(key);
            }
        }
        cmd.envs(env.iter().copied());

        let mut proc = Proc::spawn("llmtap serve", &mut cmd);
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = proc.collect_stderr_with(move |line| {
            if let Some(addr) = line.strip_prefix(LISTENING) {
                let _ = tx.send(addr.trim().to_owned());
            }
        });
        // Disconnected as soon as stderr closes: an early exit is not waited out.
        match rx.recv_timeout(PATIENCE) {
            Ok(addr) => Ok(Sidecar {
                addr: addr
                    .parse()
                    .unwrap_or_else(|e| panic!("serve printed `{addr}`: {e}")),
                proc,
                stderr,
            }),
            Err(_) => {
                let status = proc.wait_for(Duration::from_secs(1));
                let status = status.map_or("still running".into(), |s| s.to_string());
                Err(format!("{status}: {}", stderr.finish()))
            }
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// One scrape of `/metrics`.
    pub async fn metrics(&self) -> String {
        let resp = reqwest::get(self.url("/metrics")).await.expect("scrape");
        resp.text().await.expect("metrics text")
    }

    /// Scrapes until `line` shows up (or [`PATIENCE`] runs out): the capture
    /// server records a batch before the exporter has read its answer and
    /// counted it delivered.
    pub async fn metrics_with(&self, line: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let metrics = self.metrics().await;
            if metrics.contains(line) || Instant::now() > deadline {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends `signal` (`-TERM`, `-INT`) and returns at once.
    pub fn signal(&self, signal: &str) {
        self.proc.signal(signal);
    }

    /// Waits up to `patience` for the exit: the status (`None` if it was
    /// still running and was killed) and all of stderr.
    pub fn wait(mut self, patience: Duration) -> (Option<ExitStatus>, String) {
        let status = self.proc.wait_for(patience);
        (status, self.stderr.finish())
    }

    /// `kill -9`: no shutdown, no flush. Returns stderr up to then.
    pub fn kill(mut self) -> String {
        self.proc.kill();
        self.stderr.finish()
    }

    /// SIGTERM (stop accepting, flush, exit), then the exit status (`None`
    /// if it did not exit within twice [`PATIENCE`] and was killed) and all
    /// of stderr.
    pub fn terminate(mut self) -> (Option<ExitStatus>, String) {
        self.proc.signal("-TERM");
        let status = self.proc.wait_for(PATIENCE * 2);
        (status, self.stderr.finish())
    }
}

/// A variable of the caller's environment that would change how serve runs.
fn inherited_setting(key: &OsStr) -> bool {
    let key = key.to_string_lossy();
    key.starts_with("POSTHOG_") || key.starts_with("LLMTAP_")
}
