//! Load client for `llmtap serve`: CLIENTS keep-alive connections post JSON
//! arrays of BATCH payloads to `POST /litellm` back to back, as LiteLLM's
//! generic API logger does with a batch size of BATCH, for a fixed duration,
//! then print one JSON line of counts and latencies on stdout.
//!
//! ```sh
//! llmtap generate -n 2048 -o payloads.jsonl
//! cargo run --release --example load_client -- --url http://127.0.0.1:4319/litellm \
//!     --payloads payloads.jsonl --clients 4 --batch 512 --duration-secs 60
//! ```
//!
//! Every body is built before the clock starts: each client holds one JSON
//! array of BATCH payloads from the file (client `c` starts at payload
//! `c * BATCH`, cycling), in which every payload's `litellm_call_id` is
//! replaced by `load-<run>-<client>-<post>-<index>` with a fixed-width post
//! number. A post copies that array and writes the post number into its
//! slots, so every payload ever posted has its own call id, hence its own
//! event uuid (which `serve`'s dedup window would otherwise drop), for the
//! price of one memcpy. The other fields are the file's bytes as they are.
//!
//! Each client posts its next body as soon as the previous answer is in; no
//! new post starts after the duration, and the ones in flight are waited for.
//! A 503 is counted and followed by the next post at once (LiteLLM does not
//! retry either). Traffic goes to loopback addresses only.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;

/// Width of the post number written into every call id.
const POST_DIGITS: usize = 10;

const USAGE: &str = "usage: load_client --url URL --payloads FILE [--clients N] [--batch N] \
[--duration-secs S] [--rate PAYLOADS_PER_S] [--threads N] [--token TOKEN] [--timeline FILE]";

#[derive(Debug)]
struct Options {
    url: String,
    payloads: String,
    clients: usize,
    batch: usize,
    duration: Duration,
    /// Payloads per second offered by all clients together; `None`: as fast
    /// as answers come.
    rate: Option<f64>,
    threads: usize,
    token: Option<String>,
    /// Where to write answers per second (TSV).
    timeline: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut url = None;
    let mut payloads = None;
    let mut o = Options {
        url: String::new(),
        payloads: String::new(),
        clients: 4,
        batch: 512,
        duration: Duration::from_secs(60),
        rate: None,
        threads: 1,
        token: None,
        timeline: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|e| format!("{arg} {v}: {e}"))
                .and_then(|n| {
                    if n == 0 {
                        Err(format!("{arg} must be at least 1"))
                    } else {
                        Ok(n)
                    }
                })
        };
        match arg.as_str() {
            "--url" => url = Some(value()?),
            "--payloads" => payloads = Some(value()?),
            "--clients" => o.clients = number(value()?)?,
            "--batch" => o.batch = number(value()?)?,
            "--duration-secs" => {
                let v = value()?;
                let secs: f64 = v.parse().map_err(|e| format!("{arg} {v}: {e}"))?;
                o.duration = Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())?;
            }
            "--rate" => {
                let v = value()?;
                let rate: f64 = v.parse().map_err(|e| format!("{arg} {v}: {e}"))?;
                // 0 (or less): unpaced, the default.
                o.rate = (rate > 0.0).then_some(rate);
            }
            "--threads" => o.threads = number(value()?)?,
            "--token" => o.token = Some(value()?),
            "--timeline" => o.timeline = Some(value()?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            a => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    o.url = url.ok_or(format!("--url is required\n{USAGE}"))?;
    o.payloads = payloads.ok_or(format!("--payloads is required\n{USAGE}"))?;
    let parsed = reqwest::Url::parse(&o.url).map_err(|e| format!("--url {}: {e}", o.url))?;
    let host = parsed.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(format!(
            "--url must point at a loopback address, got {}",
            o.url
        ));
    }
    Ok(o)
}

/// One payload split around its `litellm_call_id` value.
struct Payload {
    /// Up to and including the opening quote of the call id.
    head: Vec<u8>,
    /// From the closing quote on.
    tail: Vec<u8>,
}

