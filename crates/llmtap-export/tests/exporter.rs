//! A second destination through the same machinery: an in-memory exporter,
//! defined here, answering per event. Proves that the queue, worker, retry,
//! split and accounting are generic, not PostHog's.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use llmtap::{Event, SinkError};
use llmtap_export::{Answer, DropReason, ExportClient, Exporter, Outcome, Settings, Weighed};
use support::clock::TestClock;
use support::{event, PATIENCE};

/// An encoded event: just its id.
struct Item(u128);

impl Weighed for Item {
    fn bytes(&self) -> usize {
        16
    }
}

type Rule = fn(&[u128], &mut HashSet<u128>) -> Answer;

/// Records every batch it is given (as event ids) and answers by `rule`,
/// which may remember ids it has seen.
#[derive(Clone)]
struct Memory {
    batches: Arc<Mutex<Vec<Vec<u128>>>>,
    seen: Arc<Mutex<HashSet<u128>>>,
    rule: Rule,
}

impl Memory {
    fn new(rule: Rule) -> Self {
        Memory {
            batches: Arc::default(),
            seen: Arc::default(),
            rule,
        }
    }

    fn batches(&self) -> Vec<Vec<u128>> {
        self.batches.lock().unwrap().clone()
    }
}

#[async_trait]
impl Exporter for Memory {
    type Item = Item;

    fn name(&self) -> &'static str {
        "memory"
    }

    fn validate(&self, event: &Event) -> Result<(), &'static str> {
        if event.distinct_id == "nobody" {
            return Err("no such user");
        }
        Ok(())
    }

    fn encode(&self, event: &Event) -> Result<Item, DropReason> {
        Ok(Item(event.uuid.as_u128()))
    }

    async fn export(&self, batch: &[Item]) -> Answer {
        let ids: Vec<u128> = batch.iter().map(|item| item.0).collect();
        self.batches.lock().unwrap().push(ids.clone());
        (self.rule)(&ids, &mut self.seen.lock().unwrap())
    }
}

fn start(exporter: &Memory, clock: &TestClock, batch_size: usize) -> ExportClient<Memory> {
    let settings = Settings::default()
        .batch_size(batch_size)
        .flush_interval(Duration::from_secs(3600))
        .clock(clock.clone());
    ExportClient::start(exporter.clone(), settings).unwrap()
}

#[tokio::test]
async fn per_event_outcomes_are_counted_and_only_retries_are_resent() {
    // Per event: ids ending in 3 are refused, in 7 too large to keep, in 5
    // throttled once and then taken; everything else delivered.
    let memory = Memory::new(|ids, seen| {
        let each = ids
            .iter()
            .map(|&id| match id % 10 {
                3 => Outcome::Dropped(DropReason::Rejected),
                7 => Outcome::Dropped(DropReason::Oversized),
                5 if seen.insert(id) => Outcome::RetryAfter(Some(Duration::from_secs(2))),
                _ => Outcome::Delivered,
            })
            .collect();
        Answer::each(each)
            .with_status(207)
            .with_detail("row refused")
    });
    let clock = TestClock::new();
    let client = start(&memory, &clock, 10);
    for i in 0..20 {
        client.capture(event(i)).unwrap();
    }
    let mut nobody = event(99);
    nobody.distinct_id = "nobody".into();
    assert!(matches!(
        client.capture(nobody),
        Err(SinkError::Dropped {
            reason: DropReason::Invalid,
            ..
        })
    ));

    let report = client.shutdown(PATIENCE).await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered, 16, "{report:?}");
    assert_eq!(report.dropped.get(DropReason::Invalid), 1);
    assert_eq!(report.dropped.get(DropReason::Rejected), 2);
    assert_eq!(report.dropped.get(DropReason::Oversized), 2);
    assert_eq!(report.dropped.total(), 5);

    // Each batch once, then only the event that asked for a retry.
    let batches = memory.batches();
    assert_eq!(
        batches,
        [(0..10).collect(), vec![5], (10..20).collect(), vec![15]]
    );
    let stats = client.stats();
    assert_eq!((stats.accepted, stats.sent, stats.pending), (20, 16, 0));
    assert_eq!((stats.requests, stats.retries, stats.batches), (4, 2, 4));
    let rejection = stats.last_rejection.unwrap();
    assert_eq!(
        (rejection.status, rejection.message.as_str()),
        (Some(207), "row refused")
    );
    // The throttle was honoured, as a floor on the backoff.
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(
        sleeps.iter().all(|&s| s >= Duration::from_secs(2)),
        "{sleeps:?}"
    );
}

#[tokio::test]
async fn split_halves_until_the_destination_takes_each_part() {
    // More than two events at once are too many; event 6 is too large even
    // alone, so it is the only one lost.
    let memory = Memory::new(|ids, _| {
        if ids.len() > 2 {
            return Answer::all(Outcome::Split);
        }
        Answer::each(
            ids.iter()
                .map(|&id| {
                    if id == 6 {
                        Outcome::Split
                    } else {
                        Outcome::Delivered
                    }
                })
                .collect(),
        )
    });
    let clock = TestClock::new();
    let client = start(&memory, &clock, 8);
    for i in 0..8 {
        client.capture(event(i)).unwrap();
    }
    let report = client.flush(PATIENCE).await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered, 7);
    assert_eq!(report.dropped.get(DropReason::Rejected), 1);
    assert_eq!(
        memory.batches(),
        [
            (0..8).collect::<Vec<_>>(),
            vec![0, 1, 2, 3],
            vec![0, 1],
            vec![2, 3],
            vec![4, 5, 6, 7],
            vec![4, 5],
            vec![6, 7],
        ],
        "halves in order; a lone event is not sent again"
    );
    assert!(clock.sleeps().is_empty(), "a split is not a retry");
    assert!(client.shutdown(PATIENCE).await.is_complete());
}

#[test]
fn settings_are_checked_against_the_exporters_envelope() {
    #[derive(Clone)]
    struct Enveloped;

    #[async_trait]
    impl Exporter for Enveloped {
        type Item = Item;
        fn name(&self) -> &'static str {
            "enveloped"
        }
        fn encode(&self, event: &Event) -> Result<Item, DropReason> {
            Ok(Item(event.uuid.as_u128()))
        }
        fn batch_overhead(&self) -> usize {
            1_000
        }
        async fn export(&self, _: &[Item]) -> Answer {
            Answer::all(Outcome::Delivered)
        }
    }

    let tight = Settings::default().batch_bytes(1_500).max_event_bytes(600);
    assert!(matches!(
        ExportClient::start(Enveloped, tight),
        Err(llmtap_export::ConfigError::InvalidSetting {
            setting: "batch_bytes",
            ..
        })
    ));
    let client = ExportClient::start(Enveloped, Settings::default()).unwrap();
    client.capture(event(1)).unwrap();
    assert!(client.shutdown_blocking(PATIENCE).is_lossless());
}
