//! One batch into the database, in one transaction: the calls with
//! `INSERT … ON CONFLICT (uuid) DO NOTHING RETURNING`, the hourly rollup
//! from exactly the rows that came back (so a replayed call is neither a
//! second row nor counted twice), and the alerts.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;
use uuid::Uuid;

use super::row::{AlertRow, CallRow, Row};

/// The calls, as arrays (one per column) unnested into rows: one statement
/// for the whole batch, the rollup in the same statement.
const INSERT_CALLS: &str = "
WITH new AS (
    INSERT INTO llm_calls (
        uuid, ts, trace_id, session_id, distinct_id, provider, model, status, http_status,
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
        cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens,
        cost_usd, cache_savings_usd, cache_prefix_id, cache_miss, latency_s, ttft_s, properties)
    SELECT u, t, tr, se, d, pr, m, st, hs, i, o, cr, cw, c5, c1, r, co, sa, px, mi, l, tt, p::jsonb
    FROM unnest(
        $1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::int[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
        $14::bigint[], $15::bigint[], $16::bigint[], $17::float8[], $18::float8[], $19::text[],
        $20::text[], $21::float8[], $22::float8[], $23::text[])
        AS x(u, t, tr, se, d, pr, m, st, hs, i, o, cr, cw, c5, c1, r, co, sa, px, mi, l, tt, p)
    ON CONFLICT (uuid) DO NOTHING
    RETURNING ts, provider, model, cache_prefix_id, input_tokens, output_tokens,
        cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd,
        cache_savings_usd, cache_miss
), rollup AS (
    INSERT INTO llm_cache_hourly AS h (
        hour, provider, model, cache_prefix_id, calls, input_tokens, output_tokens,
        cache_read_tokens, cache_write_tokens, reasoning_tokens,
        ratio_calls, ratio_input, ratio_read, priced_calls, cost_usd, cache_savings_usd,
        misses_uncached, misses_cold, misses_expired, misses_silent)
    SELECT date_trunc('hour', ts), coalesce(provider, ''), coalesce(model, ''),
        coalesce(cache_prefix_id, ''), count(*),
        coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
        coalesce(sum(cache_read_tokens), 0), coalesce(sum(cache_write_tokens), 0),
        coalesce(sum(reasoning_tokens), 0),
        count(*) FILTER (WHERE input_tokens IS NOT NULL AND cache_read_tokens IS NOT NULL),
        coalesce(sum(input_tokens) FILTER (WHERE cache_read_tokens IS NOT NULL), 0),
        coalesce(sum(cache_read_tokens) FILTER (WHERE input_tokens IS NOT NULL), 0),
        count(cost_usd), coalesce(sum(cost_usd), 0), coalesce(sum(cache_savings_usd), 0),
        count(*) FILTER (WHERE cache_miss = 'uncached'),
        count(*) FILTER (WHERE cache_miss = 'cold'),
        count(*) FILTER (WHERE cache_miss = 'expired'),
        count(*) FILTER (WHERE cache_miss = 'silent')
    FROM new GROUP BY 1, 2, 3, 4
    -- One order for every batch, so two batches in flight lock rows alike.
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, provider, model, cache_prefix_id) DO UPDATE SET
        calls = h.calls + excluded.calls,
        input_tokens = h.input_tokens + excluded.input_tokens,
        output_tokens = h.output_tokens + excluded.output_tokens,
        cache_read_tokens = h.cache_read_tokens + excluded.cache_read_tokens,
        cache_write_tokens = h.cache_write_tokens + excluded.cache_write_tokens,
        reasoning_tokens = h.reasoning_tokens + excluded.reasoning_tokens,
        ratio_calls = h.ratio_calls + excluded.ratio_calls,
        ratio_input = h.ratio_input + excluded.ratio_input,
        ratio_read = h.ratio_read + excluded.ratio_read,
        priced_calls = h.priced_calls + excluded.priced_calls,
        cost_usd = h.cost_usd + excluded.cost_usd,
        cache_savings_usd = h.cache_savings_usd + excluded.cache_savings_usd,
        misses_uncached = h.misses_uncached + excluded.misses_uncached,
        misses_cold = h.misses_cold + excluded.misses_cold,
        misses_expired = h.misses_expired + excluded.misses_expired,
        misses_silent = h.misses_silent + excluded.misses_silent
    RETURNING 1
)
SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM rollup)";

