-- 1. Cache summary
SELECT count(*) AS calls,
       sum(input_tokens)::bigint AS input_tokens,
       sum(output_tokens)::bigint AS output_tokens,
       sum(cache_read_tokens)::bigint AS cache_read_tokens,
       sum(cache_write_tokens)::bigint AS cache_write_tokens,
       (sum(cache_read_tokens) FILTER (WHERE input_tokens IS NOT NULL))::float8
         / nullif(sum(input_tokens) FILTER (WHERE cache_read_tokens IS NOT NULL), 0) AS hit_ratio,
       sum(cost_usd) AS cost_usd,
       sum(cache_savings_usd) AS saved_usd,
       count(cache_miss) AS misses
FROM llm_calls
WHERE ts >= coalesce($1::timestamptz, '-infinity') AND ts < coalesce($2::timestamptz, 'infinity')
  AND ($3::text IS NULL OR trace_id = $3) AND ($4::text IS NULL OR session_id = $4);

-- 2. Effectiveness per model
SELECT provider, model, count(*) AS calls,
       (sum(cache_read_tokens) FILTER (WHERE input_tokens IS NOT NULL))::float8
         / nullif(sum(input_tokens) FILTER (WHERE cache_read_tokens IS NOT NULL), 0) AS hit_ratio,
       sum(cost_usd) AS cost_usd,
       sum(cache_savings_usd) AS saved_usd,
       count(*) FILTER (WHERE cache_miss = 'uncached') AS uncached,
       count(*) FILTER (WHERE cache_miss = 'cold') AS cold,
       count(*) FILTER (WHERE cache_miss = 'expired') AS expired,
       count(*) FILTER (WHERE cache_miss = 'silent') AS silent
FROM llm_calls
WHERE ts >= coalesce($1::timestamptz, '-infinity') AND ts < coalesce($2::timestamptz, 'infinity')
  AND ($3::text IS NULL OR trace_id = $3) AND ($4::text IS NULL OR session_id = $4)
GROUP BY provider, model
ORDER BY saved_usd DESC NULLS LAST, calls DESC, provider, model;

-- 3. Top prefixes by savings
SELECT cache_prefix_id, min(model) AS model, count(*) AS calls,
       (sum(cache_read_tokens) FILTER (WHERE input_tokens IS NOT NULL))::float8
         / nullif(sum(input_tokens) FILTER (WHERE cache_read_tokens IS NOT NULL), 0) AS hit_ratio,
       sum(cache_savings_usd) AS saved_usd,
       count(cache_miss) AS misses
FROM llm_calls
WHERE cache_prefix_id IS NOT NULL
  AND ts >= coalesce($1::timestamptz, '-infinity') AND ts < coalesce($2::timestamptz, 'infinity')
  AND ($3::text IS NULL OR trace_id = $3) AND ($4::text IS NULL OR session_id = $4)
GROUP BY cache_prefix_id
ORDER BY saved_usd DESC NULLS LAST, calls DESC, cache_prefix_id
LIMIT 20;

-- 4. Hit ratio by call index within traces
SELECT least(n, 20) AS call_index, count(*) AS calls,
       (sum(cache_read_tokens) FILTER (WHERE input_tokens IS NOT NULL))::float8
         / nullif(sum(input_tokens) FILTER (WHERE cache_read_tokens IS NOT NULL), 0) AS hit_ratio
FROM (SELECT row_number() OVER (PARTITION BY coalesce(session_id, trace_id) ORDER BY ts, uuid) AS n,
             input_tokens, cache_read_tokens
      FROM llm_calls
      WHERE coalesce(session_id, trace_id) IS NOT NULL
        AND ts >= coalesce($1::timestamptz, '-infinity') AND ts < coalesce($2::timestamptz, 'infinity')
        AND ($3::text IS NULL OR trace_id = $3) AND ($4::text IS NULL OR session_id = $4)) AS numbered
GROUP BY 1
ORDER BY 1;
