//! PostHog's property and event names: the one place they are written.

/// Event name for chat, completion, Responses API and messages calls.
#[doc = "`$ai_generation`"]
pub const AI_GENERATION: &str = "$ai_generation";
/// Event name for embedding calls.
#[doc = "`$ai_embedding`"]
pub const AI_EMBEDDING: &str = "$ai_embedding";
/// llmtap's own event: a cache alert (see [`crate::Alert`]).
#[doc = "`llmtap_cache_alert`"]
pub const CACHE_ALERT: &str = "llmtap_cache_alert";

#[doc = "`$ai_model`"]
pub const MODEL: &str = "$ai_model";
#[doc = "`$ai_provider`"]
pub const PROVIDER: &str = "$ai_provider";
#[doc = "`$ai_input`"]
pub const INPUT: &str = "$ai_input";
#[doc = "`$ai_output_choices`"]
pub const OUTPUT_CHOICES: &str = "$ai_output_choices";
#[doc = "`$ai_input_tokens`"]
pub const INPUT_TOKENS: &str = "$ai_input_tokens";
#[doc = "`$ai_output_tokens`"]
pub const OUTPUT_TOKENS: &str = "$ai_output_tokens";
#[doc = "`$ai_cache_read_input_tokens`"]
pub const CACHE_READ_INPUT_TOKENS: &str = "$ai_cache_read_input_tokens";
#[doc = "`$ai_cache_creation_input_tokens`"]
pub const CACHE_CREATION_INPUT_TOKENS: &str = "$ai_cache_creation_input_tokens";
#[doc = "`$ai_cache_creation_5m_input_tokens`"]
pub const CACHE_CREATION_5M_INPUT_TOKENS: &str = "$ai_cache_creation_5m_input_tokens";
#[doc = "`$ai_cache_creation_1h_input_tokens`"]
pub const CACHE_CREATION_1H_INPUT_TOKENS: &str = "$ai_cache_creation_1h_input_tokens";
#[doc = "`$ai_cache_reporting_exclusive`"]
pub const CACHE_REPORTING_EXCLUSIVE: &str = "$ai_cache_reporting_exclusive";
#[doc = "`$ai_reasoning_tokens`"]
pub const REASONING_TOKENS: &str = "$ai_reasoning_tokens";
#[doc = "`$ai_audio_input_tokens`"]
pub const AUDIO_INPUT_TOKENS: &str = "$ai_audio_input_tokens";
#[doc = "`$ai_image_input_tokens`"]
pub const IMAGE_INPUT_TOKENS: &str = "$ai_image_input_tokens";
#[doc = "`$ai_audio_output_tokens`"]
pub const AUDIO_OUTPUT_TOKENS: &str = "$ai_audio_output_tokens";
#[doc = "`$ai_image_output_tokens`"]
pub const IMAGE_OUTPUT_TOKENS: &str = "$ai_image_output_tokens";
/// Never emitted: PostHog derives the text pools itself, and an explicit
/// value would replace that derivation. Protected so no header sets it.
#[doc = "`$ai_text_input_tokens`"]
pub const TEXT_INPUT_TOKENS: &str = "$ai_text_input_tokens";
/// Never emitted, like [`TEXT_INPUT_TOKENS`].
#[doc = "`$ai_text_output_tokens`"]
pub const TEXT_OUTPUT_TOKENS: &str = "$ai_text_output_tokens";
#[doc = "`$ai_web_search_count`"]
pub const WEB_SEARCH_COUNT: &str = "$ai_web_search_count";
#[doc = "`$ai_service_tier`"]
pub const SERVICE_TIER: &str = "$ai_service_tier";
#[doc = "`$ai_stop_reason`"]
pub const STOP_REASON: &str = "$ai_stop_reason";
#[doc = "`$ai_latency`"]
pub const LATENCY: &str = "$ai_latency";
#[doc = "`$ai_time_to_first_token`"]
pub const TIME_TO_FIRST_TOKEN: &str = "$ai_time_to_first_token";
#[doc = "`$ai_stream`"]
pub const STREAM: &str = "$ai_stream";
#[doc = "`$ai_model_parameters`"]
pub const MODEL_PARAMETERS: &str = "$ai_model_parameters";
#[doc = "`$ai_base_url`"]
pub const BASE_URL: &str = "$ai_base_url";
#[doc = "`$ai_trace_id`"]
pub const TRACE_ID: &str = "$ai_trace_id";
#[doc = "`$ai_span_id`"]
pub const SPAN_ID: &str = "$ai_span_id";
#[doc = "`$ai_parent_id`"]
pub const PARENT_ID: &str = "$ai_parent_id";
#[doc = "`$ai_session_id`"]
pub const SESSION_ID: &str = "$ai_session_id";
#[doc = "`$ai_http_status`"]
pub const HTTP_STATUS: &str = "$ai_http_status";
#[doc = "`$ai_is_error`"]
pub const IS_ERROR: &str = "$ai_is_error";
#[doc = "`$ai_error`"]
pub const ERROR: &str = "$ai_error";
#[doc = "`$ai_total_cost_usd`"]
pub const TOTAL_COST_USD: &str = "$ai_total_cost_usd";
#[doc = "`$ai_cost_passthrough`"]
pub const COST_PASSTHROUGH: &str = "$ai_cost_passthrough";
#[doc = "`$ai_input_cost_usd`"]
pub const INPUT_COST_USD: &str = "$ai_input_cost_usd";
#[doc = "`$ai_output_cost_usd`"]
pub const OUTPUT_COST_USD: &str = "$ai_output_cost_usd";
/// llmtap's own (no `$`): the id of the call's cacheable prompt prefix.
#[doc = "`cache_prefix_id`"]
pub const CACHE_PREFIX_ID: &str = "cache_prefix_id";
/// llmtap's own: cache read ÷ all input tokens.
#[doc = "`cache_hit_ratio`"]
pub const CACHE_HIT_RATIO: &str = "cache_hit_ratio";
/// llmtap's own: USD the prompt cache saved on the call (negative when writes did not pay back).
#[doc = "`cache_savings_usd`"]
pub const CACHE_SAVINGS_USD: &str = "cache_savings_usd";
/// llmtap's own: why a call with a cacheable prefix read nothing
/// (`uncached`, `cold`, `expired`, `silent`).
#[doc = "`cache_miss`"]
pub const CACHE_MISS: &str = "cache_miss";
/// Alert events: which rule fired (`hit_ratio_drop`, `silent_misses`,
/// `cache_fields_missing`, `inconsistent_usage`, `cost_mismatch`).
#[doc = "`kind`"]
pub const ALERT_KIND: &str = "kind";
/// Alert events: the prefix's rolling hit ratio when the alert fired.
#[doc = "`hit_ratio`"]
pub const ALERT_HIT_RATIO: &str = "hit_ratio";
/// Alert events: the last rolling hit ratio at or above the threshold.
#[doc = "`previous_hit_ratio`"]
pub const ALERT_PREVIOUS_HIT_RATIO: &str = "previous_hit_ratio";
/// Alert events: how many calls the rule counted.
#[doc = "`calls`"]
pub const ALERT_CALLS: &str = "calls";
/// Alert events: the seconds of payload time those calls span.
#[doc = "`window_seconds`"]
pub const ALERT_WINDOW_SECONDS: &str = "window_seconds";
#[doc = "`$process_person_profile`"]
pub const PROCESS_PERSON_PROFILE: &str = "$process_person_profile";
#[doc = "`$groups`"]
pub const GROUPS: &str = "$groups";
#[doc = "`$lib`"]
pub const LIB: &str = "$lib";
#[doc = "`$lib_version`"]
pub const LIB_VERSION: &str = "$lib_version";
#[doc = "`$set`"]
pub const SET: &str = "$set";
#[doc = "`$set_once`"]
pub const SET_ONCE: &str = "$set_once";
#[doc = "`$ip`"]
pub const IP: &str = "$ip";
/// Prefix of feature-flag properties set through `x-posthog-flag-*` headers.
pub const FEATURE_PREFIX: &str = "$feature/";

