//! `llmtap generate`: seeded realistic payloads for benchmarks and load tests.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use llmtap_cli::generate::Generator;

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
    let mut generator = Generator::new(args.seed);
    write_payloads(&mut out, &mut generator, args.count)
        .map_err(|e| format!("writing payloads failed: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

fn write_payloads(out: &mut impl Write, generator: &mut Generator, count: u64) -> io::Result<()> {
    for _ in 0..count {
        out.write_all(generator.next_line().as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
