"""Requests shaped like the ones real applications and frameworks send through each SDK."""

from __future__ import annotations

import json

import anthropic
import ollama
import openai
import pytest

from helpers import TOOL_RESULT, WEATHER_ANTHROPIC, WEATHER_OPENAI

# Every same-protocol request here is also checked against the canonical path.
pytestmark = pytest.mark.usefixtures("compare_fast_path")


def test_openai_framework_style_request(oai, route):
    # LangChain / LlamaIndex style: many sampling knobs, JSON mode, parallel tool calls off.
    r = oai.chat.completions.create(
        model=route,
        messages=[{"role": "system", "content": "Reply in JSON."},
                  {"role": "user", "content": "framework call"}],
        temperature=0.0, top_p=1.0, presence_penalty=0.0, frequency_penalty=0.0, seed=7,
        response_format={"type": "json_object"},
        metadata={"app": "e2e"}, store=False, n=1,
        extra_headers={"x-request-id": "e2e-fixed-id"},
    )
    assert r.choices[0].message.content == "echo: framework call"


def test_openai_agent_loop_with_parallel_flag(oai, route):
    # An agent loop: tools + parallel_tool_calls=False + a prior assistant turn with text.
    msgs = [{"role": "system", "content": "You are an agent."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Vienna"}]
    first = oai.chat.completions.create(model=route, messages=msgs, tools=WEATHER_OPENAI,
                                        parallel_tool_calls=False, tool_choice="auto")
    call = first.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Vienna"}
    msgs += [first.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"forecast": TOOL_RESULT})}]
    second = oai.chat.completions.create(model=route, messages=msgs, tools=WEATHER_OPENAI)
    assert second.choices[0].message.content == "tool result: " + json.dumps({"forecast": TOOL_RESULT})


def test_openai_retrieve_unknown_model(oai):
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("no-such-model")


def test_anthropic_retrieve_unknown_model(ant):
    with pytest.raises(anthropic.NotFoundError):
        ant.models.retrieve("no-such-model")


def test_anthropic_tool_error_result_and_text_before_tool(ant, route):
    # Claude-style history: assistant text + tool_use in one turn, an is_error tool result.
    m = ant.messages.create(
        model=route, max_tokens=256, tools=WEATHER_ANTHROPIC,
        messages=[
            {"role": "user", "content": "Quito"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Quito"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "is_error": True, "content": "service down"}]},
        ],
    )
    text = "".join(b.text for b in m.content if b.type == "text")
    # Upstreams without an error flag on tool results get the failure spelled out in the text.
    assert text.startswith("tool result: ") and text.endswith("service down"), text


def test_anthropic_temperature_top_k_metadata(ant, route):
    # This SDK version no longer takes sampling knobs as arguments; apps still send them.
    m = ant.messages.create(model=route, max_tokens=128, extra_body={"temperature": 0.3, "top_k": 40, "top_p": 0.9},
                            metadata={"user_id": "u-1"}, messages=[{"role": "user", "content": "sampled"}])
    assert m.content[0].text == "echo: sampled"


def test_ollama_legacy_embeddings(oll):
    r = oll.embeddings(model="embed-ollama", prompt="legacy embedding")
    assert len(r.embedding) > 0


def test_ollama_ps(oll):
    oll.ps()  # answers with the Ollama shape (possibly empty)


def test_ollama_show_unknown(oll):
    with pytest.raises(ollama.ResponseError) as e:
        oll.show("no-such-model")
    assert e.value.status_code == 404


def test_ollama_multi_turn_with_images_and_options(oll, route):
    r = oll.chat(
        model=route,
        messages=[{"role": "system", "content": "Be helpful."},
                  {"role": "user", "content": "first"},
                  {"role": "assistant", "content": "echo: first"},
                  {"role": "user", "content": "second"}],
        options={"temperature": 0.5, "repeat_penalty": 1.1, "num_ctx": 8192, "top_k": 20},
        keep_alive=-1,
    )
    assert r.message.content == "echo: second"
