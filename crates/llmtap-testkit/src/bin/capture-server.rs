//! The scriptable capture server as a process, for tests in other languages
//! (the Python package's pytest suite).
//!
//! ```sh
//! cargo run -p llmtap-testkit --bin capture-server
//! ```
//!
//! The first line of stdout is the server's URL (`http://127.0.0.1:PORT`).
//! Then each line of stdin is one JSON command, answered by one JSON line
//! on stdout:
//!
//! - `{"script": [{"status": 500, "times": 3}, {"status": 429, "retry_after": "1"}]}`:
//!   replies for the next requests, in order ([`CaptureServer::script`]);
//! - `{"outage": 500}` answers every request 500 until `{"outage": null}`;
//! - `{"refuse": true}` closes the port (connections refused), `{"refuse": false}`
//!   listens again;
//! - `{"requests": true}`: `{"requests": [{"status": 200, "uuids": [...],
//!   "gzip": true, "batch": [...events...]}, ...]}`, every request so far.
//!
//! Every other command answers `{"ok": true}`, or `{"error": "..."}`. The
//! server stops when stdin closes.

use std::io::{self, BufRead, Write};

use llmtap_testkit::{CaptureServer, Reply};
use serde_json::{json, Value};

fn main() -> io::Result<()> {
    let server = CaptureServer::start();
    let mut out = io::stdout().lock();
    writeln!(out, "{}", server.url())?;
    out.flush()?;
    for line in io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(command) => run(&server, &command).unwrap_or_else(|e| json!({"error": e})),
            Err(e) => json!({"error": format!("not JSON: {e}")}),
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

fn run(server: &CaptureServer, command: &Value) -> Result<Value, String> {
    if let Some(replies) = command.get("script") {
        let replies = replies.as_array().ok_or("script: expected a list")?;
        let mut script = Vec::new();
        for r in replies {
            let times = r.get("times").and_then(Value::as_u64).unwrap_or(1);
            let reply = reply(r)?;
            script.extend(std::iter::repeat_n(reply, times as usize));
        }
        server.script(script);
    } else if let Some(outage) = command.get("outage") {
        server.answer_all(match outage {
            Value::Null => None,
            v => Some(reply(&json!({"status": v}))?),
        });
    } else if let Some(refuse) = command.get("refuse") {
        match refuse.as_bool() {
            Some(true) => server.refuse_connections(),
            Some(false) => server.accept_connections(),
            None => return Err("refuse: expected true or false".into()),
        }
    } else if command.get("requests").is_some() {
        let requests: Vec<Value> = server
            .requests()
            .into_iter()
            .map(|r| {
                json!({
                    "status": r.status,
                    "gzip": r.gzip,
                    "uuids": r.uuids,
                    "batch": r.body.as_ref().and_then(|b| b.get("batch")).cloned(),
                    "api_key": r.body.as_ref().and_then(|b| b.get("api_key")).cloned(),
                })
            })
            .collect();
        return Ok(json!({ "requests": requests }));
    } else {
        return Err(format!("unknown command {command}"));
    }
    Ok(json!({"ok": true}))
}

fn reply(spec: &Value) -> Result<Reply, String> {
    let status = spec
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or("a reply needs a status")?;
    Ok(match spec.get("retry_after").and_then(Value::as_str) {
        Some(after) => Reply::retry_after(status, after),
        None => Reply::status(status),
    })
}
