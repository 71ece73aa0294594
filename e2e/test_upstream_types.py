"""The official SDKs (openai, anthropic, ollama) against the gateway, for the Gemini, Azure
OpenAI, Cohere and Bedrock upstream types, streamed and not: text, usage, a tool round trip,
and embeddings (Gemini, Azure, Cohere).

The session stack (conftest) serves the OpenAI, Anthropic and Ollama mocks; this module starts
its own second `lmrelay-mock` process with the four other flavours and a second gateway in
front of it, one provider and one route per upstream type, and stops both by PID at the end.
The mocks answer deterministically (`echo: <last user text>`, a call of the first offered tool
with `{"<first property>": "<last user text>"}`, `tool result: <text>` after a tool result).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import TIMEOUT, _stop, _wait_healthy, bin_dir, free_port
from helpers import TOOL_RESULT, WEATHER_ANTHROPIC, WEATHER_OPENAI

TYPES = ["gemini", "azure", "cohere", "bedrock"]
PROTOCOLS = ["openai", "anthropic", "ollama"]
STREAMS = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
KEY = "upstream-key"
BEDROCK_KEY = "AKIAMOCK:mock/secret+key"  # ACCESS_KEY_ID:SECRET; the mock recomputes SigV4
CACHE_READ = 100
# Upstreams whose mock reports cached input tokens (the Cohere mock has no cache reads).
CACHING = {"gemini", "azure", "bedrock"}
PROVIDER = {"gemini": "gm", "azure": "az", "cohere": "co", "bedrock": "br"}
EMBED_TYPES = ["gemini", "azure", "cohere"]

CONFIG = """\
listen = "127.0.0.1:{port}"
drain_timeout = "2s"

[health]
interval = "0s"
failure_threshold = 1000

[[providers]]
name = "gm"
type = "gemini"
base_url = "{gemini}"
keys = ["{key}"]
models = ["gemini-2.5-flash", "text-embedding-004"]
timeout = "10s"

[[providers]]
name = "az"
type = "azure"
base_url = "{azure}"
api_version = "2024-10-21"
keys = ["{key}"]
models = ["gpt-4o", "text-embedding-3-small"]
deployments = {{ "gpt-4o" = "gpt4o-prod" }}
timeout = "10s"

[[providers]]
name = "co"
type = "cohere"
base_url = "{cohere}"
keys = ["{key}"]
models = ["command-r-plus", "embed-v4.0"]
timeout = "10s"

[[providers]]
name = "br"
type = "bedrock"
aws_region = "us-west-2"
base_url = "{bedrock}"
keys = ["{bedrock_key}"]
models = ["us.anthropic.claude-sonnet-4-20250514-v1:0"]
timeout = "10s"

[[routes]]
model = "to-gemini"
targets = ["gm/gemini-2.5-flash"]

[[routes]]
model = "to-azure"
targets = ["az/gpt-4o"]

[[routes]]
model = "to-cohere"
targets = ["co/command-r-plus"]

[[routes]]
model = "to-bedrock"
targets = ["br/us.anthropic.claude-sonnet-4-20250514-v1:0"]

[[routes]]
model = "embed-gemini"
targets = ["gm/text-embedding-004"]

[[routes]]
model = "embed-azure"
targets = ["az/text-embedding-3-small"]

[[routes]]
model = "embed-cohere"
targets = ["co/embed-v4.0"]
"""


# --- the second mock and gateway ------------------------------------------------------------

def _read_urls(proc: subprocess.Popen, want: set[str], deadline: float) -> dict[str, str]:
    """Reads one `flavor url` line per flavour in `want` from the mock's stdout, bounded."""
    urls: dict[str, str] = {}
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                urls[parts[0]] = parts[1]
            if want <= set(urls):
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout=max(0.0, deadline - time.monotonic()))
    if not want <= set(urls):
        raise RuntimeError(f"lmrelay-mock did not print its {sorted(want)} URLs in time (got {urls})")
    return dict(urls)


