//! `llmtap generate`: seeded realistic payloads for benchmarks and load tests.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use llmtap_cli::generate::{CacheRegression, Generator};

/// Arguments of `llmtap generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many payloads to write.
    #[arg(short = 'n', long, default_value_t = 1000)]
    count: u64,
    /// The same seed writes the same payloads.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write here instead of standard output (JSONL).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Tell one story instead of the realistic mix.
    #[arg(long, value_enum)]
    scenario: Option<Scenario>,
}

/// The stories `--scenario` tells.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    /// A cached Anthropic system prompt; a deploy appends the time to it
    /// (every prefix differs, nothing is read back); then the fix.
    CacheRegression,
}

/// Writes `count` payloads as JSONL.
pub fn run(args: GenerateArgs) -> Result<ExitCode, String> {
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let lines: Box<dyn Iterator<Item = String>> = match args.scenario {
        None => {
            let mut generator = Generator::new(args.seed);
            Box::new((0..args.count).map(move |_| generator.next_line()))
        }
        Some(Scenario::CacheRegression) => {
            let mut story = CacheRegression::new(args.seed, args.count);
            Box::new(std::iter::from_fn(move || story.next_line()))
        }
    };
    write_payloads(&mut out, lines).map_err(|e| format!("writing payloads failed: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

fn write_payloads(out: &mut impl Write, lines: impl Iterator<Item = String>) -> io::Result<()> {
    for line in lines {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
