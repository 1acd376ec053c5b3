//! The `llmtap` binary: replay payload files, or run as a LiteLLM sidecar.

mod cli;
mod server;

fn main() -> std::process::ExitCode {
    cli::main()
}
