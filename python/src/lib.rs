//! `llmtap._llmtap`: the native module of the `llmtap` Python package.
//!
//! The package's Python side (`python/llmtap/`) holds the LiteLLM logger
//! and the stubs; this module is the bridge to the Rust crates:
//!
//! - [`Client`]: PostHog, PostgreSQL or both, fed from any thread. `log`
//!   takes a standard logging payload, `capture` an event; both return at
//!   once. The per-process machinery is [`tap`], where its events go is
//!   [`destinations`], its settings are [`settings`].
//! - [`normalize`] and [`build_event`]: the library's pure functions.
//! - [`walk`]: Python objects to JSON, as `json.dumps(default=str)` makes it.
//!
//! Values come back to Python as plain `dict` / `list` / `str` / `int` /
//! `float` / `None` ([`to_py`]).

mod destinations;
mod settings;
mod tap;
mod walk;

use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use llmtap::{DropReason, Event, HeaderProperties, Payload, Usage};
use llmtap_export::Stats;
use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use serde_json::Value;

use crate::settings::{Recipe, Settings};
use crate::tap::{Counters, Tap};
use crate::walk::NonFinite;

create_exception!(
    _llmtap,
    PayloadError,
    PyValueError,
    "The value is not a standard logging payload (or not an event)."
);
create_exception!(
    _llmtap,
    ConfigError,
    PyValueError,
    "A setting is unknown or of the wrong type, or no destination is set (api_key, postgres_url)."
);

/// What a payload may weigh as JSON when it is not queued (`normalize`,
/// `build_event`): the exporter's queue bound.
const MAX_PAYLOAD_BYTES: usize = llmtap_export::DEFAULT_QUEUE_BYTES;

/// Sends LLM calls to PostHog, PostgreSQL or both from any Python code:
/// `log(slp)` takes a LiteLLM standard logging payload, `capture(event)` a
/// finished event. Neither waits on the network.
#[pyclass(frozen, module = "llmtap._llmtap")]
struct Client {
    settings: Settings,
    recipe: Recipe,
    state: Arc<Mutex<Slot>>,
}

/// This process's tap, started at the first capture.
#[derive(Default)]
struct Slot {
    tap: Option<Arc<Tap>>,
    counters: Arc<Counters>,
    shut: bool,
}

