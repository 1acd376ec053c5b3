//! A fast capture API peer for the end-to-end benchmark: `POST /batch/` is read
//! in full and answered `{"status":"Ok"}`, nothing decoded or kept. It runs as
//! its own process so that its CPU is not counted as llmtap's.
//!
//! ```sh
//! cargo run --release --example capture_peer -- 127.0.0.1:0   # prints the bound address
//! curl -s http://ADDR/stats                                     # {"requests":N,"body_bytes":B}
//! ```
//!
//! Loopback addresses only. Stop it with a signal.

use std::io::Write;
use std::sync::Arc;

#[path = "../support/peer.rs"]
mod peer;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = peer::bind_loopback(&addr)?;
    // The first line of stdout is the address, for scripts.
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", listener.local_addr()?)?;
    out.flush()?;
    drop(out);
    peer::serve(listener, Arc::new(peer::PeerStats::default()));
    Ok(())
}
