"""The official openai SDK's Responses API (`client.responses.create` and
`client.responses.stream`) against lmrelay, for every upstream type: openai (asked through
chat and through Responses), anthropic, ollama, gemini, azure, cohere and bedrock, streamed and
not, with `instructions`, function tools and a tool-result round trip; reasoning round trips
through an OpenAI Responses upstream; kept responses (`previous_response_id`, `retrieve`,
`delete`) on a gateway with `[responses] store = true`, and the 400 on the default stateless
one; and the errors lmrelay gives for what it cannot serve.

This module starts its own `lmrelay-mock` process with all seven flavours and its own gateway
(one route per upstream type), and stops both by PID at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import openai
import pytest

from conftest import TIMEOUT, _stop, _wait_healthy, bin_dir, free_port
from test_upstream_types import _read_urls

FLAVOURS = ["openai", "anthropic", "ollama", "gemini", "azure", "cohere", "bedrock"]
KEY = "upstream-key"
BEDROCK_KEY = "AKIAMOCK:mock/secret+key"
CACHE_READ = 100
# route -> whether the upstream's mock reports cached input tokens
ROUTES = {
    "to-openai": True,
    "to-openai-responses": True,
    "to-anthropic": True,
    "to-ollama": False,
    "to-gemini": True,
    "to-azure": True,
    "to-cohere": False,
    "to-bedrock": True,
}
STREAMS = pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
WEATHER = [{
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": False,
}]

CONFIG = """\
listen = "127.0.0.1:{port}"
drain_timeout = "2s"

[health]
interval = "0s"
failure_threshold = 1000

[responses]
store = true
ttl = "1h"

[[providers]]
name = "oa"
type = "openai"
base_url = "{openai}"
keys = ["{key}"]
models = ["gpt-4o-mini"]
timeout = "10s"

[[providers]]
name = "oar"
type = "openai"
base_url = "{openai}"
keys = ["{key}"]
models = ["gpt-4o-mini", "o4-mini"]
api = "responses"
timeout = "10s"

[[providers]]
name = "an"
type = "anthropic"
base_url = "{anthropic}"
keys = ["{key}"]
models = ["claude-3-5-haiku-latest"]
timeout = "10s"

[[providers]]
name = "ol"
type = "ollama"
base_url = "{ollama}"
models = ["llama3.2"]
timeout = "10s"

[[providers]]
name = "gm"
type = "gemini"
base_url = "{gemini}"
keys = ["{key}"]
models = ["gemini-2.5-flash"]
timeout = "10s"

[[providers]]
name = "az"
type = "azure"
base_url = "{azure}"
api_version = "2024-10-21"
keys = ["{key}"]
models = ["gpt-4o"]
timeout = "10s"

[[providers]]
name = "co"
type = "cohere"
base_url = "{cohere}"
keys = ["{key}"]
models = ["command-r-plus"]
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
model = "to-openai"
targets = ["oa/gpt-4o-mini"]

[[routes]]
model = "to-openai-responses"
targets = ["oar/gpt-4o-mini"]

[[routes]]
model = "to-openai-reasoning"
targets = ["oar/o4-mini"]

[[routes]]
model = "to-anthropic"
targets = ["an/claude-3-5-haiku-latest"]