/// Every client made, for the interpreter-exit flush.
static CLIENTS: Mutex<Vec<Weak<Mutex<Slot>>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client {
    /// This process's tap, started if needed; `None` after shutdown. The
    /// lock is only ever held with the GIL, never across a wait, so a fork
    /// cannot copy it locked.
    fn tap(&self) -> Result<Option<Arc<Tap>>, String> {
        let mut slot = lock(&self.state);
        if let Some(tap) = &slot.tap {
            if tap.is_ours() {
                return Ok(Some(tap.clone()));
            }
            // A fork's child: the parent's threads are not here. Forget the
            // inherited tap without running its destructor (which would
            // wait on them) and start afresh.
            std::mem::forget(slot.tap.take());
            slot.counters = Arc::default();
            slot.shut = false;
        }
        if slot.shut {
            return Ok(None);
        }
        let tap = Arc::new(Tap::start(
            &self.settings,
            &self.recipe,
            slot.counters.clone(),
        )?);
        slot.tap = Some(tap.clone());
        Ok(Some(tap))
    }

    /// The tap if this process started one; never starts it.
    fn current(&self) -> (Option<Arc<Tap>>, Arc<Counters>) {
        let slot = lock(&self.state);
        let tap = slot.tap.clone().filter(|t| t.is_ours());
        (tap, slot.counters.clone())
    }

    fn hand_over(&self, send: impl FnOnce(&Tap) -> bool) -> bool {
        match self.tap() {
            Ok(Some(tap)) => send(&tap),
            Ok(None) => {
                let counters = lock(&self.state).counters.clone();
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                counters.closed.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(why) => {
                lock(&self.state).counters.malformed(why);
                false
            }
        }
    }

    fn log_json(&self, json: Vec<u8>, headers: Option<HeaderProperties>) -> bool {
        self.hand_over(|tap| tap.log(json, headers))
    }

    fn skip(&self, why: String) -> bool {
        let counters = lock(&self.state).counters.clone();
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        counters.malformed(why);
        false
    }

    fn report(&self, py: Python<'_>, complete: Option<bool>) -> PyResult<Py<PyDict>> {
        let (tap, counters) = self.current();
        let c = &counters;
        let out = PyDict::new(py);
        out.set_item("accepted", c.accepted.load(Ordering::Relaxed))?;
        // One snapshot of each destination, so the counts add up at one instant.
        let each = match tap {
            Some(tap) => tap.destinations.stats(),
            None => self
                .settings
                .destinations()
                .into_iter()
                .map(|name| (name, Stats::default()))
                .collect(),
        };
        let all = destinations::combined(&each);
        out.set_item("delivered", all.delivered)?;
        out.set_item("pending", c.queued.load(Ordering::Relaxed) + all.pending)?;
        let dropped = PyDict::new(py);
        for (reason, n) in tap::dropped(&all.dropped, c) {
            dropped.set_item(reason, n)?;
        }
        out.set_item("dropped", dropped)?;
        out.set_item("duplicates", c.duplicates.load(Ordering::Relaxed))?;
        out.set_item("alerts", c.alerts.load(Ordering::Relaxed))?;
        out.set_item("last_error", c.last_error())?;
        let by_name = PyDict::new(py);
        for (name, stats) in &each {
            by_name.set_item(name, destination_report(py, stats)?)?;
        }
        out.set_item("destinations", by_name)?;
        if let Some(complete) = complete {
            out.set_item("timed_out", !complete)?;
        }
        Ok(out.unbind())
    }
}

#[pymethods]
impl Client {
    /// Settings by the names of `llmtap serve`'s config file; the
    /// environment (`POSTHOG_API_KEY`, `POSTHOG_HOST`, `LLMTAP_<NAME>`)
    /// fills in what is not passed. `api_key` sends to PostHog,
    /// `postgres_url` to PostgreSQL; one of them is required, and with both
    /// each gets every event.
    #[new]
    #[pyo3(signature = (**settings))]
    fn new(settings: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let settings = Settings::resolve(kwargs(settings)?).map_err(ConfigError::new_err)?;
        settings
            .check_destinations()
            .map_err(ConfigError::new_err)?;
        let recipe = settings.recipe().map_err(ConfigError::new_err)?;
        let state = Arc::new(Mutex::new(Slot::default()));
        let mut clients = lock(&CLIENTS);
        clients.retain(|c| c.strong_count() > 0);
        clients.push(Arc::downgrade(&state));
        Ok(Client {
            settings,
            recipe,
            state,
        })
    }

    /// Queues one standard logging payload (a `dict`, or its JSON as `str`
    /// or `bytes`) with optional header properties
    /// (`{"x-posthog-property-team": "a"}`). Returns False when it was
    /// dropped (counted in `stats()`); never raises for a bad payload.
    #[pyo3(signature = (slp, headers=None))]
    fn log(&self, slp: &Bound<'_, PyAny>, headers: Option<&Bound<'_, PyAny>>) -> bool {
        let headers = match headers.map(header_properties).transpose() {
            Ok(h) => h,
            Err(e) => return self.skip(format!("headers: {e}")),
        };
        match json_of(slp, self.settings.queue_bytes) {
            Ok(json) => self.log_json(json, headers),
            Err(why) => self.skip(why),
        }
    }

    /// What a LiteLLM callback gets: queues `kwargs["standard_logging_object"]`.
    fn log_kwargs(&self, kwargs: &Bound<'_, PyAny>) -> bool {
        let slp = kwargs
            .cast::<PyDict>()
            .ok()
            .and_then(|k| k.get_item("standard_logging_object").ok().flatten());
        match slp {
            Some(slp) if !slp.is_none() => match json_of(&slp, self.settings.queue_bytes) {
                Ok(json) => self.log_json(json, None),
                Err(why) => self.skip(why),
            },
            _ => self.skip("the callback's kwargs hold no standard_logging_object".into()),
        }
    }

    /// Queues one finished event: a dict with `event`, `distinct_id`,
    /// `properties`, and optionally `timestamp` and `uuid` (a stable uuid
    /// is derived from the event when there is none).
    fn capture(&self, event: &Bound<'_, PyAny>) -> PyResult<bool> {
        let value = value_of(event, self.settings.queue_bytes)?;
        let event = event_of(value).map_err(PayloadError::new_err)?;
        Ok(self.hand_over(|tap| tap.capture(event)))
    }

    /// Waits until everything queued so far is delivered (or dropped), at
    /// most `timeout` seconds, with the GIL released. Returns `stats()`
    /// with `timed_out`.
    #[pyo3(signature = (timeout=10.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<Py<PyDict>> {
        let timeout = seconds(timeout)?;
        let complete = match self.current().0 {
            Some(tap) => py.detach(|| tap.flush(timeout)),
            None => true,
        };
        self.report(py, Some(complete))
    }

    /// Flushes, then refuses new payloads (counted as `closed`), at most
    /// `timeout` seconds (default: the `shutdown_timeout_secs` setting).
    /// Idempotent; also runs at interpreter exit.
    #[pyo3(signature = (timeout=None))]
    fn shutdown(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyDict>> {
        let timeout = match timeout {
            Some(t) => seconds(t)?,
            None => Duration::from_secs(self.settings.shutdown_timeout_secs),
        };
        let complete = match shut(&self.state) {
            Some(tap) => py.detach(|| tap.shutdown(timeout)),
            None => true,
        };
        self.report(py, Some(complete))
    }

    /// Counts so far, in this process: `accepted`, `delivered`, `pending`,
    /// `dropped` by reason, `duplicates`, `alerts`, `last_error`, and
    /// `destinations`: each destination's `delivered`, `pending`, `dropped`,
    /// `retries`, `last_rejection`. With two destinations the top-level
    /// counts are their combination: delivered once both delivered (the
    /// smaller count), pending while either holds it, drops added up.
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        self.report(py, None)
    }

    /// How long the interpreter-exit flush may take, in seconds.
    #[getter]
    fn shutdown_timeout_secs(&self) -> u64 {
        self.settings.shutdown_timeout_secs
    }

    /// The PostHog host events go to (with an API key).
    #[getter]
    fn posthog_host(&self) -> String {
        self.settings.posthog_host.clone()
    }

    /// The PostgreSQL URL rows go to, without its password; `None` without one.
    #[getter]
    fn postgres_url(&self) -> Option<String> {
        self.settings.postgres_url.as_ref().map(|u| u.to_string())
    }

    /// The destinations, in the order they are fed: `"posthog"` (with an
    /// API key), `"postgres"` (with a URL).
    #[getter]
    fn destinations(&self) -> Vec<&'static str> {
        self.settings.destinations()
    }

    /// A digest of every setting, the API key included (never the key
    /// itself): equal for clients configured alike. LiteLLM tells custom
    /// loggers apart by their public plain attributes and adds one only if
    /// no equal one is registered, so the logger exposes this.
    #[getter]
    fn fingerprint(&self) -> String {
        self.settings.fingerprint()
    }

    fn __repr__(&self) -> String {
        let s = &self.settings;
        let mut to = String::new();
        if s.api_key.is_some() {
            to += &format!("posthog_host={:?}, api_key=<redacted>, ", s.posthog_host);
        }
        if let Some(url) = &s.postgres_url {
            // Display writes the URL without its password.
            to += &format!("postgres_url={:?}, ", url.to_string());
        }
        format!(
            "Client({to}batch_size={}, queue_capacity={}, privacy_mode={})",
            s.batch_size,
            s.queue_capacity,
            if s.privacy_mode { "True" } else { "False" },
        )
    }
}

