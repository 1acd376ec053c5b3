//! Command-line entry point. The only code that knows about processes, flags,
//! files and exit codes; everything else is the library.

mod generate;
mod input;
mod replay;
mod report;
mod serve;
mod settings;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// LiteLLM standard logging payloads in, PostHog `$ai_generation` events out.
#[derive(Debug, Parser)]
#[command(name = "llmtap", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Turn a file of payloads (JSONL, JSON array or one object) into events.
    Replay(Box<replay::ReplayArgs>),
    /// Receive LiteLLM's generic API logger and ship events (the sidecar).
    Serve(Box<serve::ServeArgs>),
    /// Write seeded, realistic payloads (JSONL) for benchmarks and load tests.
    Generate(generate::GenerateArgs),
    /// Cache figures of payload files, or of the calls PostgreSQL stores: an HTML page or text tables.
    Report(Box<report::ReportArgs>),
}

/// Parses arguments, runs the command, and maps its outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_env("LLMTAP_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    // The sidecar serves requests on every core; one-shot commands need one thread.
    let runtime = match &cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("llmtap: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Replay(args) => runtime.block_on(replay::run(*args)),
        Command::Generate(args) => generate::run(args),
        Command::Report(args) => report::run(*args),
        Command::Serve(args) => runtime.block_on(serve::run(*args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("llmtap: {e}");
            ExitCode::FAILURE
        }
    }
}
