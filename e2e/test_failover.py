"""Failover and all-down through each official SDK (openai, anthropic, ollama), streamed and not.

The route `failover-chain` (testdata/mock-routes.toml) lists one target per mock upstream,
in this order: `oa` (OpenAI mock), `an` (Anthropic mock), `ol` (Ollama mock). Failures are
scripted with the mock's `fail_next` knob; every mock is reset before and after each test.
conftest turns the breaker off for the suite (`failure_threshold = 1000`) and active checks
off (`interval = "0s"`), so scripted failures never reorder the candidates of a later test;
the `openai` and `anthropic` clients are built with `max_retries=0`, so each SDK call is
exactly one gateway request.
"""

from __future__ import annotations

from typing import Callable

import anthropic
import httpx
import ollama
import openai
import pytest

from conftest import rotate_upstream_keys

ROUTE = "failover-chain"
TIMEOUT = 20.0
CHAIN = ["oa", "an", "ol"]  # the route's providers, in order
PROTOCOLS = ["openai", "anthropic", "ollama"]
STREAMS = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
# Retryable failures: overloaded (503, 529), server error (500), rate limited (429: the
# provider's only key is spent, so the next candidate is tried).
RETRYABLE = [503, 529, 500, 429]


# --- fixtures -------------------------------------------------------------------------------

class Upstreams:
    """The three mock upstreams by provider name: fault knobs and recorded requests."""

    def __init__(self, roots: dict[str, str], http: httpx.Client):
        self.roots = roots
        self.http = http

    def reset(self) -> None:
        for root in self.roots.values():
            r = self.http.post(root + "/mock/reset")
            assert r.status_code == 200, r.text

    def fail(self, provider: str, status: int, count: int = 1, retry_after: int | None = None) -> None:
        fail_next = {"status": status, "count": count}
        if retry_after is not None:
            fail_next["retry_after"] = retry_after
        r = self.http.post(self.roots[provider] + "/mock/faults", json={"fail_next": fail_next})
        assert r.status_code == 200, r.text

    def pending_failures(self, provider: str) -> int:
        """Scripted failures not yet served."""
        r = self.http.get(self.roots[provider] + "/mock/faults")
        r.raise_for_status()
        f = r.json().get("fail_next")
        return f["count"] if f else 0

    def model_requests(self, provider: str) -> list[dict]:
        """Model requests the upstream received (POSTs; health checks would be GETs)."""
        r = self.http.get(self.roots[provider] + "/mock/requests")
        r.raise_for_status()
        return [q for q in r.json() if q["method"] == "POST"]

    def requests_received(self) -> dict[str, int]:
        return {p: len(self.model_requests(p)) for p in CHAIN}


@pytest.fixture(scope="module")
def mock_http():
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.fixture
def upstreams(stack, mock_http):
    u = Upstreams({
        "oa": stack.openai_upstream.removesuffix("/v1"),
        "an": stack.anthropic_upstream,
        "ol": stack.ollama_upstream,
    }, mock_http)
    u.reset()
    rotate_upstream_keys(stack.gateway, mock_http)
    yield u
    u.reset()
    rotate_upstream_keys(stack.gateway, mock_http)


@pytest.fixture(scope="module")
def _oll_recording(gw):
    seen: dict[str, httpx.Headers] = {}

    def remember(response: httpx.Response) -> None:
        seen["headers"] = response.headers

    client = ollama.Client(host=gw, timeout=TIMEOUT, event_hooks={"response": [remember]})
    client.last_headers = lambda: seen["headers"]  # type: ignore[attr-defined]
    yield client, seen
    client._client.close()


@pytest.fixture
def oll_hdr(_oll_recording):
    """An ollama client that remembers the headers of the last response it received."""
    client, seen = _oll_recording
    seen.clear()
    return client


# --- one chat call per client protocol: (response headers, answer text) ----------------------

def chat_openai(oai, oll_hdr, ant, prompt: str, stream: bool):
    raw = oai.chat.completions.with_raw_response.create(
        model=ROUTE, messages=[{"role": "user", "content": prompt}], stream=stream)
    if stream:
        chunks = list(raw.parse())
        assert chunks and all(c.object == "chat.completion.chunk" for c in chunks)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finishes == ["stop"]
    else:
        r = raw.parse()
        assert r.object == "chat.completion" and r.choices[0].finish_reason == "stop"
        text = r.choices[0].message.content
    return raw.headers, text


def chat_anthropic(oai, oll_hdr, ant, prompt: str, stream: bool):
    raw = ant.messages.with_raw_response.create(
        model=ROUTE, max_tokens=256, messages=[{"role": "user", "content": prompt}], stream=stream)
    if stream:
        events = list(raw.parse())
        assert events[0].type == "message_start" and events[-1].type == "message_stop"
        text = "".join(e.delta.text for e in events
                       if e.type == "content_block_delta" and e.delta.type == "text_delta")
        stops = [e.delta.stop_reason for e in events if e.type == "message_delta"]
        assert stops == ["end_turn"]
    else:
        m = raw.parse()
        assert m.type == "message" and m.stop_reason == "end_turn"
        text = "".join(b.text for b in m.content if b.type == "text")
    return raw.headers, text


