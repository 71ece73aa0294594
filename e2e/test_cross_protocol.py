"""Behaviour that must survive translation between any client SDK and any upstream:
finish reasons, stop sequences, thinking, forced tools, images, legacy completions, and
upstream failures surfacing as each SDK's own exceptions."""

from __future__ import annotations

import json

import anthropic
import httpx
import ollama
import openai
import pytest

from conftest import rotate_upstream_keys

from helpers import CACHE_READ, CACHING_UPSTREAMS

# Every same-protocol request here is also checked against the canonical path.
pytestmark = pytest.mark.usefixtures("compare_fast_path")

PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
UPSTREAM_OF = {"to-openai": "openai", "to-anthropic": "anthropic", "to-ollama": "ollama"}


# --- finish reasons and limits -------------------------------------------------------------

def test_max_tokens_finish_reason(oai, ant, oll, route):
    words = "one two three four five six"
    r = oai.chat.completions.create(model=route, max_tokens=3, messages=[{"role": "user", "content": words}])
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == "echo: one two"
    m = ant.messages.create(model=route, max_tokens=3, messages=[{"role": "user", "content": words}])
    assert m.stop_reason == "max_tokens"
    assert m.content[0].text == "echo: one two"
    o = oll.chat(model=route, options={"num_predict": 3}, messages=[{"role": "user", "content": words}])
    assert o.done_reason == "length"
    assert o.message.content == "echo: one two"


def test_stop_sequences(oai, ant, oll, route):
    r = oai.chat.completions.create(model=route, stop=["three"], messages=[{"role": "user", "content": "one two three"}])
    assert r.choices[0].message.content == "echo: one two "
    assert r.choices[0].finish_reason == "stop"
    m = ant.messages.create(model=route, max_tokens=64, stop_sequences=["three"],
                            messages=[{"role": "user", "content": "one two three"}])
    assert m.content[0].text == "echo: one two "
    if route == "to-anthropic":  # only an Anthropic upstream says which sequence matched
        assert m.stop_reason == "stop_sequence" and m.stop_sequence == "three"
    else:
        assert m.stop_reason in ("end_turn", "stop_sequence")
    o = oll.chat(model=route, options={"stop": ["three"]}, messages=[{"role": "user", "content": "one two three"}])
    assert o.message.content == "echo: one two "


# --- thinking -------------------------------------------------------------------------------

# Upstream models that think (the OpenAI mock never returns reasoning text).
THINKING_UPSTREAMS = ["to-anthropic", "to-ollama-thinking"]


@pytest.mark.parametrize("model", THINKING_UPSTREAMS)
def test_thinking_openai_client(oai, model):
    r = oai.chat.completions.create(model=model, reasoning_effort="low", max_completion_tokens=2048,
                                    messages=[{"role": "user", "content": "ponder"}])
    assert r.choices[0].message.content == "echo: ponder"
    assert (r.choices[0].message.model_extra or {}).get("reasoning_content") == "Thinking about: ponder"


@pytest.mark.parametrize("model", THINKING_UPSTREAMS)
def test_thinking_ollama_client(oll, model):
    r = oll.chat(model=model, think=True, messages=[{"role": "user", "content": "ponder"}])
    assert r.message.thinking == "Thinking about: ponder"
    assert r.message.content == "echo: ponder"


@pytest.mark.parametrize("model", THINKING_UPSTREAMS)
def test_thinking_anthropic_client(ant, model):
    m = ant.messages.create(model=model, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
                            messages=[{"role": "user", "content": "ponder"}])
    kinds = [b.type for b in m.content]
    assert kinds == ["thinking", "text"], kinds
    assert m.content[0].thinking == "Thinking about: ponder"
    assert m.content[1].text == "echo: ponder"


@pytest.mark.parametrize("model", ["to-ollama", "to-openai"])
def test_thinking_from_another_protocol_is_dropped_for_models_that_cannot_think(ant, model):
    # Claude Code always asks for thinking and effort; an upstream model without them refuses
    # the fields, and the gateway retries once without them.
    m = ant.messages.create(model=model, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
                            extra_body={"output_config": {"effort": "high"}},
                            messages=[{"role": "user", "content": "ponder"}])
    assert [b.type for b in m.content] == ["text"]
    assert m.content[0].text == "echo: ponder"


def test_ollama_client_think_on_a_model_that_cannot_think_is_refused(oll):
    # Same protocol: the client's own request, passed through, refused as Ollama would.
    with pytest.raises(ollama.ResponseError) as e:
        oll.chat(model="to-ollama", think=True, messages=[{"role": "user", "content": "ponder"}])
    assert e.value.status_code == 400
    assert "does not support thinking" in e.value.error


def test_thinking_anthropic_stream_signature(ant):
    with ant.messages.stream(model="to-anthropic", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
                             messages=[{"role": "user", "content": "ponder"}]) as s:
        final = s.get_final_message()
    assert final.content[0].type == "thinking"
    assert final.content[0].signature  # must survive so the client can send it back


# --- tool choice ----------------------------------------------------------------------------

