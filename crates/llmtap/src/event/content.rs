//! Prompt and completion content: kept raw, rewritten only when it must be.
//!
//! Content dominates event size and cost, so the common case forwards the
//! payload's bytes untouched; a tree is built only for content that holds
//! binary data or has to be truncated.

use crate::payload::{Answer, Choice};
use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;

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

/// A copy of `raw` fit to forward on one JSONL line: binary data replaced (if
/// asked) and pretty-printing removed, parsing only when a cheap scan says so.
pub(crate) fn forwardable(raw: &RawValue, replace: bool) -> Box<RawValue> {
    let json = raw.get().as_bytes();
    // Newlines inside JSON strings are escaped: a raw one is layout.
    let multiline = memchr::memchr2(b'\n', b'\r', json).is_some();
    match (replace && may_hold_binary(json), multiline) {
        (true, _) => rewrite(raw, replace_binary),
        (false, true) => rewrite(raw, |_| {}),
        (false, false) => raw.to_owned(),
    }
}

/// Parses, edits and re-encodes content. Raw content is valid JSON, so
/// neither step can fail; should one anyway, the content is left as it was.
pub(crate) fn rewrite(raw: &RawValue, edit: impl FnOnce(&mut Value)) -> Box<RawValue> {
    let Ok(mut value) = serde_json::from_str::<Value>(raw.get()) else {
        return raw.to_owned();
    };
    edit(&mut value);
    to_raw_value(&value).unwrap_or_else(|_| raw.to_owned())
}

/// True when `json` has a data URL or may have a bare base64 run long enough to matter.
///
/// A run of at least [`MIN_BARE_BASE64_LEN`] bytes always covers a whole
/// aligned block of half that size, so checking aligned blocks suffices; in
/// prose each block fails within a few bytes, which keeps this scan far
/// cheaper than reading every byte.
fn may_hold_binary(json: &[u8]) -> bool {
    if memchr::memmem::find(json, b";base64,").is_some() {
        return true;
    }
    json.chunks_exact(MIN_BARE_BASE64_LEN / 2)
        .any(|block| block.iter().all(|&b| is_base64(b)))
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
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
    fn raw_content_is_copied_untouched_unless_it_holds_binary() {
        let prose =
            RawValue::from_string(r#"[{"content":"caf\u00e9 and prose","role":"user"}]"#.into())
                .unwrap();
        assert_eq!(forwardable(&prose, true).get(), prose.get());
        let image =
            RawValue::from_string(r#"[{"url":"data:image/jpeg;base64,AAAA"}]"#.into()).unwrap();
        assert_eq!(
            forwardable(&image, true).get(),
            r#"[{"url":"[binary image/jpeg, 3 bytes]"}]"#
        );
        let bare = to_raw_value(&json!({"audio": "Zm9v".repeat(200)})).unwrap();
        assert_eq!(
            forwardable(&bare, true).get(),
            r#"{"audio":"[binary base64, 600 bytes]"}"#
        );
        assert_eq!(forwardable(&bare, false).get(), bare.get());
        let pretty = RawValue::from_string("[\n  {\"a\": 1}\n]".into()).unwrap();
        assert_eq!(forwardable(&pretty, false).get(), r#"[{"a":1}]"#);
    }

    #[test]
    fn long_prose_is_not_mistaken_for_base64() {
        let prose = "word ".repeat(200);
        let mut v = Value::from(prose.clone());
        replace_binary(&mut v);
        assert_eq!(v, Value::from(prose));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut v = json!({"a": "héllo wörld"});
        truncate_strings(&mut v, 3);
        assert_eq!(v["a"], "hél… [truncated 9 bytes]");
        assert_eq!(longest_string(&json!(["ab", {"x": "abcd"}])), 4);
    }
}

/// `$ai_output_choices` from what the model answered: chat choices' messages
/// (a text completion's `text` as an assistant message), the Responses API's
/// output items, or one assistant message holding Anthropic's content blocks.
pub(crate) fn output_choices(answer: &Answer) -> Option<Box<RawValue>> {
    let assistant = |out: &mut String, content: &RawValue| {
        out.push_str(r#"{"role":"assistant","content":"#);
        out.push_str(content.get());
        out.push('}');
    };
    match answer {
        Answer::Output(items) => Some(items.clone()),
        Answer::Content(blocks) => {
            let mut out = String::with_capacity(blocks.get().len() + 40);
            out.push('[');
            assistant(&mut out, blocks);
            out.push(']');
            RawValue::from_string(out).ok()
        }
        Answer::Choices(choices) => {
            let mut out = String::with_capacity(256);
            out.push('[');
            for (i, c) in choices.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match c {
                    Choice::Message(m) => out.push_str(m.get()),
                    Choice::Text(t) => assistant(&mut out, t),
                    Choice::Empty => out.push_str("null"),
                }
            }
            out.push(']');
            RawValue::from_string(out).ok()
        }
    }
}

#[cfg(test)]
mod output_choices_tests {
    use super::*;
    use serde_json::json;

    fn choices(response: serde_json::Value) -> Option<serde_json::Value> {
        let payload = crate::Payload::from_value(&json!({
            "model": "m", "startTime": 1750000000.0, "response": response,
        }))
        .unwrap();
        let raw = output_choices(payload.answer()?)?;
        Some(serde_json::from_str(raw.get()).unwrap())
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
    }
}
