"""The official `ollama` SDK against the gateway, for every upstream type."""

from __future__ import annotations

import math

import ollama
import pytest

from helpers import TOOL_RESULT, WEATHER_OPENAI


def test_chat(oll, route):
    r = oll.chat(model=route, messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello ollama"},
    ])
    assert r.done is True
    assert r.message.role == "assistant"
    assert r.message.content == "echo: hello ollama"
    assert r.done_reason == "stop"


def test_chat_stream(oll, route):
    parts = list(oll.chat(model=route, messages=[{"role": "user", "content": "stream ollama"}], stream=True))
    assert parts and parts[-1].done is True
    assert all(p.done is False for p in parts[:-1])
    assert "".join(p.message.content or "" for p in parts) == "echo: stream ollama"


def test_generate(oll, route):
    r = oll.generate(model=route, prompt="generate this", system="You are terse.")
    assert r.done is True
    assert r.response == "echo: generate this"


def test_generate_stream(oll, route):
    parts = list(oll.generate(model=route, prompt="generate streamed", stream=True))
    assert parts[-1].done is True
    assert "".join(p.response for p in parts) == "echo: generate streamed"


def test_usage(oll, route):
    r = oll.chat(model=route, messages=[{"role": "user", "content": "count ollama tokens"}])
    assert r.prompt_eval_count is not None and r.prompt_eval_count >= 1
    assert r.eval_count is not None and r.eval_count >= 1
    assert r.total_duration is None or r.total_duration >= 0


def test_stream_usage(oll, route):
    parts = list(oll.chat(model=route, messages=[{"role": "user", "content": "count streamed"}], stream=True))
    last = parts[-1]
    assert last.prompt_eval_count is not None and last.prompt_eval_count >= 1
    assert last.eval_count is not None and last.eval_count >= 1


def test_tool_round_trip(oll, route):
    question = "Madrid"
    first = oll.chat(model=route, messages=[{"role": "user", "content": question}], tools=WEATHER_OPENAI)
    calls = first.message.tool_calls
    assert calls and len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert dict(calls[0].function.arguments) == {"city": question}

    second = oll.chat(model=route, tools=WEATHER_OPENAI, messages=[
        {"role": "user", "content": question},
        first.message,
        {"role": "tool", "content": TOOL_RESULT, "tool_name": "get_weather"},
    ])
    assert second.message.content == f"tool result: {TOOL_RESULT}"
    assert not second.message.tool_calls


def test_tool_round_trip_python_function(oll, route):
    # The SDK turns a Python function into a tool schema.
    def get_weather(city: str) -> str:
        """Weather for a city.

        Args:
          city: The city name
        """
        return TOOL_RESULT

    first = oll.chat(model=route, messages=[{"role": "user", "content": "Rome"}], tools=[get_weather])
    call = first.message.tool_calls[0]
    assert call.function.name == "get_weather"
    result = get_weather(**call.function.arguments)
    second = oll.chat(model=route, tools=[get_weather], messages=[
        {"role": "user", "content": "Rome"}, first.message,
        {"role": "tool", "content": result, "tool_name": call.function.name},
    ])
    assert second.message.content == f"tool result: {TOOL_RESULT}"


def test_stream_tool_call(oll, route):
    question = "Oslo"
    calls = []
    text = ""
    parts = list(oll.chat(model=route, messages=[{"role": "user", "content": question}], tools=WEATHER_OPENAI,
                          stream=True))
    for p in parts:
        calls.extend(p.message.tool_calls or [])
        text += p.message.content or ""
    assert parts[-1].done is True
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert dict(calls[0].function.arguments) == {"city": question}
    assert text == ""

    answer = "".join(p.message.content or "" for p in oll.chat(
        model=route, tools=WEATHER_OPENAI, stream=True, messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [c.model_dump() for c in calls]},
            {"role": "tool", "content": TOOL_RESULT, "tool_name": "get_weather"},
        ]))
    assert answer == f"tool result: {TOOL_RESULT}"


@pytest.mark.parametrize("model", ["embed-ollama", "embed-openai"])
def test_embed(oll, model):
    r = oll.embed(model=model, input=["first text", "second text"])
    assert len(r.embeddings) == 2
    for v in r.embeddings:
        assert len(v) > 0 and all(math.isfinite(x) for x in v)
    assert r.embeddings[0] != r.embeddings[1]
    single = oll.embed(model=model, input="first text")
    assert len(single.embeddings) == 1
    assert all(abs(a - b) < 1e-6 for a, b in zip(single.embeddings[0], r.embeddings[0]))


def test_list(oll):
    names = {m.model for m in oll.list().models}
    # Ollama clients see names with or without an explicit tag.
    bare = {n.removesuffix(":latest") for n in names}
    assert {"to-openai", "to-anthropic", "to-ollama"} <= bare


def test_show(oll, route):
    r = oll.show(route)
    assert r.modelfile is not None or r.details is not None or r.capabilities is not None


def test_latest_tag(oll):
    r = oll.chat(model="to-ollama:latest", messages=[{"role": "user", "content": "tagged"}])
    assert r.message.content == "echo: tagged"


def test_version(gw):
    import httpx

    r = httpx.get(gw + "/api/version", timeout=20)
    assert r.status_code == 200 and r.json().get("version")
    root = httpx.get(gw + "/", timeout=20)
    assert root.status_code == 200 and "Ollama is running" in root.text


def test_unknown_model(oll):
    with pytest.raises(ollama.ResponseError) as e:
        oll.chat(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 404
    assert "no-such-model" in e.value.error


def test_unknown_model_stream(oll):
    with pytest.raises(ollama.ResponseError) as e:
        list(oll.chat(model="no-such-model", messages=[{"role": "user", "content": "x"}], stream=True))
    assert e.value.status_code == 404


def test_unknown_model_embed(oll):
    with pytest.raises(ollama.ResponseError) as e:
        oll.embed(model="no-such-embedder", input="x")
    assert e.value.status_code == 404


def test_malformed_request(oll, route):
    # The SDK validates its own arguments, so send a malformed body through its request
    # machinery to check the error surfaces as ResponseError with status 400.
    with pytest.raises(ollama.ResponseError) as e:
        oll._request(ollama.ChatResponse, "POST", "/api/chat",
                     json={"model": route, "messages": "not a list", "stream": False})
    assert e.value.status_code == 400


def test_options_and_keep_alive(oll, route):
    r = oll.chat(
        model=route,
        messages=[{"role": "user", "content": "with options"}],
        options={"temperature": 0.1, "top_p": 0.9, "num_ctx": 4096, "num_predict": 128, "seed": 42,
                 "stop": ["<|eot|>"]},
        keep_alive="5m",
        format="",
    )
    assert r.message.content == "echo: with options"
    g = oll.generate(model=route, prompt="gen options", options=ollama.Options(temperature=0.0, num_predict=64),
                     keep_alive=0)
    assert g.response == "echo: gen options"


def test_json_format(oll, route):
    r = oll.chat(model=route, messages=[{"role": "user", "content": "json please"}], format="json")
    assert r.message.content is not None