[[routes]]
model = "to-ollama"
targets = ["ol/llama3.2"]

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
"""


@pytest.fixture(scope="module")
def gateway():
    """A mock serving every flavour and a gateway with one route per upstream type."""
    bins = bin_dir()
    mock_bin, gw_bin = bins / "lmrelay-mock", bins / "lmrelay"
    for b in (mock_bin, gw_bin):
        if not b.is_file():
            pytest.fail(f"{b} not found: run `cargo build --workspace` or set LMRELAY_BIN_DIR", pytrace=False)
    log_dir = Path(tempfile.mkdtemp(prefix="lmrelay-e2e-responses-"))
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
        for flavour in FLAVOURS:
            args += [f"--{flavour}", "127.0.0.1:0"]
        args += ["--key", KEY, "--key", BEDROCK_KEY, "--cache-read-tokens", str(CACHE_READ)]
        mock = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=mock_err, stdin=subprocess.DEVNULL,
                                text=True, env=env)
        procs.append((mock, "lmrelay-mock (responses)"))
        urls = _read_urls(mock, set(FLAVOURS), time.monotonic() + 30)
        port = free_port()
        cfg = log_dir / "lmrelay.toml"
        cfg.write_text(CONFIG.format(port=port, key=KEY, bedrock_key=BEDROCK_KEY, **urls))
        gw = subprocess.Popen([str(gw_bin), "serve", "-c", str(cfg)], stdout=gw_log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=env)
        procs.append((gw, "lmrelay (responses)"))
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, gw, time.monotonic() + 30, gw_log_path)
        yield url
    finally:
        for proc, name in reversed(procs):
            _stop(proc, name)
        mock_err.close()
        gw_log.close()


@pytest.fixture(scope="module")
def client(gateway):
    with openai.OpenAI(base_url=gateway + "/v1", api_key="x", timeout=TIMEOUT, max_retries=0) as c:
        yield c


def ask(client, stream: bool, **kwargs):
    """One Responses call, whole or through `responses.stream()`; returns the final response
    and, when streamed, the events."""
    if not stream:
        return client.responses.create(**kwargs), []
    with client.responses.stream(**kwargs) as s:
        events = list(s)
        final = s.get_final_response()
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(numbers))), "sequence numbers count from 0"
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert {e.response.id for e in events if hasattr(e, "response")} == {final.id}
    return final, events


def check_usage(usage, cached: bool) -> None:
    assert usage is not None
    assert usage.output_tokens >= 1
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.output_tokens_details.reasoning_tokens >= 0
    if cached:
        assert usage.input_tokens_details.cached_tokens == CACHE_READ
        assert usage.input_tokens >= CACHE_READ + 1


@STREAMS
@pytest.mark.parametrize("route", list(ROUTES))
def test_text_with_instructions(client, route, stream):
    prompt = f"hello {route}"
    r, events = ask(client, stream, model=route, instructions="You are terse.", input=prompt)
    assert r.status == "completed"
    assert r.model == route
    assert r.output_text == f"echo: {prompt}"
    check_usage(r.usage, ROUTES[route])
    if stream:
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert deltas == r.output_text
        done = [e.text for e in events if e.type == "response.output_text.done"]
        assert done == [r.output_text]


@STREAMS
@pytest.mark.parametrize("route", list(ROUTES))
def test_function_tool_round_trip(client, route, stream):
    question = "Paris"
    history: list = [{"role": "user", "content": question}]
    r, events = ask(client, stream, model=route, instructions="Use tools.", input=history, tools=WEATHER)
    calls = [o for o in r.output if o.type == "function_call"]
    assert len(calls) == 1, r.output
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    if stream:
        args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
        assert args == call.arguments
    # The SDK's documented round trip: the output items back, then the result.
    history += r.output
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "11 degrees"})
    r2, _ = ask(client, stream, model=route, instructions="Use tools.", input=history, tools=WEATHER)
    assert r2.output_text == "tool result: 11 degrees"


@STREAMS
def test_reasoning_round_trip_through_openai_responses(client, stream):
    kwargs = dict(model="to-openai-reasoning", input=[{"role": "user", "content": "why"}],
                  reasoning={"effort": "low", "summary": "auto"}, include=["reasoning.encrypted_content"],
                  store=False)
    r, events = ask(client, stream, **kwargs)
    [reasoning] = [o for o in r.output if o.type == "reasoning"]
    assert reasoning.summary[0].text == "Thinking about: why"
    assert reasoning.encrypted_content and reasoning.encrypted_content.startswith("gAAAAB")
    assert r.usage.output_tokens_details.reasoning_tokens >= 1
    if stream:
        summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
        assert summary == reasoning.summary[0].text
    # Back as history: the upstream mock accepts only the encrypted content it made.
    kwargs["input"] = kwargs["input"] + list(r.output) + [{"role": "user", "content": "and then?"}]
    r2, _ = ask(client, stream, **kwargs)
    assert r2.output_text == "echo: and then?"


def test_previous_response_id_is_a_clear_400_when_nothing_is_kept(oai):
    # The session gateway (conftest) keeps no responses: the default.
    with pytest.raises(openai.BadRequestError) as e:
        oai.responses.create(model="to-openai", input="hi", previous_response_id="resp_123")
    assert e.value.status_code == 400
    assert "previous_response_id" in str(e.value)
    assert e.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve("resp_123")


def retrieve(client, response_id: str):
    """A kept response: written once the answer has been sent, so wait briefly."""
    for _ in range(50):
        try:
            return client.responses.retrieve(response_id)
        except openai.NotFoundError:
            time.sleep(0.02)
    return client.responses.retrieve(response_id)


@STREAMS
def test_kept_responses_continue_with_previous_response_id(client, stream):
    first, _ = ask(client, stream, model="to-anthropic", instructions="You are terse.", input="hello")
    assert retrieve(client, first.id).output_text == first.output_text
    second, _ = ask(client, stream, model="to-gemini", previous_response_id=first.id, input="and again")
    assert second.output_text == "echo: and again"
    kept = retrieve(client, second.id)
    assert kept.id == second.id and kept.output_text == second.output_text
    client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(second.id)
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.create(model="to-ollama", input="x", previous_response_id="resp_unknown")
    assert e.value.body["param"] == "previous_response_id"


def test_built_in_tools_are_refused_by_name(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="to-anthropic", input="hi", tools=[{"type": "code_interpreter",
                                                                          "container": {"type": "auto"}}])
    assert "code_interpreter" in str(e.value)


def test_web_search_is_dropped_and_namespaced_tools_round_trip(client):
    # What Codex CLI offers: web search (dropped) and a namespace of function tools.
    tools = [{"type": "web_search"},
             {"type": "namespace", "name": "agents", "description": "Sub-agents.",
              "tools": [{"type": "function", "name": "spawn", "parameters": {
                  "type": "object", "properties": {"task": {"type": "string"}}}}]}]
    r = client.responses.create(model="to-anthropic", input="write tests", tools=tools)
    call = r.output[0]
    assert (call.type, call.name, call.namespace) == ("function_call", "spawn", "agents")
    done = client.responses.create(model="to-anthropic", tools=tools, input=[
        {"role": "user", "content": "write tests"},
        {"type": "function_call", "call_id": call.call_id, "name": "spawn", "namespace": "agents",
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "spawned"}])
    assert done.output_text == "tool result: spawned"


def test_store_false_keeps_nothing(client):
    r = client.responses.create(model="to-cohere", input="private", store=False)
    time.sleep(0.1)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