TWO_TOOLS_OPENAI = [
    {"type": "function", "function": {"name": "first_tool", "parameters": {
        "type": "object", "properties": {"p": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "second_tool", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}},
]
TWO_TOOLS_ANTHROPIC = [{"name": t["function"]["name"], "input_schema": t["function"]["parameters"]}
                       for t in TWO_TOOLS_OPENAI]


@pytest.mark.parametrize("model", ["to-openai", "to-anthropic", "to-ollama"])
def test_named_tool_choice_openai_client(oai, model):
    r = oai.chat.completions.create(model=model, tools=TWO_TOOLS_OPENAI, messages=[{"role": "user", "content": "pick"}],
                                    tool_choice={"type": "function", "function": {"name": "second_tool"}})
    calls = r.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["second_tool"]
    assert json.loads(calls[0].function.arguments) == {"q": "pick"}


@pytest.mark.parametrize("model", ["to-openai", "to-anthropic", "to-ollama"])
def test_named_tool_choice_anthropic_client(ant, model):
    m = ant.messages.create(model=model, max_tokens=64, tools=TWO_TOOLS_ANTHROPIC,
                            tool_choice={"type": "tool", "name": "second_tool"},
                            messages=[{"role": "user", "content": "pick"}])
    uses = [b for b in m.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["second_tool"]
    assert uses[0].input == {"q": "pick"}


def test_tool_choice_none(oai, ant, route):
    r = oai.chat.completions.create(model=route, tools=TWO_TOOLS_OPENAI, tool_choice="none",
                                    messages=[{"role": "user", "content": "just talk"}])
    assert r.choices[0].message.content == "echo: just talk" and not r.choices[0].message.tool_calls
    m = ant.messages.create(model=route, max_tokens=64, tools=TWO_TOOLS_ANTHROPIC, tool_choice={"type": "none"},
                            messages=[{"role": "user", "content": "just talk"}])
    assert [b.type for b in m.content] == ["text"] and m.content[0].text == "echo: just talk"


# --- multimodal and legacy ------------------------------------------------------------------

def test_images(oai, ant, oll, route):
    r = oai.chat.completions.create(model=route, messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PIXEL}},
        {"type": "text", "text": "what is this"}]}])
    assert r.choices[0].message.content == "echo: what is this"
    m = ant.messages.create(model=route, max_tokens=64, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
        {"type": "text", "text": "what is this"}]}])
    assert m.content[0].text == "echo: what is this"
    o = oll.chat(model=route, messages=[{"role": "user", "content": "what is this", "images": [PIXEL]}])
    assert o.message.content == "echo: what is this"


def test_legacy_completions(oai, route):
    c = oai.completions.create(model=route, prompt="legacy prompt", max_tokens=64)
    assert c.object == "text_completion"
    assert c.choices[0].text == "echo: legacy prompt"
    assert c.usage.prompt_tokens >= 1 + (CACHE_READ if route in CACHING_UPSTREAMS else 0)
    streamed = "".join(ch.choices[0].text for ch in oai.completions.create(
        model=route, prompt="legacy stream", max_tokens=64, stream=True) if ch.choices)
    assert streamed == "echo: legacy stream"


# --- upstream failures ----------------------------------------------------------------------

@pytest.fixture
def faults(stack):
    """Sets fault knobs on one mock upstream; resets every mock afterwards."""
    roots = {
        "openai": stack.openai_upstream.removesuffix("/v1"),
        "anthropic": stack.anthropic_upstream,
        "ollama": stack.ollama_upstream,
    }

    def set_faults(route: str, **settings) -> None:
        r = httpx.post(roots[UPSTREAM_OF[route]] + "/mock/faults", json=settings, timeout=10)
        assert r.status_code < 300, r.text

    yield set_faults
    for root in roots.values():
        httpx.post(root + "/mock/reset", timeout=10)
    with httpx.Client(timeout=10) as http:
        rotate_upstream_keys(stack.gateway, http)


def test_upstream_unavailable_openai_client(oai, route, faults):
    faults(route, fail_next={"status": 503, "count": 100, "retry_after": 1})
    with pytest.raises(openai.InternalServerError) as e:
        oai.chat.completions.create(model=route, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 503
    assert e.value.response.headers.get("retry-after")


@pytest.mark.parametrize("model", ["to-openai", "to-anthropic", "to-ollama"])
def test_upstream_unavailable_anthropic_client(ant, model, faults):
    faults(model, fail_next={"status": 503, "count": 100, "retry_after": 1})
    with pytest.raises(anthropic.APIStatusError) as e:
        ant.messages.create(model=model, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["type"] == "error"
    assert e.value.response.headers.get("retry-after")
    assert e.value.status_code == 503


def test_upstream_unavailable_ollama_client(oll, route, faults):
    faults(route, fail_next={"status": 503, "count": 100, "retry_after": 1})
    with pytest.raises(ollama.ResponseError) as e:
        oll.chat(model=route, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 503


def test_upstream_rejects_request(oai, ant, oll, route, faults):
    # The upstream says the request itself is bad: the client sees its own 400, translated.
    faults(route, fail_next={"status": 400, "count": 100})
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model=route, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError):
        ant.messages.create(model=route, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(ollama.ResponseError) as e:
        oll.chat(model=route, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 400


@pytest.mark.parametrize("fault", [{"stream_error_after": 3}, {"drop_after_events": 3}], ids=["error", "drop"])
def test_broken_stream_raises(oai, ant, oll, route, faults, fault):
    faults(route, **fault)
    long_text = "a fairly long sentence with many words to stream " * 3
    with pytest.raises(openai.APIError):
        for _ in oai.chat.completions.create(model=route, messages=[{"role": "user", "content": long_text}],
                                             stream=True):
            pass
    with pytest.raises(anthropic.APIError):
        with ant.messages.stream(model=route, max_tokens=256,
                                 messages=[{"role": "user", "content": long_text}]) as s:
            s.get_final_message()
    with pytest.raises(ollama.ResponseError):
        for _ in oll.chat(model=route, messages=[{"role": "user", "content": long_text}], stream=True):
            pass
