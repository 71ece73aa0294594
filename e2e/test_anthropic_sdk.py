"""The official `anthropic` SDK against the gateway, for every upstream type."""

from __future__ import annotations

import anthropic
import pytest

from helpers import CACHE_READ, CACHING_UPSTREAMS, TOOL_RESULT, WEATHER_ANTHROPIC

# Every same-protocol request here is also checked against the canonical path.
pytestmark = pytest.mark.usefixtures("compare_fast_path")


def _text(msg) -> str:
    return "".join(b.text for b in msg.content if b.type == "text")


def test_messages(ant, route):
    m = ant.messages.create(
        model=route, max_tokens=256, system="You are terse.",
        messages=[{"role": "user", "content": "hello anthropic"}],
    )
    assert m.type == "message" and m.role == "assistant"
    assert m.id.startswith("msg_")
    assert _text(m) == "echo: hello anthropic"
    assert m.stop_reason == "end_turn"


def test_anthropic_prefix(gw, route):
    with anthropic.Anthropic(base_url=gw + "/anthropic", api_key="x", timeout=20, max_retries=0) as c:
        m = c.messages.create(model=route, max_tokens=64, messages=[{"role": "user", "content": "prefixed"}])
    assert _text(m) == "echo: prefixed"


def test_messages_stream_text(ant, route):
    with ant.messages.stream(
        model=route, max_tokens=256, messages=[{"role": "user", "content": "stream anthropic"}],
    ) as s:
        deltas = "".join(s.text_stream)
        final = s.get_final_message()
    assert deltas == "echo: stream anthropic"
    assert _text(final) == "echo: stream anthropic"
    assert final.stop_reason == "end_turn"


def test_messages_raw_stream_events(ant, route):
    events = list(ant.messages.create(
        model=route, max_tokens=256, messages=[{"role": "user", "content": "raw events"}], stream=True,
    ))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_delta" in kinds and "message_delta" in kinds
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert text == "echo: raw events"


def _check_usage(u, route):
    assert u.output_tokens >= 1
    assert u.input_tokens >= 1
    cached = u.cache_read_input_tokens or 0
    if route in CACHING_UPSTREAMS:
        assert cached == CACHE_READ
    else:
        assert cached == 0
    assert u.input_tokens + cached >= 1 + (CACHE_READ if route in CACHING_UPSTREAMS else 0)


def test_usage(ant, route):
    m = ant.messages.create(model=route, max_tokens=256, messages=[{"role": "user", "content": "usage please"}])
    _check_usage(m.usage, route)


def test_stream_usage(ant, route):
    with ant.messages.stream(model=route, max_tokens=256,
                             messages=[{"role": "user", "content": "streamed usage"}]) as s:
        final = s.get_final_message()
    _check_usage(final.usage, route)


def test_tool_round_trip(ant, route):
    question = "Tokyo"
    first = ant.messages.create(
        model=route, max_tokens=256, tools=WEATHER_ANTHROPIC, messages=[{"role": "user", "content": question}],
    )
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 1
    use = uses[0]
    assert use.name == "get_weather" and use.id
    assert use.input == {"city": question}

    second = ant.messages.create(
        model=route, max_tokens=256, tools=WEATHER_ANTHROPIC,
        messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": TOOL_RESULT}]},
        ],
    )
    assert _text(second) == f"tool result: {TOOL_RESULT}"
    assert second.stop_reason == "end_turn"


def test_stream_tool_call(ant, route):
    question = "Lisbon"
    with ant.messages.stream(
        model=route, max_tokens=256, tools=WEATHER_ANTHROPIC, messages=[{"role": "user", "content": question}],
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    uses = [b for b in final.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather"
    assert uses[0].input == {"city": question}

    with ant.messages.stream(
        model=route, max_tokens=256, tools=WEATHER_ANTHROPIC,
        messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": [{"type": "tool_use", "id": uses[0].id, "name": uses[0].name,
                                               "input": uses[0].input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id,
                                          "content": [{"type": "text", "text": TOOL_RESULT}]}]},
        ],
    ) as s:
        answer = s.get_final_text()
    assert answer == f"tool result: {TOOL_RESULT}"


