"""The comparison of the fast path with the canonical path (e2e/fast_path.py) itself: it
runs on same-protocol requests, whole and streamed, and it would catch a difference."""

from __future__ import annotations

import pytest

from fast_path import summary

pytestmark = pytest.mark.usefixtures("compare_fast_path")


def test_same_protocol_requests_are_compared(oai, ant, shadow):
    before = shadow.compared
    oai.chat.completions.create(model="to-openai", messages=[{"role": "user", "content": "hi"}])
    with oai.chat.completions.create(model="to-openai", stream=True,
                                     messages=[{"role": "user", "content": "hi"}]) as s:
        assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)
    ant.messages.create(model="to-anthropic", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    with ant.messages.stream(model="to-anthropic", max_tokens=50,
                             messages=[{"role": "user", "content": "hi"}]) as s:
        assert s.get_final_text()
    # Other models are not shadowed.
    oai.chat.completions.create(model="to-anthropic", messages=[{"role": "user", "content": "hi"}])
    assert shadow.compared == before + 4


def test_the_comparison_sees_what_a_client_reads():
    a = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],' \
        b'"usage":{"prompt_tokens":3,"completion_tokens":1}}'
    other_text = a.replace(b'"hi"', b'"ho"')
    other_finish = a.replace(b'"stop"', b'"length"')
    s = summary("openai", 200, a)
    assert s == summary("openai", 200, a.replace(b'"index":0', b'"index":0,"logprobs":null'))
    assert s != summary("openai", 200, other_text)
    assert s != summary("openai", 200, other_finish)
    stream = b'data: {"choices":[{"index":0,"delta":{"content":"h"}}]}\n\n' \
             b'data: {"choices":[{"index":0,"delta":{"content":"i"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    assert summary("openai", 200, stream)["text"] == "hi"
    assert summary("openai", 400, b'{"error":{"type":"invalid_request_error"}}') != \
        summary("openai", 400, b'{"error":{"type":"not_found_error"}}')
