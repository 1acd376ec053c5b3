"""`llmtap.normalize` and `llmtap.build_event`: the library's answers, and
the very event `llmtap replay` writes."""

import datetime
import enum
import json
import math

import pytest

import llmtap
from conftest import ROOT, fixture_path, load_slp, replay_events

FIXTURES = sorted((ROOT / "tests" / "fixtures" / "litellm-1.106").glob("*.json"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_build_event_is_the_event_replay_writes(path):
    (expected,) = replay_events(path)
    assert llmtap.build_event(load_slp(f"litellm-1.106/{path.name}")) == expected


def test_normalize_keeps_unreported_apart_from_zero():
    anthropic = llmtap.normalize(load_slp("litellm-1.106/anthropic_cache_read_and_write_split.json"))
    assert anthropic == {
        "input_tokens": 23427,
        "output_tokens": 400,
        "cache_read_tokens": 18000,
        "cache_write_tokens": 5424,
        "cache_write_5m_tokens": 1424,
        "cache_write_1h_tokens": 4000,
        "reasoning_tokens": 0,
        "audio_input_tokens": None,
        "image_input_tokens": None,
        "audio_output_tokens": None,
        "image_output_tokens": None,
        "web_search_requests": None,
    }
    openai = llmtap.normalize(load_slp("litellm-1.106/openai_cache_read_and_reasoning.json"))
    assert openai["cache_read_tokens"] > 0 and openai["reasoning_tokens"] > 0
    assert openai["cache_write_5m_tokens"] is None, "OpenAI has no cache write split"
    assert set(openai) == set(anthropic), "every field is present"


def test_gemini_reasoning_is_billed_as_posthog_expects():
    slp = load_slp("litellm-1.106/gemini_cache_and_thoughts.json")
    usage = llmtap.normalize(slp)
    props = llmtap.build_event(slp)["properties"]
    # The normalized output includes the thoughts; PostHog adds reasoning to
    # Gemini's output itself, so the event leaves it out.
    assert usage["output_tokens"] > usage["reasoning_tokens"] > 0
    assert props["$ai_reasoning_tokens"] == usage["reasoning_tokens"]
    assert props["$ai_output_tokens"] == usage["output_tokens"] - usage["reasoning_tokens"]


def test_headers_options_and_privacy():
    slp = load_slp("litellm-1.106/openai_cache_read_and_reasoning.json")
    event = llmtap.build_event(
        slp,
        headers={"x-posthog-property-team": "search", "x-posthog-property-$ai_input_tokens": "1"},
        properties={"env": "test"},
        privacy_mode=True,
    )
    props = event["properties"]
    assert props["team"] == "search" and props["env"] == "test"
    assert props["$ai_input_tokens"] == llmtap.normalize(slp)["input_tokens"], "token counts are protected"
    assert "$ai_input" not in props and "$ai_output_choices" not in props
    assert "$ai_input" in llmtap.build_event(slp)["properties"]
    with pytest.raises(TypeError, match="unexpected keyword argument .batch_size."):
        llmtap.build_event(slp, batch_size=3)


def test_a_pricing_file_prices_the_savings(tmp_path):
    slp = load_slp("litellm-1.106/anthropic_cache_read_and_write_split.json")
    pricing = tmp_path / "pricing.toml"
    pricing.write_text(
        '[models."claude-*"]\ninput_cost_per_token = 3e-06\noutput_cost_per_token = 1.5e-05\n'
        "cache_read_input_token_cost = 3e-07\ncache_creation_input_token_cost = 3.75e-06\n"
    )
    saved = llmtap.build_event(slp, pricing=str(pricing))["properties"]["cache_savings_usd"]
    # 18000 read at 3e-7 instead of 3e-6; of the writes, 1424 for 5 minutes at
    # 3.75e-6 and 4000 for an hour at twice the input rate, instead of 3e-6.
    assert saved == pytest.approx(18000 * (3e-06 - 3e-07) - 1424 * (3.75e-06 - 3e-06) - 4000 * 3e-06)


def test_bad_payloads_are_typed_errors():
    for bad in [{}, {"model": 3}, "not json", b"[1, 2]", [], None, 1.5]:
        with pytest.raises(llmtap.PayloadError):
            llmtap.normalize(bad)
    with pytest.raises(llmtap.PayloadError):
        llmtap.build_event({"startTime": 1})
    nested = {"model": "m"}
    cursor = nested
    for _ in range(1000):
        cursor["x"] = {}
        cursor = cursor["x"]
    with pytest.raises(llmtap.PayloadError, match="deeper"):
        llmtap.normalize(nested)
    looped = {"model": "m", "messages": []}
    looped["messages"].append(looped)
    with pytest.raises(llmtap.PayloadError):
        llmtap.build_event(looped)


class Tier(str, enum.Enum):
    DEFAULT = "default"


class Count(enum.IntEnum):
    TEN = 10


class Opaque:
    def __str__(self):
        return "opaque-object"


def test_python_objects_become_what_json_dumps_default_str_makes():
    """LiteLLM's generic logger sends `json.dumps(payload, default=str)`; the
    in-process path must give the same event from the same dict."""
    slp = load_slp("litellm-1.106/openai_cache_read_and_reasoning.json")
    slp["metadata"]["requester_metadata"] = {"when": datetime.datetime(2026, 12, 1, 10, 0, 0)}
    slp["metadata"]["user_api_key_metadata"] = {"tier": Tier.DEFAULT, "count": Count.TEN, "obj": Opaque()}
    slp["response_cost"] = math.nan
    slp["metadata"]["spend_logs_metadata"] = {"ratio": math.inf, ("a", 1): "tuple key", 2: "int key"}
    try:
        import pydantic

        class Extra(pydantic.BaseModel):
            name: str = "x"

        slp["metadata"]["requester_metadata"]["model"] = Extra()
    except ImportError:
        pass
    # json.dumps refuses the tuple key; llmtap keeps it as str(key).
    walked = json.loads(llmtap._llmtap._payload_json(slp))
    assert walked["metadata"]["spend_logs_metadata"].pop("('a', 1)") == "tuple key"
    assert walked["metadata"]["user_api_key_metadata"] == {"tier": "default", "count": 10, "obj": "opaque-object"}
    assert walked["metadata"]["requester_metadata"]["when"] == "2026-12-01 10:00:00"
    del slp["metadata"]["spend_logs_metadata"][("a", 1)]
    assert llmtap.build_event(slp) == llmtap.build_event(json.dumps(slp, default=str))
    assert "$ai_total_cost_usd" not in llmtap.build_event(slp)["properties"], "a NaN cost is no cost"


def test_a_nan_token_count_is_an_error_not_a_missing_count():
    slp = load_slp("litellm-1.106/openai_cache_read_and_reasoning.json")
    slp["metadata"]["usage_object"]["prompt_tokens"] = math.nan
    with pytest.raises(llmtap.PayloadError, match="prompt_tokens"):
        llmtap.normalize(slp)


def test_lone_surrogates_do_not_raise():
    slp = load_slp("litellm-1.106/openai_cache_read_and_reasoning.json")
    slp["messages"] = [{"role": "user", "content": "bad \ud800 text"}]
    props = llmtap.build_event(slp)["properties"]
    text = props["$ai_input"][0]["content"]
    assert text.startswith("bad \ufffd") and text.endswith(" text"), text


def test_the_kwargs_dump_people_paste_is_unwrapped():
    kwargs = json.loads(fixture_path("litellm/captured_kwargs.json").read_text())
    assert llmtap.normalize(kwargs) == llmtap.normalize(kwargs["standard_logging_object"])
