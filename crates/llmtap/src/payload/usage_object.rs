//! Every provider usage shape an SLP can carry, field for field.
//!
//! This is the one place where provider usage field names are written. It
//! models `metadata.usage_object` and `response.usage`, which hold LiteLLM's
//! `Usage` dump in current versions but raw Anthropic, Bedrock Converse, Gemini
//! or OpenAI Responses usage in others. Meaning is assigned in
//! [`crate::usage`]; here a field is only "present with this count" or "absent".

use serde::Deserialize;

use super::number::TokenCount;

/// A usage object as found in a payload; every field optional, unknown ones ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RawUsage {
    // LiteLLM `Usage` and OpenAI chat completions.
    pub(crate) prompt_tokens: Option<TokenCount>,
    pub(crate) completion_tokens: Option<TokenCount>,
    pub(crate) total_tokens: Option<TokenCount>,
    pub(crate) prompt_tokens_details: Option<InputDetails>,
    pub(crate) completion_tokens_details: Option<OutputDetails>,

    // Anthropic Messages (raw), and LiteLLM's top-level copies of them.
    pub(crate) input_tokens: Option<TokenCount>,
    pub(crate) output_tokens: Option<TokenCount>,
    pub(crate) cache_read_input_tokens: Option<TokenCount>,
    pub(crate) cache_creation_input_tokens: Option<TokenCount>,
    pub(crate) cache_creation: Option<CacheWriteSplit>,
    /// Server-side tools (web search) the provider ran and bills per request.
    pub(crate) server_tool_use: Option<ServerToolUse>,
    /// Raw Anthropic usage per sampling iteration (context compaction): the
    /// top-level counts may cover only the last iteration.
    pub(crate) iterations: Option<Vec<RawUsage>>,
    /// The tier that served the call (`standard`, `priority`, `flex`, …).
    #[serde(deserialize_with = "super::number::string_or_none")]
    pub(crate) service_tier: Option<String>,

    // OpenAI Responses API (`input_tokens` / `output_tokens` above).
    pub(crate) input_tokens_details: Option<InputDetails>,
    pub(crate) output_tokens_details: Option<OutputDetails>,

    // DeepSeek and Mistral extras that LiteLLM copies to the top level.
    pub(crate) prompt_cache_hit_tokens: Option<TokenCount>,
    pub(crate) prompt_cache_miss_tokens: Option<TokenCount>,
    pub(crate) num_cached_tokens: Option<TokenCount>,

    // Bedrock Converse (both spellings have been seen in one object).
    #[serde(rename = "inputTokens")]
    pub(crate) bedrock_input_tokens: Option<TokenCount>,
    #[serde(rename = "outputTokens")]
    pub(crate) bedrock_output_tokens: Option<TokenCount>,
    #[serde(rename = "totalTokens")]
    pub(crate) bedrock_total_tokens: Option<TokenCount>,
    #[serde(rename = "cacheReadInputTokens")]
    pub(crate) bedrock_cache_read: Option<TokenCount>,
    #[serde(rename = "cacheReadInputTokenCount")]
    pub(crate) bedrock_cache_read_count: Option<TokenCount>,
    #[serde(rename = "cacheWriteInputTokens")]
    pub(crate) bedrock_cache_write: Option<TokenCount>,
    #[serde(rename = "cacheWriteInputTokenCount")]
    pub(crate) bedrock_cache_write_count: Option<TokenCount>,

    // Gemini / Vertex Gemini `usageMetadata`.
    #[serde(rename = "promptTokenCount")]
    pub(crate) gemini_prompt: Option<TokenCount>,
    #[serde(rename = "candidatesTokenCount")]
    pub(crate) gemini_candidates: Option<TokenCount>,
    #[serde(rename = "totalTokenCount")]
    pub(crate) gemini_total: Option<TokenCount>,
    #[serde(rename = "cachedContentTokenCount")]
    pub(crate) gemini_cached: Option<TokenCount>,
    #[serde(rename = "thoughtsTokenCount")]
    pub(crate) gemini_thoughts: Option<TokenCount>,
    #[serde(rename = "toolUsePromptTokenCount")]
    pub(crate) gemini_tool_use_prompt: Option<TokenCount>,
}

/// `prompt_tokens_details` (chat) or `input_tokens_details` (Responses API).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct InputDetails {
    pub(crate) cached_tokens: Option<TokenCount>,
    pub(crate) cache_creation_tokens: Option<TokenCount>,
    pub(crate) cache_write_tokens: Option<TokenCount>,
    pub(crate) text_tokens: Option<TokenCount>,
    pub(crate) audio_tokens: Option<TokenCount>,
    pub(crate) image_tokens: Option<TokenCount>,
    pub(crate) web_search_requests: Option<TokenCount>,
    pub(crate) cache_creation_token_details: Option<CacheWriteSplit>,
}

/// `completion_tokens_details` (chat) or `output_tokens_details` (Responses API).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OutputDetails {
    pub(crate) reasoning_tokens: Option<TokenCount>,
    /// Raw Anthropic's name for reasoning, inside `output_tokens`.
    pub(crate) thinking_tokens: Option<TokenCount>,
    pub(crate) audio_tokens: Option<TokenCount>,
    pub(crate) image_tokens: Option<TokenCount>,
}

/// Anthropic's `server_tool_use`, which LiteLLM copies into its `Usage`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServerToolUse {
    pub(crate) web_search_requests: Option<TokenCount>,
}

/// Anthropic's split of cache writes by time-to-live.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CacheWriteSplit {
    pub(crate) ephemeral_5m_input_tokens: Option<TokenCount>,
    pub(crate) ephemeral_1h_input_tokens: Option<TokenCount>,
}

impl RawUsage {
    /// True when the object carries no count at all (LiteLLM's `{}` for failures).
    pub fn is_empty(&self) -> bool {
        *self == RawUsage::default()
    }
}