/// One destination's counts: its exporter's only (what never reached the
/// exporters is counted at the top level).
fn destination_report<'py>(py: Python<'py>, stats: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("delivered", stats.sent)?;
    out.set_item("pending", stats.pending)?;
    let dropped = PyDict::new(py);
    for reason in DropReason::ALL {
        dropped.set_item(reason.as_str(), stats.dropped.get(reason))?;
    }
    out.set_item("dropped", dropped)?;
    out.set_item("retries", stats.retries)?;
    let rejection = match &stats.last_rejection {
        Some(r) => {
            let d = PyDict::new(py);
            d.set_item("status", r.status)?;
            d.set_item("events", r.events)?;
            d.set_item("message", &r.message)?;
            Some(d)
        }
        None => None,
    };
    out.set_item("last_rejection", rejection)?;
    Ok(out)
}

/// The normalized usage of one payload: every field, `None` where the
/// provider did not report it, `0` where it reported zero.
#[pyfunction]
fn normalize(py: Python<'_>, slp: &Bound<'_, PyAny>) -> PyResult<Py<PyDict>> {
    let payload = payload_of(slp)?;
    let usage = llmtap::normalize(&payload);
    let out = PyDict::new(py);
    for (name, value) in usage_fields(&usage) {
        out.set_item(name, value)?;
    }
    Ok(out.unbind())
}

