-- llmtap's PostgreSQL schema, version 1. Applied once by llmtap itself
-- (postgres/schema.rs), in one transaction, under an advisory lock.

-- One row per LLM call. Token columns hold the normalized usage (input
-- includes the cache, output includes reasoning): NULL where the provider
-- did not report a count, 0 where it reported 0.
CREATE TABLE llm_calls (
    uuid                  uuid PRIMARY KEY,
    ts                    timestamptz NOT NULL,  -- startTime, else endTime, else when received
    trace_id              text,
    session_id            text,
    distinct_id           text NOT NULL,
    provider              text,
    model                 text,
    status                text NOT NULL,         -- success | failure
    http_status           integer,
    input_tokens          bigint,
    output_tokens         bigint,
    cache_read_tokens     bigint,
    cache_write_tokens    bigint,
    cache_write_5m_tokens bigint,
    cache_write_1h_tokens bigint,
    reasoning_tokens      bigint,
    cost_usd              double precision,      -- NULL when nobody priced the call
    cache_savings_usd     double precision,
    cache_prefix_id       text,
    cache_miss            text,                  -- uncached | cold | expired | silent
    latency_s             double precision,
    ttft_s                double precision,
    properties            jsonb NOT NULL         -- every event property but the content
);
CREATE INDEX llm_calls_ts ON llm_calls (ts);
CREATE INDEX llm_calls_trace ON llm_calls (trace_id, ts) WHERE trace_id IS NOT NULL;
CREATE INDEX llm_calls_session ON llm_calls (session_id, ts) WHERE session_id IS NOT NULL;
CREATE INDEX llm_calls_model ON llm_calls (provider, model, ts);
CREATE INDEX llm_calls_prefix ON llm_calls (cache_prefix_id, ts) WHERE cache_prefix_id IS NOT NULL;

-- The cache alerts (the llmtap_cache_alert events).
CREATE TABLE llm_cache_alerts (
    uuid       uuid PRIMARY KEY,
    ts         timestamptz NOT NULL,
    kind       text NOT NULL,
    key        text NOT NULL,                    -- the prefix id, else the model
    properties jsonb NOT NULL
);
CREATE INDEX llm_cache_alerts_ts ON llm_cache_alerts (ts);

-- Per hour x provider x model x prefix ('' when none), updated in the
-- transaction that inserts the calls, from exactly the rows inserted.
CREATE TABLE llm_cache_hourly (
    hour              timestamptz NOT NULL,
    provider          text NOT NULL,
    model             text NOT NULL,
    cache_prefix_id   text NOT NULL,
    calls             bigint NOT NULL,
    input_tokens      bigint NOT NULL,           -- sums of the reported counts
    output_tokens     bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    reasoning_tokens  bigint NOT NULL,
    -- The hit ratio is sum(read) / sum(input) over the calls reporting both.
    ratio_calls       bigint NOT NULL,
    ratio_input       bigint NOT NULL,
    ratio_read        bigint NOT NULL,
    hit_ratio         double precision GENERATED ALWAYS AS
                      (CASE WHEN ratio_input > 0 THEN ratio_read::double precision / ratio_input END) STORED,
    priced_calls      bigint NOT NULL,
    cost_usd          double precision NOT NULL,
    cache_savings_usd double precision NOT NULL,
    misses_uncached   bigint NOT NULL,
    misses_cold       bigint NOT NULL,
    misses_expired    bigint NOT NULL,
    misses_silent     bigint NOT NULL,
    PRIMARY KEY (hour, provider, model, cache_prefix_id)
);
CREATE INDEX llm_cache_hourly_prefix ON llm_cache_hourly (cache_prefix_id, hour);
