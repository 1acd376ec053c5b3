//! The PostgreSQL destination against a real server the test starts itself
//! (`llmtap_testkit::PostgresServer`: initdb into a temp dir, a free port on
//! 127.0.0.1, as `nobody` when run as root): exact rows for the recorded
//! payloads (NULL where nothing was reported, 0 where 0 was), a replay that
//! adds nothing, the rollup equal to the rows it sums, a restart mid-run
//! with every row arriving once, migrations from empty and again.
//!
//! Without a PostgreSQL server installed the tests fail and say so, unless
//! `LLMTAP_SKIP_POSTGRES=1`.
#![cfg(feature = "postgres")]

mod support;

use std::time::Duration;

use llmtap::{normalize, props, Event, HeaderProperties, Payload, Pipeline, Usage};
use llmtap_export::{
    migrate_postgres, DatabaseUrl, PostgresBuilder, PostgresClient, Settings, SCHEMA_VERSION,
};
use llmtap_testkit::{fixtures, PostgresServer};
use serde_json::Value;
use support::postgres::{capture_across_a_restart, query};

fn client(pg: &PostgresServer) -> PostgresClient {
    let settings = Settings::default()
        .batch_size(3)
        .flush_interval(Duration::from_millis(20))
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(200));
    PostgresBuilder::new(pg.url())
        .settings(settings)
        .build()
        .expect("a client")
}

/// The recorded payloads and the events the pipeline makes of them.
fn recorded() -> Vec<(String, Payload, Event)> {
    let pipeline = Pipeline::default();
    fixtures::json_files(&fixtures::project_dir().join("litellm-1.106"))
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let payload = Payload::from_slice(&bytes).unwrap();
            let event = pipeline
                .process(&payload, &HeaderProperties::default())
                .unwrap()
                .event;
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, payload, event)
        })
        .collect()
}

fn deliver(client: PostgresClient, events: &[Event]) {
    for e in events {
        client.capture(e.clone()).unwrap();
    }
    let report = client.shutdown_blocking(Duration::from_secs(30));
    assert!(report.is_lossless(), "{report:?}");
}

fn count(usage_field: Option<u64>) -> Option<i64> {
    usage_field.map(|n| n as i64)
}

#[test]
fn every_recorded_call_is_one_row_with_null_apart_from_zero() {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let calls = recorded();
    deliver(
        client(&pg),
        &calls.iter().map(|c| c.2.clone()).collect::<Vec<_>>(),
    );
    let rows = query(
        &pg,
        "SELECT uuid::text, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, cost_usd,
                status, provider, model, ts, properties, http_status, trace_id, cache_prefix_id
         FROM llm_calls",
    );
    assert_eq!(rows.len(), calls.len());
    for (name, payload, event) in &calls {
        let row = rows
            .iter()
            .find(|r| r.get::<_, String>(0) == event.uuid.to_string())
            .unwrap_or_else(|| panic!("{name}: no row"));
        let u: Usage = normalize(payload);
        let tokens: Vec<Option<i64>> = (1..=7).map(|i| row.get(i)).collect();
        let want = [
            u.input,
            u.output,
            u.cache_read,
            u.cache_write,
            u.cache_write_5m,
            u.cache_write_1h,
            u.reasoning,
        ]
        .map(count);
        assert_eq!(
            tokens, want,
            "{name}: the normalized usage, NULL kept apart from 0"
        );
        assert_eq!(
            row.get::<_, Option<f64>>(8),
            payload.cost_usd(),
            "{name}: cost"
        );
        let failed = payload.status.as_deref() == Some("failure");
        assert_eq!(
            row.get::<_, &str>(9),
            if failed { "failure" } else { "success" }
        );
        assert_eq!(
            row.get::<_, Option<&str>>(10),
            Some(payload.provider()),
            "{name}"
        );
        let ts: chrono::DateTime<chrono::Utc> = row.get(12);
        let start = payload.start_time.or(payload.end_time).unwrap();
        assert_eq!(
            ts.timestamp_micros(),
            start.as_micros(),
            "{name}: ts is startTime"
        );
        let properties: Value = row.get(13);
        assert!(properties.get(props::INPUT).is_none(), "{name}: no content");
        assert!(
            properties.get(props::OUTPUT_CHOICES).is_none(),
            "{name}: no content"
        );
        assert_eq!(
            properties[props::MODEL],
            event.properties[props::MODEL],
            "{name}: every other property"
        );
        assert_eq!(
            row.get::<_, Option<String>>(15).as_deref(),
            event.properties[props::TRACE_ID].as_str()
        );
    }
    // Gemini's row holds the normalized output, thoughts included, not the
    // event's PostHog projection (which leaves them out).
    let (_, gemini, event) = calls.iter().find(|c| c.0.starts_with("gemini")).unwrap();
    let row = rows
        .iter()
        .find(|r| r.get::<_, String>(0) == event.uuid.to_string())
        .unwrap();
    let output: Option<i64> = row.get(2);
    assert_eq!(output, count(normalize(gemini).output));
    assert_ne!(output, event.properties[props::OUTPUT_TOKENS].as_i64());
}