/// Reads the JSONL file: every line an object; its top-level
/// `litellm_call_id` is cut out (added when absent).
fn read_payloads(path: &str) -> Result<Vec<Payload>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{path}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(&line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        // The call id's value is a control byte here, which no JSON text
        // holds raw: the split point.
        let mut entries: Vec<Vec<u8>> = Vec::with_capacity(fields.len() + 1);
        let mut call_id = b"\"litellm_call_id\":\"\x01\"".to_vec();
        for (key, value) in &fields {
            if key == "litellm_call_id" {
                entries.push(std::mem::take(&mut call_id));
                continue;
            }
            let mut entry = serde_json::to_vec(key).map_err(|e| e.to_string())?;
            entry.push(b':');
            entry.extend_from_slice(value.get().as_bytes());
            entries.push(entry);
        }
        if !call_id.is_empty() {
            entries.push(call_id);
        }
        let mut object = b"{".to_vec();
        object.extend_from_slice(&entries.join(&b","[..]));
        object.push(b'}');
        let cut = object
            .iter()
            .position(|&b| b == 1)
            .ok_or("no split point")?;
        let tail = object.split_off(cut + 1);
        object.pop();
        let head = object;
        out.push(Payload { head, tail });
    }
    if out.is_empty() {
        return Err(format!("{path}: no payloads"));
    }
    Ok(out)
}

/// A client's body with the offsets where the post number goes.
struct Template {
    body: Vec<u8>,
    slots: Vec<usize>,
}

fn template(payloads: &[Payload], client: usize, batch: usize, run: u32) -> Template {
    let mut body = Vec::new();
    let mut slots = Vec::with_capacity(batch);
    body.push(b'[');
    for i in 0..batch {
        if i > 0 {
            body.push(b',');
        }
        let p = &payloads[(client * batch + i) % payloads.len()];
        body.extend_from_slice(&p.head);
        body.extend_from_slice(format!("load-{run:08x}-{client:03}-").as_bytes());
        slots.push(body.len());
        body.extend_from_slice(&[b'0'; POST_DIGITS]);
        body.extend_from_slice(format!("-{i:05}").as_bytes());
        body.extend_from_slice(&p.tail);
    }
    body.push(b']');
    Template { body, slots }
}

