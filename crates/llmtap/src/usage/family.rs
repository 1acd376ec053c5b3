//! How each provider family reports usage through LiteLLM.
//!
//! Adding a provider is one edit to [`Family::of`].

/// A group of providers whose usage reaches llmtap with the same semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// OpenAI and every OpenAI-compatible API (Azure, xAI, Mistral, DeepSeek,
    /// OpenRouter, vLLM, …): input includes cache; absent stays absent.
    OpenAiCompatible,
    /// Anthropic models, direct or on Vertex/Azure, and Bedrock: the raw input
    /// count excludes cache. (LiteLLM also zero-fills every cache and
    /// reasoning field the provider did not send; such a 0 is emitted as 0,
    /// since the real API reports both cache counts on every response.)
    AnthropicLike,
    /// Gemini and Vertex Gemini: input includes cache, thoughts are outside
    /// the raw candidate count.
    Gemini,
}

impl Family {
    /// The family of a call, from LiteLLM's provider name and the model.
    pub(crate) fn of(provider: &str, model: &str) -> Family {
        let provider = provider.to_ascii_lowercase();
        let claude = model.to_ascii_lowercase().contains("claude");
        match provider.as_str() {
            "anthropic" | "bedrock" | "bedrock_converse" | "sagemaker_anthropic" => {
                Family::AnthropicLike
            }
            "vertex_ai" | "vertex_ai_beta" | "azure_ai" | "databricks" if claude => {
                Family::AnthropicLike
            }
            "gemini" | "vertex_ai" | "vertex_ai_beta" | "google_ai_studio" => Family::Gemini,
            _ => Family::OpenAiCompatible,
        }
    }

    /// Whether the provider's own input count leaves cached tokens out.
    pub(crate) fn raw_input_excludes_cache(self) -> bool {
        self == Family::AnthropicLike
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_map_to_their_families() {
        assert_eq!(Family::of("anthropic", "claude-3"), Family::AnthropicLike);
        assert_eq!(
            Family::of("bedrock", "converse/amazon.nova-pro"),
            Family::AnthropicLike
        );
        assert_eq!(
            Family::of("vertex_ai", "claude-sonnet-4@20250514"),
            Family::AnthropicLike
        );
        assert_eq!(Family::of("vertex_ai", "gemini-2.5-pro"), Family::Gemini);
        assert_eq!(
            Family::of("openrouter", "anthropic/claude"),
            Family::OpenAiCompatible
        );
        assert_eq!(Family::of("", "gpt-4o"), Family::OpenAiCompatible);
        assert_eq!(
            Family::of("some_new_provider", "x"),
            Family::OpenAiCompatible
        );
    }
}