/// The normalized usage under the names the package reports it by.
fn usage_fields(u: &Usage) -> [(&'static str, Option<u64>); 12] {
    [
        ("input_tokens", u.input),
        ("output_tokens", u.output),
        ("cache_read_tokens", u.cache_read),
        ("cache_write_tokens", u.cache_write),
        ("cache_write_5m_tokens", u.cache_write_5m),
        ("cache_write_1h_tokens", u.cache_write_1h),
        ("reasoning_tokens", u.reasoning),
        ("audio_input_tokens", u.audio_input),
        ("image_input_tokens", u.image_input),
        ("audio_output_tokens", u.audio_output),
        ("image_output_tokens", u.image_output),
        ("web_search_requests", u.web_search_requests),
    ]
}

/// The options `build_event` takes: the settings that shape an event.
const EVENT_OPTIONS: &[&str] = &[
    "privacy_mode",
    "properties",
    "max_event_bytes",
    "pricing",
    "prefix_key",
];

/// The event `llmtap replay` writes for this payload, as a dict.
#[pyfunction]
#[pyo3(signature = (slp, headers=None, **options))]
fn build_event(
    py: Python<'_>,
    slp: &Bound<'_, PyAny>,
    headers: Option<&Bound<'_, PyAny>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let options = kwargs(options)?;
    if let Some((name, _)) = options
        .iter()
        .find(|(n, _)| !EVENT_OPTIONS.contains(&n.as_str()))
    {
        return Err(PyTypeError::new_err(format!(
            "build_event() got an unexpected keyword argument '{name}'; it takes {}",
            EVENT_OPTIONS.join(", ")
        )));
    }
    let recipe = Settings::from_kwargs(options)
        .and_then(|s| s.recipe())
        .map_err(ConfigError::new_err)?;
    let headers = headers
        .map(header_properties)
        .transpose()?
        .unwrap_or_default();
    let payload = payload_of(slp)?;
    let processed = recipe
        .pipeline(NonZeroUsize::MIN)
        .process(&payload, &headers)
        .map_err(|e| PayloadError::new_err(e.to_string()))?;
    let value =
        serde_json::to_value(&processed.event).map_err(|e| PayloadError::new_err(e.to_string()))?;
    Ok(to_py(py, &value)?.unbind())
}

/// A payload as the JSON `Client.log` queues (`json.dumps(obj,
/// default=str)`, walked in Rust): for tests and the crossing benchmark.
#[pyfunction]
fn _payload_json<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let json = json_of(obj, MAX_PAYLOAD_BYTES).map_err(PayloadError::new_err)?;
    Ok(PyBytes::new(py, &json))
}

/// Shuts every client down; `llmtap/__init__.py` registers it with `atexit`.
#[pyfunction]
fn _at_exit(py: Python<'_>) {
    let slots: Vec<_> = lock(&CLIENTS).iter().filter_map(Weak::upgrade).collect();
    for slot in slots {
        if let Some(tap) = shut(&slot) {
            let timeout = tap.shutdown_timeout;
            py.detach(|| tap.shutdown(timeout));
        }
    }
}