def chat_ollama(oai, oll_hdr, ant, prompt: str, stream: bool):
    r = oll_hdr.chat(model=ROUTE, messages=[{"role": "user", "content": prompt}], stream=stream)
    if stream:
        parts = list(r)
        assert parts and parts[-1].done and parts[-1].done_reason == "stop"
        text = "".join(p.message.content or "" for p in parts)
    else:
        assert r.done and r.done_reason == "stop"
        text = r.message.content
    return oll_hdr.last_headers(), text


CHAT: dict[str, Callable] = {"openai": chat_openai, "anthropic": chat_anthropic, "ollama": chat_ollama}


# --- failover -------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_healthy_chain_uses_first_target(oai, ant, oll_hdr, upstreams, protocol):
    headers, text = CHAT[protocol](oai, oll_hdr, ant, "all well", False)
    assert text == "echo: all well"
    assert headers.get("x-lmrelay-provider") == "oa"
    assert headers.get("x-lmrelay-attempts") == "1"
    assert upstreams.requests_received() == {"oa": 1, "an": 0, "ol": 0}


@STREAMS
@pytest.mark.parametrize("status", RETRYABLE)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_first_target_fails_next_serves(oai, ant, oll_hdr, upstreams, protocol, status, stream):
    upstreams.fail("oa", status, retry_after=1)
    prompt = f"failover {protocol} {status}"
    headers, text = CHAT[protocol](oai, oll_hdr, ant, prompt, stream)
    assert text == f"echo: {prompt}"
    assert headers.get("x-lmrelay-provider") == "an"
    assert headers.get("x-lmrelay-attempts") == "2"
    assert upstreams.pending_failures("oa") == 0
    assert upstreams.requests_received() == {"oa": 1, "an": 1, "ol": 0}
    # The next candidate got the client's conversation, in its own protocol.
    [req] = upstreams.model_requests("an")
    assert req["path"] == "/v1/messages"
    assert req["body"].get("stream", False) is stream
    assert prompt in str(req["body"]["messages"])


@STREAMS
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_two_targets_fail_third_serves(oai, ant, oll_hdr, upstreams, protocol, stream):
    upstreams.fail("oa", 503)
    upstreams.fail("an", 529)
    prompt = f"last resort {protocol}"
    headers, text = CHAT[protocol](oai, oll_hdr, ant, prompt, stream)
    assert text == f"echo: {prompt}"
    assert headers.get("x-lmrelay-provider") == "ol"
    assert headers.get("x-lmrelay-attempts") == "3"
    assert upstreams.requests_received() == {"oa": 1, "an": 1, "ol": 1}


def test_request_error_is_not_failed_over(oai, upstreams):
    # A 400 says the request is at fault: the client gets it, no other candidate is asked.
    upstreams.fail("oa", 400)
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model=ROUTE, messages=[{"role": "user", "content": "x"}])
    assert e.value.response.headers.get("x-lmrelay-attempts") == "1"
    assert upstreams.requests_received() == {"oa": 1, "an": 0, "ol": 0}


# --- all down -------------------------------------------------------------------------------

def fail_all(upstreams: Upstreams) -> None:
    """Every candidate fails once, retryably; the earliest Retry-After is 2 s (from `an`)."""
    upstreams.fail("oa", 503, retry_after=4)
    upstreams.fail("an", 529, retry_after=2)
    upstreams.fail("ol", 500, retry_after=6)


def check_all_down(upstreams: Upstreams, headers) -> None:
    assert headers.get("retry-after") == "2"
    assert headers.get("x-lmrelay-attempts") == "3"
    assert headers.get("x-lmrelay-provider") == "ol"  # the last one that failed
    # each candidate tried exactly once
    assert {p: upstreams.pending_failures(p) for p in CHAIN} == {"oa": 0, "an": 0, "ol": 0}
    assert upstreams.requests_received() == {"oa": 1, "an": 1, "ol": 1}


@STREAMS
def test_all_down_openai(oai, upstreams, stream):
    fail_all(upstreams)
    with pytest.raises(openai.InternalServerError) as e:
        # Streamed too, the failure is the response's status: nothing was streamed yet.
        oai.chat.completions.create(model=ROUTE, messages=[{"role": "user", "content": "x"}], stream=stream)
    assert e.value.status_code == 503
    assert isinstance(e.value.body, dict) and e.value.body.get("message")
    check_all_down(upstreams, e.value.response.headers)


@STREAMS
def test_all_down_anthropic(ant, upstreams, stream):
    fail_all(upstreams)
    with pytest.raises(anthropic.InternalServerError) as e:
        ant.messages.create(model=ROUTE, max_tokens=16, messages=[{"role": "user", "content": "x"}], stream=stream)
    assert e.value.status_code == 503
    assert e.value.body["type"] == "error" and e.value.body["error"]["message"]
    check_all_down(upstreams, e.value.response.headers)


@STREAMS
def test_all_down_ollama(oll_hdr, upstreams, stream):
    fail_all(upstreams)
    with pytest.raises(ollama.ResponseError) as e:
        r = oll_hdr.chat(model=ROUTE, messages=[{"role": "user", "content": "x"}], stream=stream)
        if stream:  # the ollama SDK sends a streamed request on first iteration
            list(r)
    assert e.value.status_code == 503
    assert e.value.error
    check_all_down(upstreams, oll_hdr.last_headers())
