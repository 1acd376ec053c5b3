//! What llmtap reads from `response`, without building a JSON tree.
//!
//! The response dump is forwarded to PostHog as `$ai_output_choices`; reading
//! it through borrowed raw slices keeps the model's answer byte for byte and
//! costs little more than skipping it.

use serde::Deserialize;
use serde_json::value::{to_raw_value, RawValue};

use super::usage_object::RawUsage;
use super::PayloadError;

/// The parts of a response dump llmtap uses.
#[derive(Deserialize)]
struct ResponseView<'a> {
    #[serde(default, borrow)]
    choices: Option<Vec<ChoiceView<'a>>>,
    /// Responses API output items.
    #[serde(default, borrow)]
    output: Option<&'a RawValue>,
    /// Anthropic Messages content blocks.
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(default, deserialize_with = "super::number::string_or_none")]
    service_tier: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceView<'a> {
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "super::number::string_or_none")]
    finish_reason: Option<String>,
}

/// What a response contributes to the payload, read once.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResponseParts {
    pub(crate) usage: Option<RawUsage>,
    pub(crate) answer: Option<Answer>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) service_tier: Option<String>,
}

/// What the model answered, as the response shape holds it (raw JSON, so it
/// can be forwarded byte for byte).
#[derive(Debug, Clone)]
pub enum Answer {
    /// Chat or text completions: one entry per choice.
    Choices(Vec<Choice>),
    /// Responses API: the output items (a JSON array).
    Output(Box<RawValue>),
    /// Anthropic messages: the content blocks of the one assistant message.
    Content(Box<RawValue>),
}

/// One choice of a chat or text completion.
#[derive(Debug, Clone)]
pub enum Choice {
    /// The choice's `message` object.
    Message(Box<RawValue>),
    /// A legacy completion's `text`.
    Text(Box<RawValue>),
    /// Neither.
    Empty,
}

/// Reads `response` (any JSON); a response that is not an object has no parts.
pub(crate) fn read(response: &RawValue) -> Result<ResponseParts, PayloadError> {
    let json = response.get();
    if !json.starts_with('{') {
        return Ok(ResponseParts::default());
    }
    let view: ResponseView = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(_) => return Err(explain(json)),
    };
    let answer = answer(&view);
    let finish_reason = view
        .choices
        .and_then(|c| c.into_iter().next())
        .and_then(|c| c.finish_reason);
    Ok(ResponseParts {
        usage: view.usage,
        answer,
        finish_reason,
        service_tier: view.service_tier,
    })
}

fn answer(view: &ResponseView) -> Option<Answer> {
    let own = |raw: &RawValue| to_raw_value(raw).ok();
    if let Some(choices) = &view.choices {
        let choices = choices
            .iter()
            .map(|c| match (c.message, c.text) {
                (Some(m), _) if m.get() != "null" => own(m).map_or(Choice::Empty, Choice::Message),
                (_, Some(t)) => own(t).map_or(Choice::Empty, Choice::Text),
                _ => Choice::Empty,
            })
            .collect();
        return Some(Answer::Choices(choices));
    }
    if let Some(output) = view.output.filter(|o| o.get().starts_with('[')) {
        return own(output).map(Answer::Output);
    }
    let content = view.content.filter(|c| c.get() != "null")?;
    own(content).map(Answer::Content)
}

fn explain(json: &str) -> PayloadError {
    let de = &mut serde_json::Deserializer::from_str(json);
    match serde_path_to_error::deserialize::<_, ResponseView>(de) {
        Ok(_) => PayloadError::Syntax {
            message: "response could not be read".into(),
        },
        Err(e) => PayloadError::Field {
            field: format!("response.{}", e.path()),
            message: e.inner().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer_of(response: serde_json::Value) -> Option<Answer> {
        read(&to_raw_value(&response).unwrap()).unwrap().answer
    }

    #[test]
    fn each_api_shape_gives_its_answer() {
        let chat = json!({"choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]});
        assert!(
            matches!(answer_of(chat).unwrap(), Answer::Choices(c) if matches!(c[..], [Choice::Message(_)]))
        );
        let text = json!({"choices": [{"text": "hi"}]});
        assert!(
            matches!(answer_of(text).unwrap(), Answer::Choices(c) if matches!(c[..], [Choice::Text(_)]))
        );
        let responses = json!({"output": [{"type": "message", "content": []}]});
        assert!(matches!(answer_of(responses), Some(Answer::Output(_))));
        let messages = json!({"content": [{"type": "text", "text": "hi"}]});
        assert!(matches!(answer_of(messages), Some(Answer::Content(_))));
        assert!(answer_of(json!({"data": []})).is_none());
        assert!(answer_of(json!("a string response")).is_none());
    }

    #[test]
    fn the_answer_is_kept_byte_for_byte() {
        let raw = RawValue::from_string(
            r#"{"choices":[{"message":{"content":"caf\u00e9 1.0e3","role":"assistant"}}]}"#.into(),
        )
        .unwrap();
        let Some(Answer::Choices(choices)) = read(&raw).unwrap().answer else {
            panic!("chat answer expected");
        };
        let [Choice::Message(m)] = &choices[..] else {
            panic!("one message expected");
        };
        assert_eq!(
            m.get(),
            r#"{"content":"caf\u00e9 1.0e3","role":"assistant"}"#
        );
    }
}