def test_models_list(ant):
    ids = {m.id for m in ant.models.list()}
    assert {"to-openai", "to-anthropic", "to-ollama"} <= ids
    for m in ant.models.list():
        assert m.type == "model"


def test_models_retrieve(ant):
    m = ant.models.retrieve("to-anthropic")
    assert m.id == "to-anthropic" and m.type == "model"


def test_count_tokens(ant, route):
    short = ant.messages.count_tokens(model=route, messages=[{"role": "user", "content": "hi"}])
    long = ant.messages.count_tokens(
        model=route, system="You are a careful assistant.",
        messages=[{"role": "user", "content": "a much longer question " * 50}],
        tools=WEATHER_ANTHROPIC,
    )
    assert short.input_tokens >= 1
    assert long.input_tokens > short.input_tokens


def test_unknown_model(ant):
    with pytest.raises(anthropic.NotFoundError) as e:
        ant.messages.create(model="no-such-model", max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 404
    assert e.value.body["type"] == "error"
    assert e.value.body["error"]["type"] == "not_found_error"


def test_unknown_model_stream(ant):
    with pytest.raises(anthropic.NotFoundError):
        with ant.messages.stream(model="no-such-model", max_tokens=16,
                                 messages=[{"role": "user", "content": "x"}]) as s:
            s.get_final_message()


def test_unknown_model_count_tokens(ant):
    with pytest.raises(anthropic.NotFoundError):
        ant.messages.count_tokens(model="no-such-model", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("kwargs", [
    {"max_tokens": 64, "messages": "not a list"},
    {"max_tokens": 64, "messages": [{"role": "wizard", "content": "x"}]},
    {"max_tokens": "lots", "messages": [{"role": "user", "content": "x"}]},
], ids=["string-messages", "bad-role", "bad-max-tokens"])
def test_malformed_request(ant, route, kwargs):
    with pytest.raises(anthropic.BadRequestError) as e:
        ant.messages.create(model=route, **kwargs)
    assert e.value.status_code == 400
    assert e.value.body["error"]["type"] == "invalid_request_error"


def _many_tools(n: int) -> list[dict]:
    tools = []
    for i in range(n):
        tools.append({
            "name": f"tool_{i:02d}",
            "description": f"Tool number {i}",
            "input_schema": {
                "type": "object",
                "properties": {f"arg_{i}": {"type": "string"}, "extra": {"type": "integer"}},
                "required": [f"arg_{i}"],
            },
        })
    tools[-1]["cache_control"] = {"type": "ephemeral"}
    return tools


def test_beta_prompt_caching_app_shape(ant, route):
    # What Claude Code-like apps send: /v1/messages?beta=true, betas header, a system prompt as
    # blocks with cache_control, many tools, metadata.
    m = ant.beta.messages.create(
        model=route,
        max_tokens=1024,
        betas=["prompt-caching-2024-07-31"],
        system=[
            {"type": "text", "text": "You are a coding agent."},
            {"type": "text", "text": "Project instructions: be careful.", "cache_control": {"type": "ephemeral"}},
        ],
        tools=_many_tools(30),
        metadata={"user_id": "e2e-user"},
        messages=[
            {"role": "user", "content": [
                {"type": "text", "text": "list the files", "cache_control": {"type": "ephemeral"}},
            ]},
        ],
    )
    assert m.stop_reason == "tool_use"
    uses = [b for b in m.content if b.type == "tool_use"]
    assert len(uses) == 1
    assert uses[0].name == "tool_00"
    assert uses[0].input == {"arg_0": "list the files"}


def test_beta_stream_app_shape(ant, route):
    with ant.beta.messages.stream(
        model=route,
        max_tokens=1024,
        betas=["prompt-caching-2024-07-31"],
        system=[{"type": "text", "text": "You are a coding agent.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "say something"}],
    ) as s:
        final = s.get_final_message()
    assert "".join(b.text for b in final.content if b.type == "text") == "echo: say something"
