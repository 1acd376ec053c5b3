//! A PostHog capture API (`POST /batch/`) on 127.0.0.1 for tests.
//!
//! It behaves like PostHog's `rust/capture` where tests care: accepts gzip
//! (header or magic bytes) and plain JSON, answers 200 `{"status":"Ok"}`,
//! 400 when any event in the batch is invalid, 401 without an API key, 413
//! over a size. It can be scripted to answer anything instead (500, 429 with
//! `Retry-After`, slow, held until a [`Gate`] opens), and it can stop
//! listening so connections are refused. Every request is recorded, body
//! decoded.
//!
//! The server runs on its own thread and tokio runtime, so it works the same
//! from sync tests, async tests, current-thread runtimes that block, and
//! paused clocks (its delays are real). Dropping it stops it.
//!
//! ```ignore
//! let server = CaptureServer::start();
//! server.script([Reply::status(500), Reply::retry_after(429, "3")]);
//! // ... point a client at server.url() ...
//! assert!(server.wait_for_requests(3, PATIENCE));
//! assert_eq!(sorted(server.received_uuids()), sorted(uuids(0..10)));
//! ```

use std::collections::VecDeque;
use std::io::Read;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::CONTENT_ENCODING;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use flate2::read::GzDecoder;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Limits the server enforces when it answers on its own.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Decoded body bytes above which the batch gets 413.
    pub max_body_bytes: usize,
    /// Serialized event bytes above which the batch gets 413 (PostHog: ~1 MB).
    pub max_event_bytes: usize,
    /// When set, any other API key gets 401.
    pub api_key: Option<String>,
    /// Events with these uuids are invalid: a batch holding one gets 400, as
    /// the real API answers for an event it refuses (one a client's own
    /// checks let through).
    pub invalid_uuids: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_body_bytes: 20 * 1024 * 1024,
            max_event_bytes: 1_000_000,
            api_key: None,
            invalid_uuids: Vec::new(),
        }
    }
}

/// Opens held replies; see [`Reply::gated`].
#[derive(Debug, Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Gate(Arc::new(watch::Sender::new(false)))
    }

    /// Releases every reply waiting on this gate, now and later.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn passed(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

/// How the server answers one request.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// `None`: validate and answer as the real API would.
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    delay: Duration,
    gate: Option<Gate>,
}

impl Reply {
    /// Answer as the real API would (200, 400, 401 or 413).
    pub fn normal() -> Self {
        Self::default()
    }

    /// Answer `code` whatever the request.
    pub fn status(code: u16) -> Self {
        Reply {
            status: Some(code),
            ..Self::default()
        }
    }

    /// Answer `code` with a `Retry-After` header.
    pub fn retry_after(code: u16, value: impl Into<String>) -> Self {
        Self::status(code).header("retry-after", value)
    }

    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the response body.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Waits this long (real time) before answering.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Holds the answer until `gate` opens; the request is recorded at once.
    pub fn gated(mut self, gate: &Gate) -> Self {
        self.gate = Some(gate.clone());
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request path (`/batch/`).
    pub path: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// Body bytes on the wire.
    pub wire_bytes: usize,
    /// The body was gzip.
    pub gzip: bool,
    /// The decoded body, when it was JSON.
    pub body: Option<Value>,
    /// `uuid` of each event in `batch`, in order.
    pub uuids: Vec<String>,
    /// The status answered; `None` while held, or if the client gave up first.
    pub status: Option<u16>,
}

impl Recorded {
    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Answered with a 2xx: PostHog would have ingested it.
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

struct Shared {
    options: ServerOptions,
    script: Mutex<VecDeque<Reply>>,
    /// What requests get once the script is used up (`None`: the normal answer).
    fallback: Mutex<Option<Reply>>,
    log: Mutex<Vec<Recorded>>,
    changed: Condvar,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Vec<Recorded>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, request: Recorded) -> usize {
        let mut log = self.log();
        log.push(request);
        self.changed.notify_all();
        log.len() - 1
    }