const INSERT_ALERTS: &str = "
INSERT INTO llm_cache_alerts (uuid, ts, kind, key, properties)
SELECT u, t, k, y, p::jsonb
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[]) AS x(u, t, k, y, p)
ON CONFLICT (uuid) DO NOTHING";

/// Inserts `rows` in one transaction; returns how many calls were new (a
/// call already stored is skipped, in the rows and in the rollup).
pub(crate) async fn insert(
    client: &mut Client,
    rows: &[Row],
) -> Result<u64, tokio_postgres::Error> {
    let calls: Vec<&CallRow> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Call(c) => Some(&**c),
            Row::Alert(_) => None,
        })
        .collect();
    let alerts: Vec<&AlertRow> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Alert(a) => Some(a),
            Row::Call(_) => None,
        })
        .collect();
    let tx = client.transaction().await?;
    let mut inserted = 0;
    if !calls.is_empty() {
        let col = |f: fn(&CallRow) -> Option<&str>| calls.iter().map(|c| f(c)).collect::<Vec<_>>();
        let int = |f: fn(&CallRow) -> Option<i64>| calls.iter().map(|c| f(c)).collect::<Vec<_>>();
        let float = |f: fn(&CallRow) -> Option<f64>| calls.iter().map(|c| f(c)).collect::<Vec<_>>();
        let uuids: Vec<Uuid> = calls.iter().map(|c| c.uuid).collect();
        let ts: Vec<DateTime<Utc>> = calls.iter().map(|c| c.ts).collect();
        let distinct: Vec<&str> = calls.iter().map(|c| c.distinct_id.as_str()).collect();
        let status: Vec<&str> = calls.iter().map(|c| c.status).collect();
        let http: Vec<Option<i32>> = calls.iter().map(|c| c.http_status).collect();
        let properties: Vec<&str> = calls.iter().map(|c| c.properties.as_str()).collect();
        let (trace, session) = (
            col(|c| c.trace_id.as_deref()),
            col(|c| c.session_id.as_deref()),
        );
        let (provider, model) = (col(|c| c.provider.as_deref()), col(|c| c.model.as_deref()));
        let (prefix, miss) = (
            col(|c| c.cache_prefix_id.as_deref()),
            col(|c| c.cache_miss.as_deref()),
        );
        let tokens = [
            int(|c| c.input_tokens),
            int(|c| c.output_tokens),
            int(|c| c.cache_read_tokens),
            int(|c| c.cache_write_tokens),
            int(|c| c.cache_write_5m_tokens),
            int(|c| c.cache_write_1h_tokens),
            int(|c| c.reasoning_tokens),
        ];
        let floats = [
            float(|c| c.cost_usd),
            float(|c| c.cache_savings_usd),
            float(|c| c.latency_s),
            float(|c| c.ttft_s),
        ];
        let params: [&(dyn ToSql + Sync); 23] = [
            &uuids,
            &ts,
            &trace,
            &session,
            &distinct,
            &provider,
            &model,
            &status,
            &http,
            &tokens[0],
            &tokens[1],
            &tokens[2],
            &tokens[3],
            &tokens[4],
            &tokens[5],
            &tokens[6],
            &floats[0],
            &floats[1],
            &prefix,
            &miss,
            &floats[2],
            &floats[3],
            &properties,
        ];
        let row = tx.query_one(INSERT_CALLS, &params).await?;
        inserted = row.get::<_, i64>(0) as u64;
    }
    if !alerts.is_empty() {
        let uuids: Vec<Uuid> = alerts.iter().map(|a| a.uuid).collect();
        let ts: Vec<DateTime<Utc>> = alerts.iter().map(|a| a.ts).collect();
        let kind: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
        let key: Vec<&str> = alerts.iter().map(|a| a.key.as_str()).collect();
        let properties: Vec<&str> = alerts.iter().map(|a| a.properties.as_str()).collect();
        tx.execute(INSERT_ALERTS, &[&uuids, &ts, &kind, &key, &properties])
            .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}