#[test]
fn a_replay_adds_no_row_and_counts_nothing_twice() {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let events: Vec<Event> = recorded().into_iter().map(|c| c.2).collect();
    deliver(client(&pg), &events);
    deliver(client(&pg), &events); // the same payloads again, as a replay sends them
    let calls = query(&pg, "SELECT count(*) FROM llm_calls");
    assert_eq!(calls[0].get::<_, i64>(0), events.len() as i64);
    // The rollup is exactly the rows it summarizes.
    let rollup = query(
        &pg,
        "SELECT hour, provider, model, cache_prefix_id, calls, input_tokens, output_tokens,
                cache_read_tokens, reasoning_tokens, ratio_input, ratio_read, priced_calls,
                cost_usd::numeric(20, 12)
         FROM llm_cache_hourly ORDER BY 1, 2, 3, 4",
    );
    let from_rows = query(
        &pg,
        "SELECT date_trunc('hour', ts), coalesce(provider, ''), coalesce(model, ''),
                coalesce(cache_prefix_id, ''), count(*),
                coalesce(sum(input_tokens), 0)::bigint, coalesce(sum(output_tokens), 0)::bigint,
                coalesce(sum(cache_read_tokens), 0)::bigint,
                coalesce(sum(reasoning_tokens), 0)::bigint,
                coalesce(sum(input_tokens) FILTER (WHERE cache_read_tokens IS NOT NULL), 0)::bigint,
                coalesce(sum(cache_read_tokens) FILTER (WHERE input_tokens IS NOT NULL), 0)::bigint,
                count(cost_usd), coalesce(sum(cost_usd), 0)::numeric(20, 12)
         FROM llm_calls GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    );
    assert_eq!(rollup.len(), from_rows.len());
    for (a, b) in rollup.iter().zip(&from_rows) {
        for i in 1..4 {
            assert_eq!(a.get::<_, String>(i), b.get::<_, String>(i));
        }
        for i in 4..12 {
            assert_eq!(a.get::<_, i64>(i), b.get::<_, i64>(i), "column {i}");
        }
    }
    let ratio = query(
        &pg,
        "SELECT hit_ratio FROM llm_cache_hourly WHERE provider = 'anthropic' AND ratio_input > 0",
    );
    assert!(!ratio.is_empty());
    for r in ratio {
        let h: f64 = r.get(0);
        assert!((0.0..=1.0).contains(&h), "{h}");
    }
}

#[test]
fn a_database_restarted_mid_run_gets_every_row_once() {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let base = recorded().remove(0).2;
    let events: Vec<Event> = (0..60u128)
        .map(|i| Event {
            uuid: uuid::Uuid::from_u128(0x1000 + i),
            ..base.clone()
        })
        .collect();
    let report = capture_across_a_restart(&client(&pg), &pg, &events);
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(report.delivered, 60);
    let rows = query(&pg, "SELECT count(*), count(DISTINCT uuid) FROM llm_calls");
    assert_eq!(
        (rows[0].get::<_, i64>(0), rows[0].get::<_, i64>(1)),
        (60, 60)
    );
    let rollup = query(&pg, "SELECT sum(calls)::bigint FROM llm_cache_hourly");
    assert_eq!(rollup[0].get::<_, i64>(0), 60);
}

#[test]
fn alerts_have_a_table_of_their_own() {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let mut alert = Event {
        event: props::CACHE_ALERT.to_owned(),
        distinct_id: "prefix-1".into(),
        timestamp: recorded()[0].2.timestamp,
        uuid: uuid::Uuid::from_u128(7),
        ..Event::default()
    };
    alert
        .properties
        .insert(props::ALERT_KIND.into(), "hit_ratio_drop".into());
    deliver(client(&pg), &[alert]);
    let rows = query(&pg, "SELECT kind, key FROM llm_cache_alerts");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &str>(0), "hit_ratio_drop");
    assert_eq!(rows[0].get::<_, &str>(1), "prefix-1");
    assert_eq!(
        query(&pg, "SELECT count(*) FROM llm_calls")[0].get::<_, i64>(0),
        0
    );
}

#[test]
fn migrations_run_once_from_empty_and_never_again() {
    let Some(pg) = PostgresServer::for_test() else {
        return;
    };
    let url = DatabaseUrl::new(pg.url());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Two instances starting at once: the advisory lock lets one migrate.
    let (a, b) =
        runtime.block_on(async { tokio::join!(migrate_postgres(&url), migrate_postgres(&url)) });
    assert_eq!(a.unwrap() + b.unwrap(), SCHEMA_VERSION as usize);
    assert_eq!(runtime.block_on(migrate_postgres(&url)).unwrap(), 0);
    let versions = query(&pg, "SELECT count(*) FROM llmtap_migrations");
    assert_eq!(versions[0].get::<_, i64>(0), SCHEMA_VERSION as i64);
}

#[test]
fn the_password_never_shows() {
    let url = DatabaseUrl::new("postgres://llmtap:s3cr3t-pass@db.internal:5432/llm");
    assert_eq!(
        url.to_string(),
        "postgres://llmtap:***@db.internal:5432/llm"
    );
    assert!(!format!("{url:?}").contains("s3cr3t"));
    let query = DatabaseUrl::new("postgres://llmtap@db/llm?sslmode=prefer&password=s3cr3t-pass");
    assert_eq!(
        query.to_string(),
        "postgres://llmtap@db/llm?sslmode=prefer&password=***"
    );
    let kv = DatabaseUrl::new("host=db user=llmtap password=s3cr3t-pass dbname=llm");
    assert!(!kv.to_string().contains("s3cr3t"), "{kv}");
    let tls = PostgresBuilder::new("postgres://llmtap:s3cr3t-pass@db/llm?sslmode=verify").build();
    let err = tls.expect_err("refused").to_string();
    assert!(err.contains("sslmode") && !err.contains("s3cr3t"), "{err}");
    let bad = PostgresBuilder::new("postgres://llmtap:s3cr3t-pass@[bad").build();
    let err = bad.expect_err("refused").to_string();
    assert!(
        !err.contains("s3cr3t") && err.contains("postgres_url"),
        "{err}"
    );
}