    fn answered(&self, index: usize, status: u16) {
        self.log()[index].status = Some(status);
        self.changed.notify_all();
    }
}

enum Control {
    Listen(StdListener),
    Refuse(std::sync::mpsc::Sender<()>),
    Stop,
}

/// The running server. Dropping it stops it.
pub struct CaptureServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    listening: AtomicBool,
    thread: Option<JoinHandle<()>>,
}

impl CaptureServer {
    /// Starts with default limits on a free port.
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default())
    }

    /// Starts with `options` on a free port.
    pub fn start_with(options: ServerOptions) -> Self {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            options,
            script: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        });
        let app = Router::new()
            .route("/batch/", post(batch))
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let (control, rx) = mpsc::unbounded_channel();
        control
            .send(Control::Listen(listener))
            .unwrap_or_else(|_| unreachable!("receiver is alive"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        let thread = std::thread::Builder::new()
            .name("capture-server".into())
            .spawn(move || runtime.block_on(run(app, rx)))
            .expect("server thread");
        CaptureServer {
            addr,
            shared,
            control,
            listening: AtomicBool::new(true),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, the host to give a client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues replies for the next requests, in order; once they are used
    /// up the server answers normally again.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(replies);
    }

    /// Answers every request with `reply` (an outage: `Reply::status(500)`)
    /// once the script is used up, until called again with `None`.
    pub fn answer_all(&self, reply: Option<Reply>) {
        *self
            .shared
            .fallback
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = reply;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log().clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.shared.log().len()
    }

    /// Uuids of the events in requests answered 2xx, in arrival order;
    /// duplicates are kept so tests can catch them.
    pub fn received_uuids(&self) -> Vec<String> {
        self.shared
            .log()
            .iter()
            .filter(|r| r.accepted())
            .flat_map(|r| r.uuids.clone())
            .collect()
    }

    /// Every event of every accepted batch, in arrival order.
    pub fn accepted_events(&self) -> Vec<Value> {
        self.shared
            .log()
            .iter()
            .filter(|r| r.accepted())
            .filter_map(|r| r.body.as_ref()?["batch"].as_array().cloned())
            .flatten()
            .collect()
    }

    /// Blocks until accepted batches hold `n` events, or `patience` ran out.
    pub fn wait_for_events(&self, n: usize, patience: Duration) -> bool {
        self.wait_until(patience, |log| {
            log.iter()
                .filter(|r| r.accepted())
                .map(|r| r.uuids.len())
                .sum::<usize>()
                >= n
        })
    }

    /// Blocks until `n` requests arrived (answered or not), or `patience` ran out.
    pub fn wait_for_requests(&self, n: usize, patience: Duration) -> bool {
        self.wait_until(patience, |log| log.len() >= n)
    }

    /// Blocks until `ready` holds for the request log, or `patience` ran out.
    pub fn wait_until(&self, patience: Duration, ready: impl Fn(&[Recorded]) -> bool) -> bool {
        let log = self.shared.log();
        let (log, _) = self
            .shared
            .changed
            .wait_timeout_while(log, patience, |log| !ready(log))
            .unwrap_or_else(PoisonError::into_inner);
        ready(&log)
    }

    /// Closes the listening socket and every open connection: from now on
    /// connections are refused. Returns once that is so.
    pub fn refuse_connections(&self) {
        if !self.listening.swap(false, Ordering::SeqCst) {
            return;
        }
        let (ack, done) = std::sync::mpsc::channel();
        if self.control.send(Control::Refuse(ack)).is_ok() {
            let _ = done.recv_timeout(super::PATIENCE);
        }
    }

    /// Listens again on the same port. Returns once connections are accepted
    /// (by the kernel; the server picks them up right after).
    pub fn accept_connections(&self) {
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let listener = StdListener::bind(self.addr).expect("rebind the same port");
        let _ = self.control.send(Control::Listen(listener));
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn run(app: Router, mut control: mpsc::UnboundedReceiver<Control>) {
    let mut listener: Option<TcpListener> = None;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = accept(listener.as_ref()) => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve(stream, app.clone()));
                }
            }
            Some(_) = connections.join_next() => {}
            message = control.recv() => match message {
                Some(Control::Listen(std)) => {
                    std.set_nonblocking(true).expect("nonblocking listener");
                    listener = Some(TcpListener::from_std(std).expect("tokio listener"));
                }
                Some(Control::Refuse(ack)) => {
                    listener = None;
                    connections.abort_all();
                    while connections.join_next().await.is_some() {}
                    let _ = ack.send(());
                }
                Some(Control::Stop) | None => return,
            },
        }
    }
}

