"""The official `openai` SDK against the gateway, for every upstream type."""

from __future__ import annotations

import json
import math

import openai
import pytest

from helpers import CACHE_READ, CACHING_UPSTREAMS, TOOL_RESULT, WEATHER_OPENAI

# Every same-protocol request here is also checked against the canonical path.
pytestmark = pytest.mark.usefixtures("compare_fast_path")


def test_chat(oai, route):
    r = oai.chat.completions.create(
        model=route,
        messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hello openai"}],
    )
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "echo: hello openai"
    assert r.choices[0].finish_reason == "stop"
    assert r.model  # some model name is reported


def test_chat_with_raw_response_headers(oai, route):
    raw = oai.chat.completions.with_raw_response.create(model=route, messages=[{"role": "user", "content": "hdr"}])
    assert raw.headers.get("x-request-id")
    assert raw.headers.get("x-lmrelay-provider") == {"to-openai": "oa", "to-anthropic": "an", "to-ollama": "ol"}[route]
    assert raw.parse().choices[0].message.content == "echo: hdr"


def test_chat_stream(oai, route):
    chunks = list(oai.chat.completions.create(
        model=route, messages=[{"role": "user", "content": "stream me"}], stream=True,
    ))
    assert chunks, "no chunks"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]


def _check_usage(usage, route):
    assert usage is not None, "usage missing"
    assert usage.completion_tokens >= 1
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
    if route in CACHING_UPSTREAMS:
        assert cached == CACHE_READ
        assert usage.prompt_tokens >= CACHE_READ + 1, "prompt_tokens must include the cached tokens"
    else:
        assert cached == 0
        assert usage.prompt_tokens >= 1


def test_usage(oai, route):
    r = oai.chat.completions.create(model=route, messages=[{"role": "user", "content": "count my tokens"}])
    _check_usage(r.usage, route)


def test_stream_usage(oai, route):
    chunks = list(oai.chat.completions.create(
        model=route, messages=[{"role": "user", "content": "count my streamed tokens"}], stream=True,
        stream_options={"include_usage": True},
    ))
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1, "exactly one chunk carries usage"
    assert with_usage[0] is chunks[-1] and with_usage[0].choices == []
    _check_usage(with_usage[0].usage, route)


def test_tool_round_trip(oai, route):
    question = "Paris"
    first = oai.chat.completions.create(
        model=route, messages=[{"role": "user", "content": question}], tools=WEATHER_OPENAI,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1
    call = calls[0]
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": question}

    second = oai.chat.completions.create(
        model=route,
        tools=WEATHER_OPENAI,
        messages=[
            {"role": "user", "content": question},
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
        ],
    )
    assert second.choices[0].message.content == f"tool result: {TOOL_RESULT}"
    assert second.choices[0].finish_reason == "stop"
    assert not second.choices[0].message.tool_calls


def test_stream_tool_call(oai, route):
    question = "Berlin"
    calls: dict[int, dict] = {}
    finish = None
    for chunk in oai.chat.completions.create(
        model=route, messages=[{"role": "user", "content": question}], tools=WEATHER_OPENAI, stream=True,
    ):
        if not chunk.choices:
            continue
        c = chunk.choices[0]
        finish = c.finish_reason or finish
        for d in c.delta.tool_calls or []:
            acc = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
            acc["id"] += d.id or ""
            if d.function:
                acc["name"] += d.function.name or ""
                acc["arguments"] += d.function.arguments or ""
    assert finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["id"] and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": question}

    # Send the result back, streamed too.
    text = "".join(
        (c.choices[0].delta.content or "") if c.choices else ""
        for c in oai.chat.completions.create(
            model=route, tools=WEATHER_OPENAI, stream=True,
            messages=[
                {"role": "user", "content": question},
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": call["id"], "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]}}]},
                {"role": "tool", "tool_call_id": call["id"], "content": TOOL_RESULT},
            ],
        )
    )
    assert text == f"tool result: {TOOL_RESULT}"


def test_models_list(oai):
    ids = {m.id for m in oai.models.list()}
    assert {"to-openai", "to-anthropic", "to-ollama", "embed-openai", "embed-ollama"} <= ids
    m = oai.models.retrieve("to-openai")
    assert m.id == "to-openai" and m.object == "model"


EMBED_ROUTES = ["embed-openai", "embed-ollama"]


@pytest.mark.parametrize("model", EMBED_ROUTES)
def test_embeddings_default_base64(oai, model):
    # The SDK asks for encoding_format="base64" by default and decodes it itself.
    r = oai.embeddings.create(model=model, input=["first text", "second text"])
    assert [d.index for d in r.data] == [0, 1]
    for d in r.data:
        assert isinstance(d.embedding, list) and len(d.embedding) > 0
        assert all(isinstance(x, float) and math.isfinite(x) for x in d.embedding)
    assert r.data[0].embedding != r.data[1].embedding
    assert r.usage.prompt_tokens >= 1


@pytest.mark.parametrize("model", EMBED_ROUTES)
def test_embeddings_float_matches_base64(oai, model):
    f = oai.embeddings.create(model=model, input="same text", encoding_format="float")
    b = oai.embeddings.create(model=model, input="same text", encoding_format="base64")
    d = oai.embeddings.create(model=model, input="same text")
    vf, vb, vd = f.data[0].embedding, b.data[0].embedding, d.data[0].embedding
    assert isinstance(vf, list) and len(vf) > 0
    # explicit base64 stays a string for the caller; the default path decodes it.
    assert isinstance(vb, str)
    assert len(vd) == len(vf)
    assert all(abs(x - y) < 1e-6 for x, y in zip(vd, vf))


def test_unknown_model(oai):
    with pytest.raises(openai.NotFoundError) as e:
        oai.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 404
    assert "no-such-model" in str(e.value)


def test_unknown_model_stream(oai):
    with pytest.raises(openai.NotFoundError) as e:
        oai.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}], stream=True)
    assert e.value.status_code == 404


def test_unknown_embedding_model(oai):
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model="no-such-embedder", input="x")


@pytest.mark.parametrize("messages", [
    "not a list",
    [{"role": "wizard", "content": "x"}],
    [{"content": "no role"}],
], ids=["string", "bad-role", "no-role"])
def test_malformed_request(oai, route, messages):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model=route, messages=messages)
    assert e.value.status_code == 400
    assert isinstance(e.value.body, dict) and e.value.body.get("message")


def test_developer_role_and_mid_history_system(oai, route):
    r = oai.chat.completions.create(
        model=route,
        messages=[
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "system", "content": "From now on, be brief."},
            {"role": "user", "content": [{"type": "text", "text": "final question"}]},
        ],
        temperature=0.2,
        max_completion_tokens=200,
        user="e2e-user",
    )
    assert r.choices[0].message.content == "echo: final question"
