//! The `llmtap` binary: replay payload files, or run as a LiteLLM sidecar.

/// glibc's allocator serialized the reader and the exporter thread on its
/// arena lock; mimalloc cut CPU 10-30% (BENCHMARKS.md). Binary only: an
/// embedding gateway keeps its own allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod server;

fn main() -> std::process::ExitCode {
    cli::main()
}
