//! Prompt and completion content: binary markers, output extraction, truncation.

use serde_json::{Map, Value};

/// Strings this long that are pure base64 are treated as binary, not prose.
const MIN_BARE_BASE64_LEN: usize = 512;

/// Replaces data URLs and long bare base64 strings with a size marker, in place.
///
/// Images and audio inside messages are useless in analytics and dominate
/// event size; the marker keeps the fact and the size.
pub(crate) fn replace_binary(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(marker) = binary_marker(s) {
                *s = marker;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(replace_binary),
        Value::Object(map) => map.values_mut().for_each(replace_binary),
        _ => {}
    }
}

fn binary_marker(s: &str) -> Option<String> {
    if let Some(rest) = s.strip_prefix("data:") {
        let (mime, data) = rest.split_once(";base64,")?;
        return Some(format!(
            "[binary {mime}, {} bytes]",
            decoded_len(data.len())
        ));
    }
    let looks_base64 = s.len() >= MIN_BARE_BASE64_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    looks_base64.then(|| format!("[binary base64, {} bytes]", decoded_len(s.len())))
}

fn decoded_len(base64_len: usize) -> usize {
    base64_len / 4 * 3
}

/// What the model answered, in PostHog's `$ai_output_choices` shape.
///
/// Chat: each choice's message (or text); Responses API: the `output` items;
/// Anthropic messages: one assistant message with the content blocks.
pub(crate) fn output_choices(response: &Value) -> Option<Value> {
    if let Some(choices) = response.get("choices").and_then(Value::as_array) {
        let out = choices
            .iter()
            .filter_map(|c| {
                c.get("message").cloned().or_else(|| {
                    let text = c.get("text")?.clone();
                    Some(assistant(text))
                })
            })
            .collect();
        return Some(Value::Array(out));
    }
    if let Some(output) = response.get("output").filter(|o| o.is_array()) {
        return Some(output.clone());
    }
    let content = response.get("content").filter(|c| !c.is_null())?;
    Some(Value::Array(vec![assistant(content.clone())]))
}

fn assistant(content: Value) -> Value {
    let mut m = Map::new();
    m.insert("role".into(), Value::from("assistant"));
    m.insert("content".into(), content);
    Value::Object(m)
}

/// Cuts every string in `value` longer than `max_chars` characters.
pub(crate) fn truncate_strings(value: &mut Value, max_chars: usize) {
    match value {
        Value::String(s) => {
            if let Some((cut, _)) = s.char_indices().nth(max_chars) {
                let dropped = s.len() - cut;
                s.truncate(cut);
                s.push_str(&format!("… [truncated {dropped} bytes]"));
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| truncate_strings(v, max_chars)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| truncate_strings(v, max_chars)),
        _ => {}
    }
}

/// The length of the longest string inside `value`.
pub(crate) fn longest_string(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(map) => map.values().map(longest_string).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_urls_and_bare_base64_become_markers() {
        let mut v = json!([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAABBBB"}},
                           {"type": "text", "text": "describe this"},
                           {"b64": "Q".repeat(600)}]);
        replace_binary(&mut v);
        assert_eq!(v[0]["image_url"]["url"], "[binary image/png, 6 bytes]");
        assert_eq!(v[1]["text"], "describe this");
        assert_eq!(v[2]["b64"], "[binary base64, 450 bytes]");
    }

    #[test]
    fn long_prose_is_not_mistaken_for_base64() {
        let prose = "word ".repeat(200);
        let mut v = Value::from(prose.clone());
        replace_binary(&mut v);
        assert_eq!(v, Value::from(prose));
    }

    #[test]
    fn output_choices_for_each_api_shape() {
        let chat = json!({"choices": [{"message": {"role": "assistant", "content": "hi"}}]});
        assert_eq!(
            output_choices(&chat).unwrap(),
            json!([{"role": "assistant", "content": "hi"}])
        );
        let text = json!({"choices": [{"text": "hi"}]});
        assert_eq!(
            output_choices(&text).unwrap(),
            json!([{"role": "assistant", "content": "hi"}])
        );
        let responses = json!({"output": [{"type": "message", "content": []}]});
        assert_eq!(
            output_choices(&responses).unwrap(),
            json!([{"type": "message", "content": []}])
        );
        let messages = json!({"content": [{"type": "text", "text": "hi"}]});
        assert_eq!(
            output_choices(&messages).unwrap(),
            json!([{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}])
        );
        assert_eq!(output_choices(&json!({"data": []})), None);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut v = json!({"a": "héllo wörld"});
        truncate_strings(&mut v, 3);
        assert_eq!(v["a"], "hél… [truncated 9 bytes]");
        assert_eq!(longest_string(&json!(["ab", {"x": "abcd"}])), 4);
    }
}
