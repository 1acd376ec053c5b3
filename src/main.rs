//! The `llmtap` binary: replay payload files, or run as a LiteLLM sidecar.
//!
//! - `cli`: the commands (`replay`, `serve`, `generate`), their settings
//!   (each declared once, in `cli/settings.rs` and the command's module), and
//!   the replay summary.
//! - `server`: `llmtap serve`'s HTTP side (axum): routes, metrics, the
//!   re-send window. It composes the library's `Pipeline` and `Sink`; it
//!   builds no events of its own.
//! - `webhook`: `--alert-webhook`, cache alerts posted from a thread of its own.
//!
//! Everything else lives in the library crates: `llmtap` (payload → usage →
//! event) and `llmtap-export` (delivery).

/// glibc's allocator serialized the reader and the exporter thread on its
/// arena lock; mimalloc cut CPU 10-30% (BENCHMARKS.md). Binary only: an
/// embedding gateway keeps its own allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod server;
mod webhook;

fn main() -> std::process::ExitCode {
    cli::main()
}