/// What header-passed properties may not override unless configured otherwise:
/// the accounting (so a client cannot spoof its own bill or its cache
/// figures), the event's identity
/// and where PostHog files it (person, groups, library, model and outcome).
pub const PROTECTED_BY_DEFAULT: &[&str] = &[
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_READ_INPUT_TOKENS,
    CACHE_CREATION_INPUT_TOKENS,
    CACHE_CREATION_5M_INPUT_TOKENS,
    CACHE_CREATION_1H_INPUT_TOKENS,
    CACHE_REPORTING_EXCLUSIVE,
    REASONING_TOKENS,
    AUDIO_INPUT_TOKENS,
    IMAGE_INPUT_TOKENS,
    AUDIO_OUTPUT_TOKENS,
    IMAGE_OUTPUT_TOKENS,
    TEXT_INPUT_TOKENS,
    TEXT_OUTPUT_TOKENS,
    WEB_SEARCH_COUNT,
    SERVICE_TIER,
    TOTAL_COST_USD,
    COST_PASSTHROUGH,
    INPUT_COST_USD,
    OUTPUT_COST_USD,
    CACHE_PREFIX_ID,
    CACHE_HIT_RATIO,
    CACHE_SAVINGS_USD,
    CACHE_MISS,
    PROCESS_PERSON_PROFILE,
    LIB,
    LIB_VERSION,
    GROUPS,
    SET,
    SET_ONCE,
    IP,
    MODEL,
    PROVIDER,
    IS_ERROR,
    HTTP_STATUS,
    "distinct_id",
    "uuid",
    "event",
    "timestamp",
];