@dataclasses.dataclass
class TypesStack:
    gateway: str  # http://127.0.0.1:PORT of the second gateway
    mocks: dict[str, str]  # flavour -> the second mock's base URL for it


@pytest.fixture(scope="module")
def types_stack():
    """A second gateway over a second mock serving gemini, azure, cohere and bedrock."""
    bins = bin_dir()
    mock_bin, gw_bin = bins / "lmrelay-mock", bins / "lmrelay"
    for b in (mock_bin, gw_bin):
        if not b.is_file():
            pytest.fail(f"{b} not found: run `cargo build --workspace` or set LMRELAY_BIN_DIR", pytrace=False)
    log_dir = Path(tempfile.mkdtemp(prefix="lmrelay-e2e-types-"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_", "AWS_", "GEMINI_", "GOOGLE_",
                                "AZURE_", "COHERE_", "CO_API"))}
    env.setdefault("RUST_LOG", "warn")
    procs: list[tuple[subprocess.Popen, str]] = []
    mock_err = open(log_dir / "mock.log", "wb")
    gw_log_path = log_dir / "lmrelay.log"
    gw_log = open(gw_log_path, "wb")
    try:
        args = [str(mock_bin)]
        for flavor in TYPES:
            args += [f"--{flavor}", "127.0.0.1:0"]
        args += ["--key", KEY, "--key", BEDROCK_KEY, "--cache-read-tokens", str(CACHE_READ)]
        mock = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=mock_err, stdin=subprocess.DEVNULL,
                                text=True, env=env)
        procs.append((mock, "lmrelay-mock (upstream types)"))
        urls = _read_urls(mock, set(TYPES), time.monotonic() + 30)

        port = free_port()
        cfg = log_dir / "lmrelay.toml"
        cfg.write_text(CONFIG.format(port=port, key=KEY, bedrock_key=BEDROCK_KEY, **urls))
        gw = subprocess.Popen([str(gw_bin), "serve", "-c", str(cfg)], stdout=gw_log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=env)
        procs.append((gw, "lmrelay (upstream types)"))
        gateway = f"http://127.0.0.1:{port}"
        _wait_healthy(gateway, gw, time.monotonic() + 30, gw_log_path)
        yield TypesStack(gateway, urls)
    finally:
        for proc, name in reversed(procs):
            _stop(proc, name)
        mock_err.close()
        gw_log.close()


@pytest.fixture(scope="module")
def types_gw(types_stack) -> str:
    return types_stack.gateway


@pytest.fixture(scope="module")
def mock_http():
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.fixture
def received(types_stack, mock_http):
    """Clears the second mock's recorded requests; returns a reader of the model requests
    (POSTs) one upstream received since."""
    for url in types_stack.mocks.values():
        mock_http.delete(url + "/mock/requests").raise_for_status()

    def model_requests(upstream: str) -> list[dict]:
        r = mock_http.get(types_stack.mocks[upstream] + "/mock/requests")
        r.raise_for_status()
        return [q for q in r.json() if q["method"] == "POST"]

    return model_requests


