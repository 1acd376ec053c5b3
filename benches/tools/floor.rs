//! The floor of the end-to-end benchmark: read a JSONL file exactly the way
//! `llmtap replay` does (1 MiB `BufReader`, `read_until('\n')`, trimmed lines)
//! and parse each line with `serde_json::from_slice::<IgnoredAny>`, the least
//! any JSON consumer must do. Timed by the caller (`/usr/bin/time`), like replay.
//!
//! ```sh
//! cargo run --release --example floor -- payloads.jsonl
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::ExitCode;
use std::time::Instant;

use serde::de::IgnoredAny;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: floor FILE.jsonl");
        return ExitCode::FAILURE;
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("floor: cannot open {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let (mut parsed, mut bad, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("floor: cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
        let entry = line.trim_ascii();
        if entry.is_empty() {
            continue;
        }
        bytes += entry.len() as u64;
        match serde_json::from_slice::<IgnoredAny>(entry) {
            Ok(_) => parsed += 1,
            Err(_) => bad += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "floor: {parsed} payloads parsed ({bad} bad), {bytes} bytes, {secs:.3} s, {:.0} MB/s",
        bytes as f64 / secs / 1e6
    );
    if parsed == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