async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

async fn serve(stream: TcpStream, app: Router) {
    let service = hyper_util::service::TowerToHyperService::new(app);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
}

async fn batch(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = shared
        .script
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop_front()
        .or_else(|| {
            shared
                .fallback
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
        .unwrap_or_default();
    let gzip = headers
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
        || body.starts_with(&[0x1f, 0x8b]);
    let decoded = if gzip {
        gunzip(&body, shared.options.max_body_bytes)
    } else {
        Ok(body.to_vec())
    };
    let json: Option<Value> = decoded
        .as_ref()
        .ok()
        .and_then(|b| serde_json::from_slice(b).ok());
    let uuids = json
        .as_ref()
        .and_then(|j| j.get("batch"))
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e.get("uuid").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let index = shared.record(Recorded {
        path: "/batch/".into(),
        headers,
        wire_bytes: body.len(),
        gzip,
        body: json.clone(),
        uuids,
        status: None,
    });

    if let Some(gate) = &reply.gate {
        gate.passed().await;
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let (status, text) = match reply.status {
        Some(code) => (
            code,
            reply
                .body
                .unwrap_or_else(|| json!({"status": code}).to_string()),
        ),
        None => judge(&shared.options, decoded, json.as_ref()),
    };
    shared.answered(index, status);

    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        text,
    )
        .into_response();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    GzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("invalid gzip: {e}"))?;
    Ok(out)
}

/// The real API's answer: 400 invalid, 401 no key, 413 too large, else 200.
fn judge(
    options: &ServerOptions,
    decoded: Result<Vec<u8>, String>,
    json: Option<&Value>,
) -> (u16, String) {
    let error = |status: u16, detail: &str| {
        (
            status,
            json!({"type": "validation_error", "detail": detail}).to_string(),
        )
    };
    let decoded = match decoded {
        Ok(d) => d,
        Err(e) => return error(400, &e),
    };
    if decoded.len() > options.max_body_bytes {
        return error(413, "payload too large");
    }
    let Some(json) = json else {
        return error(400, "body is not JSON");
    };
    let key = json.get("api_key").and_then(Value::as_str).unwrap_or("");
    if key.is_empty() || options.api_key.as_deref().is_some_and(|k| k != key) {
        return (
            401,
            json!({"type": "authentication_error", "detail": "invalid API key"}).to_string(),
        );
    }
    let Some(events) = json.get("batch").and_then(Value::as_array) else {
        return error(400, "batch is not an array");
    };
    for event in events {
        if event.to_string().len() > options.max_event_bytes {
            return error(413, "event too large");
        }
        if let Err(detail) = check_event(event) {
            return error(400, &detail);
        }
        let uuid = event.get("uuid").and_then(Value::as_str);
        if uuid.is_some_and(|u| options.invalid_uuids.iter().any(|bad| bad == u)) {
            return error(400, &format!("invalid event {}", uuid.unwrap_or_default()));
        }
    }
    (200, json!({"status": "Ok"}).to_string())
}

fn check_event(event: &Value) -> Result<(), String> {
    match event.get("event").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => {}
        _ => return Err("missing event name".into()),
    }
    match event.get("distinct_id") {
        Some(Value::String(id)) if !id.trim().is_empty() => {}
        Some(Value::Number(_)) => {}
        _ => return Err("empty distinct_id".into()),
    }
    if let Some(ts) = event.get("timestamp") {
        let ok = ts
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok());
        if !ok {
            return Err(format!("invalid timestamp {ts}"));
        }
    }
    if let Some(uuid) = event.get("uuid") {
        let parsed = uuid.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok());
        if parsed.is_none() {
            return Err(format!("invalid uuid {uuid}"));
        }
    }
    Ok(())
}
