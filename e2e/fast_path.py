"""The same-protocol fast path checked against the canonical path, on every case of a suite.

An OpenAI client asking `to-openai` and an Anthropic client asking `to-anthropic` are served
on the fast path (the body passed on with the model renamed, the answer passed back as
sent). `ShadowTransport` sends each such request a second time to `to-openai-canonical` or
`to-anthropic-canonical` — the same mock model behind a provider with `passthrough = false`,
so through the canonical codecs — and compares what a client reads from the two answers:
text, tool calls, finish reason and usage of the first choice, or the error's status and
type. A difference is recorded and fails the test that made the request (the
`compare_fast_path` fixture).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

try:  # the SDKs' own HTTP library (a fork of httpx in their recent releases)
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

SHADOWED = {("/v1/chat/completions", "to-openai"), ("/v1/messages", "to-anthropic")}


class _Replay(httpx.SyncByteStream):
    """The chunks read from an answer, then the error that cut it off (if one did)."""

    def __init__(self, chunks: list[bytes], error: Exception | None):
        self.chunks, self.error = chunks, error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error


class ShadowTransport(httpx.HTTPTransport):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.active = False
        self.compared = 0
        self.mismatches: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        path = request.url.path
        try:
            body = json.loads(request.content) if request.method == "POST" else None
        except ValueError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        if not self.active or (path, model) not in SHADOWED:
            return response
        chunks, error = [], None
        try:
            for chunk in response.iter_raw():
                chunks.append(chunk)
        except httpx.HTTPError as e:
            error = e
        finally:
            response.close()
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-length", "transfer-encoding")]
        if error is None and response.status_code in (200, 400, 404, 422):
            self._compare(request, body, response.status_code, b"".join(chunks))
        return httpx.Response(response.status_code, headers=headers,
                              stream=_Replay(chunks, error), request=request,
                              extensions=response.extensions)

    def _compare(self, request: httpx.Request, body: dict, status: int, fast: bytes) -> None:
        body = dict(body, model=body["model"] + "-canonical")
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
        shadow = httpx.Request("POST", request.url, headers=headers, content=json.dumps(body).encode())
        r = super().handle_request(shadow)
        try:
            canonical = b"".join(r.iter_raw())
        finally:
            r.close()
        family = "openai" if request.url.path.endswith("completions") else "anthropic"
        a, b = summary(family, status, fast), summary(family, r.status_code, canonical)
        self.compared += 1
        if a != b:
            self.mismatches.append(
                f"{request.url.path} {json.dumps(body)[:400]}\nfast:      {a}\ncanonical: {b}")


def summary(family: str, status: int, raw: bytes) -> dict:
    """What a client reads from an answer, ids, timestamps and model names aside."""
    if status != 200:
        try:
            err = json.loads(raw)
        except ValueError:
            return {"status": status}
        inner = err.get("error", err) if isinstance(err, dict) else {}
        return {"status": status, "type": inner.get("type") if isinstance(inner, dict) else None}
    text = raw.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        return _answer(family, json.loads(text))
    return _stream(family, text)


def _usage_openai(u: dict | None) -> tuple | None:
    if not u:
        return None
    cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return (u.get("prompt_tokens"), u.get("completion_tokens"), cached)


def _usage_anthropic(u: dict) -> tuple:
    return (u.get("input_tokens"), u.get("output_tokens"),
            u.get("cache_read_input_tokens") or 0, u.get("cache_creation_input_tokens") or 0)


def _args(text: str | dict) -> Any:
    if isinstance(text, dict):
        return text
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return text


def _answer(family: str, a: dict) -> dict:
    if family == "openai":
        c = a["choices"][0]
        m = c.get("message") or {}
        calls = [(t["function"]["name"], _args(t["function"].get("arguments", "")))
                 for t in m.get("tool_calls") or []]
        return {"text": m.get("content") or "", "calls": calls, "finish": c.get("finish_reason"),
                "usage": _usage_openai(a.get("usage"))}
    blocks = a.get("content") or []
    return {"text": "".join(b.get("text", "") for b in blocks if b.get("type") == "text"),
            "thinking": "".join(b.get("thinking", "") for b in blocks if b.get("type") == "thinking"),
            "calls": [(b["name"], b.get("input")) for b in blocks if b.get("type") == "tool_use"],
            "finish": a.get("stop_reason"), "usage": _usage_anthropic(a.get("usage") or {})}


def _events(text: str) -> Iterator[tuple[str | None, str]]:
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            yield name, "\n".join(data)


def _stream(family: str, text: str) -> dict:
    out: dict = {"text": "", "calls": {}, "finish": None, "usage": None}
    if family == "openai":
        for _, data in _events(text):
            if data == "[DONE]":
                continue
            chunk = json.loads(data)
            if "error" in chunk:
                out["error"] = (chunk["error"] or {}).get("type")
                continue
            if chunk.get("usage"):
                out["usage"] = _usage_openai(chunk["usage"])
            for c in chunk.get("choices") or []:
                if c.get("index", 0) != 0:
                    continue
                d = c.get("delta") or {}
                out["text"] += d.get("content") or ""
                for t in d.get("tool_calls") or []:
                    name, args = out["calls"].get(t.get("index", 0), ("", ""))
                    f = t.get("function") or {}
                    out["calls"][t.get("index", 0)] = (name + (f.get("name") or ""),
                                                       args + (f.get("arguments") or ""))
                out["finish"] = c.get("finish_reason") or out["finish"]
    else:
        usage: dict = {}
        out["thinking"] = ""
        for _, data in _events(text):
            e = json.loads(data)
            kind = e.get("type")
            if kind == "message_start":
                usage.update((e.get("message") or {}).get("usage") or {})
            elif kind == "content_block_start" and e["content_block"].get("type") == "tool_use":
                out["calls"][e["index"]] = (e["content_block"]["name"], "")
            elif kind == "content_block_delta":
                d = e["delta"]
                if d.get("type") == "text_delta":
                    out["text"] += d["text"]
                elif d.get("type") == "thinking_delta":
                    out["thinking"] += d["thinking"]
                elif d.get("type") == "input_json_delta":
                    name, args = out["calls"].get(e["index"], ("", ""))
                    out["calls"][e["index"]] = (name, args + d.get("partial_json", ""))
            elif kind == "message_delta":
                out["finish"] = (e.get("delta") or {}).get("stop_reason")
                usage.update({k: v for k, v in (e.get("usage") or {}).items() if v is not None})
            elif kind == "error":
                out["error"] = (e.get("error") or {}).get("type")
        out["usage"] = _usage_anthropic(usage)
    out["calls"] = [(n, _args(a)) for _, (n, a) in sorted(out["calls"].items())]
    return out
