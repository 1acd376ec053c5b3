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

/// What a response contributes to the payload.
#[derive(Default)]
pub(crate) struct ResponseParts {
    pub usage: Option<RawUsage>,
    pub output_choices: Option<Box<RawValue>>,
    pub finish_reason: Option<String>,
    pub service_tier: Option<String>,
}

/// Reads `response` (any JSON); a response that is not an object has neither part.
pub(crate) fn read(response: &RawValue) -> Result<ResponseParts, PayloadError> {
    let json = response.get();
    if !json.starts_with('{') {
        return Ok(ResponseParts::default());
    }
    let mut view: ResponseView = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(_) => return Err(explain(json)),
    };
    let output_choices = output_choices(&view);
    let finish_reason = view
        .choices
        .as_mut()
        .and_then(|c| c.first_mut())
        .and_then(|c| c.finish_reason.take());
    Ok(ResponseParts {
        usage: view.usage,
        output_choices,
        finish_reason,
        service_tier: view.service_tier,
    })
}

/// Chat: each choice's message (or its text as an assistant message);
/// Responses API: the output items; Anthropic messages: one assistant
/// message holding the content blocks.
fn output_choices(view: &ResponseView) -> Option<Box<RawValue>> {
    if let Some(choices) = &view.choices {
        let mut out = String::with_capacity(256);
        out.push('[');
        for (i, c) in choices.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match (c.message, c.text) {
                (Some(m), _) if m.get() != "null" => out.push_str(m.get()),
                (_, Some(t)) => assistant(&mut out, t),
                _ => out.push_str("null"),
            }
        }
        out.push(']');
        return RawValue::from_string(out).ok();
    }
    if let Some(output) = view.output.filter(|o| o.get().starts_with('[')) {
        return to_raw_value(output).ok();
    }
    let content = view.content.filter(|c| c.get() != "null")?;
    let mut out = String::with_capacity(content.get().len() + 40);
    out.push('[');
    assistant(&mut out, content);
    out.push(']');
    RawValue::from_string(out).ok()
}

fn assistant(out: &mut String, content: &RawValue) {
    out.push_str(r#"{"role":"assistant","content":"#);
    out.push_str(content.get());
    out.push('}');
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
    use serde_json::{json, Value};

    fn choices(response: Value) -> Option<Value> {
        let raw = to_raw_value(&response).unwrap();
        read(&raw)
            .unwrap()
            .output_choices
            .map(|r| serde_json::from_str(r.get()).unwrap())
    }

    #[test]
    fn output_choices_for_each_api_shape() {
        let chat = json!({"choices": [{"message": {"role": "assistant", "content": "hi"}}]});
        assert_eq!(
            choices(chat).unwrap(),
            json!([{"role": "assistant", "content": "hi"}])
        );
        let text = json!({"choices": [{"text": "hi"}]});
        assert_eq!(
            choices(text).unwrap(),
            json!([{"role": "assistant", "content": "hi"}])
        );
        let responses = json!({"output": [{"type": "message", "content": []}]});
        assert_eq!(
            choices(responses).unwrap(),
            json!([{"type": "message", "content": []}])
        );
        let messages = json!({"content": [{"type": "text", "text": "hi"}]});
        assert_eq!(
            choices(messages).unwrap(),
            json!([{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}])
        );
        assert_eq!(choices(json!({"data": []})), None);
        assert_eq!(choices(json!("a string response")), None);
    }

    #[test]
    fn the_answer_is_forwarded_byte_for_byte() {
        let raw = RawValue::from_string(
            r#"{"choices":[{"message":{"content":"caf\u00e9 1.0e3","role":"assistant"}}]}"#.into(),
        )
        .unwrap();
        let out = read(&raw).unwrap().output_choices.unwrap();
        assert_eq!(
            out.get(),
            r#"[{"content":"caf\u00e9 1.0e3","role":"assistant"}]"#
        );
    }
}