impl Template {
    fn post(&self, number: u64) -> Vec<u8> {
        let digits = format!("{number:0width$}", width = POST_DIGITS);
        let mut body = self.body.clone();
        for &slot in &self.slots {
            body[slot..slot + POST_DIGITS].copy_from_slice(digits.as_bytes());
        }
        body
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct Tally {
    posts: u64,
    ok: u64,
    unavailable: u64,
    other: u64,
    /// Transport errors (connection refused or reset, timeouts).
    errors: u64,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    body_bytes: u64,
    /// Paced posts that started more than a period late (answers too slow
    /// for the rate).
    late: u64,
    /// Latency of every answered POST, µs.
    latencies: Vec<u64>,
    ok_latencies: Vec<u64>,
    unavailable_latencies: Vec<u64>,
    /// Per second since the start (when the answer came): 200s, 503s,
    /// other answers and errors, payloads accepted.
    timeline: Vec<[u64; 4]>,
}

impl Tally {
    /// The timeline slot of now.
    fn second(&mut self, started: Instant) -> &mut [u64; 4] {
        let second = started.elapsed().as_secs() as usize;
        if self.timeline.len() <= second {
            self.timeline.resize(second + 1, [0; 4]);
        }
        &mut self.timeline[second]
    }

    fn add(&mut self, other: Tally) {
        self.posts += other.posts;
        self.ok += other.ok;
        self.unavailable += other.unavailable;
        self.other += other.other;
        self.errors += other.errors;
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.body_bytes += other.body_bytes;
        self.late += other.late;
        self.latencies.extend(other.latencies);
        self.ok_latencies.extend(other.ok_latencies);
        self.unavailable_latencies
            .extend(other.unavailable_latencies);
        if self.timeline.len() < other.timeline.len() {
            self.timeline.resize(other.timeline.len(), [0; 4]);
        }
        for (mine, theirs) in self.timeline.iter_mut().zip(other.timeline) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
struct Answer {
    #[serde(default)]
    accepted: u64,
    #[serde(default)]
    duplicates: u64,
    #[serde(default)]
    rejected: u64,
}

async fn client(
    o: Arc<Options>,
    template: Template,
    index: usize,
    started: Instant,
    stop: Instant,
) -> Result<Tally, String> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let mut t = Tally::default();
    let mut number = 0u64;
    // Paced: this client's posts are due every `period`, its share of the rate.
    let period = o
        .rate
        .map(|rate| Duration::from_secs_f64(o.batch as f64 * o.clients as f64 / rate));
    // Staggered, so that the clients do not post all at once.
    let mut due = started + period.unwrap_or_default() * index as u32 / o.clients as u32;
    while Instant::now() < stop {
        if let Some(period) = period {
            let now = Instant::now();
            if due > now {
                tokio::time::sleep_until(due.into()).await;
                if Instant::now() >= stop {
                    break;
                }
            } else if now - due > period {
                // Behind by more than a post: the server is the limit; do
                // not burst to catch up.
                t.late += 1;
                due = now;
            }
            due += period;
        }
        let body = template.post(number);
        number += 1;
        t.posts += 1;
        t.body_bytes += body.len() as u64;
        let mut request = http
            .post(&o.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = &o.token {
            request = request.bearer_auth(token);
        }
        let sent = Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(_) => {
                t.errors += 1;
                t.second(started)[2] += 1;
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let text = response.bytes().await.unwrap_or_default();
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        t.latencies.push(micros);
        match status {
            200 => {
                t.ok += 1;
                t.ok_latencies.push(micros);
                let a: Answer = serde_json::from_slice(&text).unwrap_or_default();
                t.accepted += a.accepted;
                let slot = t.second(started);
                slot[0] += 1;
                slot[3] += a.accepted;
                t.duplicates += a.duplicates;
                t.rejected += a.rejected;
            }
            503 => {
                t.unavailable += 1;
                t.second(started)[1] += 1;
                t.unavailable_latencies.push(micros);
            }
            _ => {
                t.other += 1;
                t.second(started)[2] += 1;
                if t.other <= 3 {
                    eprintln!(
                        "load_client: {status} after {:.1} s: {}",
                        started.elapsed().as_secs_f64(),
                        String::from_utf8_lossy(&text[..text.len().min(300)])
                    );
                }
            }
        }
    }
    Ok(t)
}

/// `p`-th percentile (0–100) of sorted µs, in ms.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn distribution(name: &str, mut v: Vec<u64>) -> String {
    v.sort_unstable();
    let mean = if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0
    };
    format!(
        "\"{name}_mean_ms\":{mean:.2},\"{name}_p50_ms\":{:.2},\"{name}_p90_ms\":{:.2},\"{name}_p99_ms\":{:.2},\"{name}_max_ms\":{:.2}",
        percentile(&v, 50.0),
        percentile(&v, 90.0),
        percentile(&v, 99.0),
        percentile(&v, 100.0),
    )
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let payloads = match read_payloads(&o.payloads) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("load_client: {e}");
            std::process::exit(1);
        }
    };
    // Distinct call ids across runs against the same server too.
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    let templates: Vec<Template> = (0..o.clients)
        .map(|c| template(&payloads, c, o.batch, run))
        .collect();
    let body_bytes = templates[0].body.len();
    eprintln!(
        "load_client: {} clients x {} payloads per POST ({:.1} MB each, {} distinct payloads in the file), {:.0} s",
        o.clients,
        o.batch,
        body_bytes as f64 / 1e6,
        payloads.len(),
        o.duration.as_secs_f64()
    );
    drop(payloads);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let o = Arc::new(o);
    let (tally, elapsed) = runtime.block_on(async {
        let started = Instant::now();
        let stop = started + o.duration;
        let mut tasks = tokio::task::JoinSet::new();
        for (index, t) in templates.into_iter().enumerate() {
            tasks.spawn(client(o.clone(), t, index, started, stop));
        }
        let mut total = Tally::default();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(t)) => total.add(t),
                Ok(Err(e)) => eprintln!("load_client: {e}"),
                Err(e) => eprintln!("load_client: a client failed: {e}"),
            }
        }
        (total, started.elapsed())
    });
    if let Some(path) = &o.timeline {
        let mut tsv = String::from("second\tposts_200\tposts_503\tother_or_error\taccepted\n");
        for (second, [ok, unavailable, other, accepted]) in tally.timeline.iter().enumerate() {
            tsv.push_str(&format!(
                "{second}\t{ok}\t{unavailable}\t{other}\t{accepted}\n"
            ));
        }
        if let Err(e) = std::fs::write(path, tsv) {
            eprintln!("load_client: {path}: {e}");
        }
    }
    let secs = elapsed.as_secs_f64();
    let payloads_sent = tally.posts * o.batch as u64;
    println!(
        "{{\"clients\":{},\"batch\":{},\"duration_s\":{:.3},\"posts\":{},\"status_200\":{},\"status_503\":{},\"status_other\":{},\"errors\":{},\"payloads_sent\":{payloads_sent},\"accepted\":{},\"duplicates\":{},\"rejected\":{},\"accepted_per_s\":{:.1},\"rate\":{},\"late_posts\":{},\"mb_per_s\":{:.1},{},{},{}}}",
        o.clients,
        o.batch,
        secs,
        tally.posts,
        tally.ok,
        tally.unavailable,
        tally.other,
        tally.errors,
        tally.accepted,
        tally.duplicates,
        tally.rejected,
        tally.accepted as f64 / secs,
        o.rate.unwrap_or(0.0),
        tally.late,
        tally.body_bytes as f64 / secs / 1e6,
        distribution("latency", tally.latencies),
        distribution("latency_200", tally.ok_latencies),
        distribution("latency_503", tally.unavailable_latencies),
    );
}
