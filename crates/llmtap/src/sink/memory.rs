use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Delivery, Sink, SinkError};
use crate::event::Event;

/// Keeps events in memory; for tests and for callers that ship events themselves.
///
/// Cloning shares the same store, so a test can keep a handle while the
/// callback owns another.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<Event>>>,
    /// Every event ever captured, taken ones included.
    captured: Arc<AtomicU64>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events captured so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// Removes and returns the events captured so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.lock())
    }

    /// How many events are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no event is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Sink for MemorySink {
    fn capture(&self, event: Event) -> Result<(), SinkError> {
        self.lock().push(event);
        self.captured.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn delivery(&self) -> Delivery {
        Delivery::immediate(self.captured.load(Ordering::Relaxed))
    }
}