@pytest.fixture(scope="module")
def t_oai(types_gw):
    import openai

    with openai.OpenAI(base_url=types_gw + "/v1", api_key="x", timeout=TIMEOUT, max_retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def t_ant(types_gw):
    import anthropic

    with anthropic.Anthropic(base_url=types_gw, api_key="x", timeout=TIMEOUT, max_retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def t_oll(types_gw):
    import ollama

    seen: dict = {}

    def remember(response) -> None:
        seen["headers"] = response.headers

    c = ollama.Client(host=types_gw, timeout=TIMEOUT, event_hooks={"response": [remember]})
    c.last_headers = lambda: seen.get("headers")  # type: ignore[attr-defined]
    yield c
    c._client.close()


@pytest.fixture(scope="module")
def clients(t_oai, t_ant, t_oll):
    return {"openai": t_oai, "anthropic": t_ant, "ollama": t_oll}


# --- usage checks, per client protocol ------------------------------------------------------

def check_openai_usage(usage, upstream: str) -> None:
    assert usage is not None, "usage missing"
    assert usage.completion_tokens >= 1
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
    if upstream in CACHING:
        assert cached == CACHE_READ
        assert usage.prompt_tokens >= CACHE_READ + 1, "prompt_tokens must include the cached tokens"
    else:
        assert cached == 0
        assert usage.prompt_tokens >= 1


def check_anthropic_usage(usage, upstream: str) -> None:
    assert usage.output_tokens >= 1
    assert usage.input_tokens >= 1
    cached = usage.cache_read_input_tokens or 0
    assert cached == (CACHE_READ if upstream in CACHING else 0)


def check_ollama_usage(part) -> None:
    assert part.prompt_eval_count is not None and part.prompt_eval_count >= 1
    assert part.eval_count is not None and part.eval_count >= 1


# --- text and usage -------------------------------------------------------------------------

def chat_openai(c, upstream: str, prompt: str, stream: bool):
    model = f"to-{upstream}"
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": prompt}]
    raw = c.chat.completions.with_raw_response.create(
        model=model, messages=messages, stream=stream,
        **({"stream_options": {"include_usage": True}} if stream else {}))
    if stream:
        chunks = list(raw.parse())
        assert chunks and all(ch.object == "chat.completion.chunk" for ch in chunks)
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
        assert finishes == ["stop"]
        with_usage = [ch for ch in chunks if ch.usage is not None]
        assert len(with_usage) == 1 and with_usage[0] is chunks[-1] and chunks[-1].choices == []
        check_openai_usage(with_usage[0].usage, upstream)
    else:
        r = raw.parse()
        assert r.object == "chat.completion" and r.choices[0].finish_reason == "stop"
        assert r.choices[0].message.role == "assistant"
        text = r.choices[0].message.content
        check_openai_usage(r.usage, upstream)
    return raw.headers, text


def chat_anthropic(c, upstream: str, prompt: str, stream: bool):
    model = f"to-{upstream}"
    raw = c.messages.with_raw_response.create(
        model=model, max_tokens=256, system="You are terse.",
        messages=[{"role": "user", "content": prompt}], stream=stream)
    if stream:
        events = list(raw.parse())
        kinds = [e.type for e in events]
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        text = "".join(e.delta.text for e in events
                       if e.type == "content_block_delta" and e.delta.type == "text_delta")
        deltas = [e for e in events if e.type == "message_delta"]
        assert [d.delta.stop_reason for d in deltas] == ["end_turn"]
        # The final usage: output from message_delta; input and cache reads from either frame.
        start = events[0].message.usage
        final = deltas[0].usage
        assert final.output_tokens >= 1
        assert (final.input_tokens or start.input_tokens or 0) >= 1
        cached = final.cache_read_input_tokens or start.cache_read_input_tokens or 0
        assert cached == (CACHE_READ if upstream in CACHING else 0)
    else:
        m = raw.parse()
        assert m.type == "message" and m.role == "assistant" and m.stop_reason == "end_turn"
        text = "".join(b.text for b in m.content if b.type == "text")
        check_anthropic_usage(m.usage, upstream)
    return raw.headers, text


def chat_ollama(c, upstream: str, prompt: str, stream: bool):
    model = f"to-{upstream}"
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": prompt}]
    r = c.chat(model=model, messages=messages, stream=stream)
    if stream:
        parts = list(r)
        assert parts and parts[-1].done is True and parts[-1].done_reason == "stop"
        assert all(p.done is False for p in parts[:-1])
        text = "".join(p.message.content or "" for p in parts)
        check_ollama_usage(parts[-1])
    else:
        assert r.done is True and r.done_reason == "stop"
        assert r.message.role == "assistant"
        text = r.message.content
        check_ollama_usage(r)
    return c.last_headers(), text


def upstream_path(upstream: str, stream: bool) -> str:
    if upstream == "gemini":
        return "/v1beta/models/gemini-2.5-flash:" + ("streamGenerateContent" if stream else "generateContent")
    if upstream == "azure":
        return "/openai/deployments/gpt4o-prod/chat/completions"
    if upstream == "cohere":
        return "/v2/chat"
    return "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/" + ("converse-stream" if stream else "converse")


def check_credential(upstream: str, req: dict) -> None:
    headers = {k.lower(): v for k, v in req["headers"]}
    if upstream == "gemini":
        assert headers.get("x-goog-api-key") == KEY
    elif upstream == "azure":
        assert headers.get("api-key") == KEY
    elif upstream == "cohere":
        assert headers.get("authorization") == f"Bearer {KEY}"
    else:  # SigV4 with the key's access key id (the mock verified the signature)
        assert headers.get("authorization", "").startswith(
            f"AWS4-HMAC-SHA256 Credential={BEDROCK_KEY.split(':')[0]}/")
    assert all(v not in ("x", "Bearer x") for v in headers.values()), "the client's key reached the upstream"


CHAT = {"openai": chat_openai, "anthropic": chat_anthropic, "ollama": chat_ollama}


@STREAMS
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("upstream", TYPES)
def test_text_and_usage(clients, received, upstream, protocol, stream):
    prompt = f"hello {upstream} from {protocol}"
    headers, text = CHAT[protocol](clients[protocol], upstream, prompt, stream)
    assert text == f"echo: {prompt}"
    assert headers.get("x-lmrelay-provider") == PROVIDER[upstream]
    # The upstream of that type got exactly one request, on its own wire path, with the
    # configured credential and the client's prompt.
    [req] = received(upstream)
    assert req["path"] == upstream_path(upstream, stream)
    check_credential(upstream, req)
    assert prompt in json.dumps(req["body"])


# --- tool round trips -----------------------------------------------------------------------

def tools_openai(c, model: str, question: str, stream: bool) -> None:
    if stream:
        calls: dict[int, dict] = {}
        finish = None
        for chunk in c.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], tools=WEATHER_OPENAI, stream=True,
        ):
            if not chunk.choices:
                continue
            ch = chunk.choices[0]
            finish = ch.finish_reason or finish
            for d in ch.delta.tool_calls or []:
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
        call_id = call["id"]
        assistant = {"role": "assistant", "content": None, "tool_calls": [{
            "id": call_id, "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}]}
    else:
        first = c.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], tools=WEATHER_OPENAI)
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls and len(choice.message.tool_calls) == 1
        call = choice.message.tool_calls[0]
        assert call.type == "function" and call.id and call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": question}
        call_id = call.id
        assistant = choice.message.model_dump(exclude_none=True)

    messages = [{"role": "user", "content": question}, assistant,
                {"role": "tool", "tool_call_id": call_id, "content": TOOL_RESULT}]
    if stream:
        chunks = list(c.chat.completions.create(model=model, tools=WEATHER_OPENAI, messages=messages, stream=True))
        text = "".join((ch.choices[0].delta.content or "") if ch.choices else "" for ch in chunks)
        finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
        assert finishes == ["stop"]
    else:
        second = c.chat.completions.create(model=model, tools=WEATHER_OPENAI, messages=messages)
        assert second.choices[0].finish_reason == "stop" and not second.choices[0].message.tool_calls
        text = second.choices[0].message.content
    assert text == f"tool result: {TOOL_RESULT}"


def tools_anthropic(c, model: str, question: str, stream: bool) -> None:
    def ask(messages):
        if stream:
            with c.messages.stream(model=model, max_tokens=256, tools=WEATHER_ANTHROPIC, messages=messages) as s:
                return s.get_final_message()
        return c.messages.create(model=model, max_tokens=256, tools=WEATHER_ANTHROPIC, messages=messages)

    first = ask([{"role": "user", "content": question}])
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 1
    use = uses[0]
    assert use.name == "get_weather" and use.id
    assert use.input == {"city": question}

    second = ask([
        {"role": "user", "content": question},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": TOOL_RESULT}]},
    ])
    assert second.stop_reason == "end_turn"
    assert "".join(b.text for b in second.content if b.type == "text") == f"tool result: {TOOL_RESULT}"


def tools_ollama(c, model: str, question: str, stream: bool) -> None:
    if stream:
        parts = list(c.chat(model=model, messages=[{"role": "user", "content": question}], tools=WEATHER_OPENAI,
                            stream=True))
        assert parts[-1].done is True
        calls = [call for p in parts for call in (p.message.tool_calls or [])]
        assert "".join(p.message.content or "" for p in parts) == ""
        assistant = {"role": "assistant", "content": "", "tool_calls": [call.model_dump() for call in calls]}
    else:
        first = c.chat(model=model, messages=[{"role": "user", "content": question}], tools=WEATHER_OPENAI)
        calls = first.message.tool_calls or []
        assistant = first.message
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert dict(calls[0].function.arguments) == {"city": question}

    messages = [{"role": "user", "content": question}, assistant,
                {"role": "tool", "content": TOOL_RESULT, "tool_name": "get_weather"}]
    if stream:
        parts = list(c.chat(model=model, tools=WEATHER_OPENAI, messages=messages, stream=True))
        assert parts[-1].done is True
        text = "".join(p.message.content or "" for p in parts)
    else:
        second = c.chat(model=model, tools=WEATHER_OPENAI, messages=messages)
        assert not second.message.tool_calls
        text = second.message.content
    assert text == f"tool result: {TOOL_RESULT}"


TOOLS = {"openai": tools_openai, "anthropic": tools_anthropic, "ollama": tools_ollama}


@STREAMS
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("upstream", TYPES)
def test_tool_round_trip(clients, upstream, protocol, stream):
    question = f"Paris {upstream} {protocol}"
    TOOLS[protocol](clients[protocol], f"to-{upstream}", question, stream)


# --- embeddings -----------------------------------------------------------------------------

@pytest.mark.parametrize("upstream", EMBED_TYPES)
def test_embeddings(t_oai, received, upstream):
    model = f"embed-{upstream}"
    # The SDK asks for base64 by default and decodes it; floats must agree with it.
    r = t_oai.embeddings.create(model=model, input=["first text", "second text"])
    assert [d.index for d in r.data] == [0, 1]
    for d in r.data:
        assert isinstance(d.embedding, list) and len(d.embedding) > 0
        assert all(isinstance(x, float) and math.isfinite(x) for x in d.embedding)
    assert r.data[0].embedding != r.data[1].embedding
    # Gemini's embedding answers carry no token counts, and the gateway does not invent one
    # (lmrelay-protocol gemini::decode_embed_response reports 0).
    assert r.usage.prompt_tokens == 0 if upstream == "gemini" else r.usage.prompt_tokens >= 1
    assert r.usage.total_tokens == r.usage.prompt_tokens
    f = t_oai.embeddings.create(model=model, input="first text", encoding_format="float")
    assert len(f.data) == 1
    assert len(f.data[0].embedding) == len(r.data[0].embedding)
    assert all(abs(x - y) < 1e-6 for x, y in zip(f.data[0].embedding, r.data[0].embedding))
    reqs = received(upstream)
    assert [q["path"] for q in reqs] == [EMBED_PATH[upstream]] * 2
    for q in reqs:
        check_credential(upstream, q)


EMBED_PATH = {
    "gemini": "/v1beta/models/text-embedding-004:batchEmbedContents",
    "azure": "/openai/deployments/text-embedding-3-small/embeddings",
    "cohere": "/v2/embed",
}