/// Marks the client shut (later payloads are counted `closed`) and returns
/// the tap this process started, if any, for the caller to shut down.
fn shut(state: &Mutex<Slot>) -> Option<Arc<Tap>> {
    let mut slot = lock(state);
    slot.shut = true;
    slot.tap.clone().filter(|t| t.is_ours())
}

fn seconds(timeout: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(timeout)
        .map_err(|_| PyValueError::new_err(format!("timeout must be seconds >= 0, not {timeout}")))
}

/// Keyword arguments as (name, JSON value).
fn kwargs(dict: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, Value)>> {
    let Some(dict) = dict else {
        return Ok(Vec::new());
    };
    dict.iter()
        .map(|(k, v)| {
            let name: String = k.extract()?;
            let value = value_of(&v, MAX_PAYLOAD_BYTES)
                .map_err(|e| ConfigError::new_err(format!("{name}: {e}")))?;
            Ok((name, value))
        })
        .collect()
}

/// A payload's JSON: text as it is, anything else walked.
fn json_of(obj: &Bound<'_, PyAny>, max_bytes: usize) -> Result<Vec<u8>, String> {
    if let Ok(text) = obj.cast::<PyString>() {
        return Ok(text.to_string_lossy().into_owned().into_bytes());
    }
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    walk::to_json(obj, max_bytes, NonFinite::Literal).map_err(|e| e.to_string())
}

/// Any Python value as strict JSON (a `str` is a string here).
fn value_of(obj: &Bound<'_, PyAny>, max_bytes: usize) -> PyResult<Value> {
    let json = walk::to_json(obj, max_bytes, NonFinite::Null)
        .map_err(|e| PayloadError::new_err(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| PayloadError::new_err(e.to_string()))
}

fn payload_of(slp: &Bound<'_, PyAny>) -> PyResult<Payload> {
    let json = json_of(slp, MAX_PAYLOAD_BYTES).map_err(PayloadError::new_err)?;
    Payload::from_slice(&json).map_err(|e| PayloadError::new_err(e.to_string()))
}

/// Header properties from a dict (or a list of pairs) of header names and values.
fn header_properties(obj: &Bound<'_, PyAny>) -> PyResult<HeaderProperties> {
    let pairs: Vec<(String, String)> = match obj.cast::<PyDict>() {
        Ok(d) => d
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.str()?.to_string_lossy().into_owned(),
                    v.str()?.to_string_lossy().into_owned(),
                ))
            })
            .collect::<PyResult<_>>()?,
        Err(_) => obj.extract().map_err(|_| {
            PyTypeError::new_err("headers must be a dict or a list of (name, value) pairs")
        })?,
    };
    Ok(HeaderProperties::from_pairs(pairs))
}

/// An event dict in the capture API's shape (the library's `Event`
/// deserializer), with a uuid derived from the event when it has none.
fn event_of(mut value: Value) -> Result<Event, String> {
    let Value::Object(map) = &mut value else {
        return Err("an event must be a dict".into());
    };
    map.entry("properties")
        .or_insert_with(|| Value::Object(Default::default()));
    if map.get("uuid").is_none_or(Value::is_null) {
        // Stable: the same event captured twice is one event.
        let uuid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, value.to_string().as_bytes());
        if let Value::Object(map) = &mut value {
            map.insert("uuid".into(), uuid.to_string().into());
        }
    }
    serde_json::from_value(value).map_err(|e| format!("not an event: {e}"))
}

/// JSON to plain Python objects.
fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any(),
            (_, Some(i)) => i.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// The `llmtap._llmtap` module.
#[pymodule]
fn _llmtap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(build_event, m)?)?;
    m.add_function(wrap_pyfunction!(_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(_payload_json, m)?)?;
    m.add("PayloadError", m.py().get_type::<PayloadError>())?;
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add("SETTINGS", Settings::NAMES.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
