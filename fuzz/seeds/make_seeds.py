"""Writes the seed corpora under fuzz/corpus/<target>/: a few small valid bodies per target,
taken from the shapes the unit-test fixtures use. Run from fuzz/: python3 seeds/make_seeds.py"""
import json, os, shutil

J = lambda o: json.dumps(o, separators=(",", ":")).encode()
seeds = {}

def add(target, *bodies):
    seeds.setdefault(target, []).extend(bodies)

tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
oa_chat = [
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
    {"model": "gpt-4o", "stream": True, "stream_options": {"include_usage": True}, "temperature": 0.2,
     "max_completion_tokens": 50, "stop": ["\n"], "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]},
    {"model": "gpt-4o", "tools": tools, "tool_choice": "auto", "response_format": {"type": "json_object"},
     "messages": [{"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "18C"}]},
]
add("openai_request", *map(J, oa_chat))
add("openai_completions_request", J({"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5}),
    J({"model": "m", "prompt": ["a", "b"], "stream": True, "echo": False, "suffix": "x", "stop": "\n", "n": 1}))
add("openai_embed_request", J({"model": "text-embedding-3-small", "input": "hello"}),
    J({"model": "e", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 8}),
    J({"model": "e", "input": [[1, 2, 3]]}))
an_req = [
    {"model": "claude-sonnet-4", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]},
    {"model": "claude-sonnet-4", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief", "cache_control": {"type": "ephemeral"}}],
     "thinking": {"type": "enabled", "budget_tokens": 1024}, "stream": True,
     "tools": [{"name": "get_weather", "description": "w", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
     "tool_choice": {"type": "auto"},
     "messages": [{"role": "user", "content": "Weather?"},
                  {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "sig"},
                                                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                                               {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]},
]
add("anthropic_request", *map(J, an_req))
ol_chat = [
    {"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}]},
    {"model": "llama3.2", "stream": False, "think": True, "format": "json", "options": {"temperature": 0.1, "num_predict": 20, "stop": ["x"]},
     "tools": tools, "messages": [{"role": "user", "content": "see", "images": ["iVBORw0KGgo="]},
                                  {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                                  {"role": "tool", "content": "18C", "tool_name": "get_weather"}]},
]
add("ollama_chat_request", *map(J, ol_chat))
add("ollama_generate_request", J({"model": "llama3.2", "prompt": "Why is the sky blue?"}),
    J({"model": "llama3.2", "prompt": "hi", "system": "s", "raw": False, "stream": True, "images": ["iVBORw0KGgo="], "options": {"seed": 1}, "keep_alive": "5m"}),
    J({"model": "llama3.2", "prompt": "", "keep_alive": 0}))
add("ollama_embed_request", J({"model": "all-minilm", "input": "hello"}), J({"model": "all-minilm", "input": ["a", "b"], "truncate": True}),
    J({"model": "all-minilm", "prompt": "hello"}))
rs_req = [
    {"model": "gpt-5", "input": "Hi"},
    {"model": "gpt-5", "instructions": "Be brief", "stream": True, "store": False, "reasoning": {"effort": "low", "summary": "auto"},
     "include": ["reasoning.encrypted_content"], "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
     "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
     "input": [{"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
               {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"},
               {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
               {"type": "function_call_output", "call_id": "call_1", "output": "18C"}]},
]
add("responses_request", *map(J, rs_req))

add("request_roundtrip", *[b"\x00" + J(r) for r in oa_chat], *[b"\x02" + J(r) for r in an_req],
    *[b"\x03" + J(r) for r in ol_chat], *[b"\x05" + J(r) for r in rs_req],
    b"\x01" + J({"model": "m", "prompt": "x"}), b"\x04" + J({"model": "m", "prompt": "x", "system": "s"}))

# Upstream answers and errors.
add("openai_response",
    J({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o", "choices": [{"index": 0,
       "message": {"role": "assistant", "content": "Hi", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
       "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
       "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 1}}}),
    J({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}], "model": "e", "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
    J({"error": {"message": "Bad", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}))
add("anthropic_response",
    J({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [
        {"type": "thinking", "thinking": "hm", "signature": "s"}, {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}], "stop_reason": "tool_use", "stop_sequence": None,
       "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 1}}),
    J({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
add("ollama_response",
    J({"model": "llama3.2", "created_at": "2024-01-01T00:00:00Z", "message": {"role": "assistant", "content": "Hi", "thinking": "hm",
       "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}, "done": True, "done_reason": "stop",
       "prompt_eval_count": 5, "eval_count": 2, "total_duration": 100}),
    J({"model": "m", "embeddings": [[0.1, 0.2]], "prompt_eval_count": 1}),
    J({"modelfile": "", "parameters": "", "template": "", "details": {"family": "llama"}, "model_info": {"llama.context_length": 8192}, "capabilities": ["completion"]}),
    J({"error": "model 'x' not found"}))
add("gemini_response",
    J({"candidates": [{"content": {"parts": [{"text": "hm", "thought": True}, {"text": "Hi"}, {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}],
        "role": "model"}, "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "thoughtsTokenCount": 1,
        "cachedContentTokenCount": 1, "totalTokenCount": 8}, "modelVersion": "gemini-2.5-flash", "responseId": "r-1"}),
    J({"embeddings": [{"values": [0.1, 0.2]}]}), J({"totalTokens": 12}), J({"models": [{"name": "models/gemini-2.5-flash"}]}),
    J({"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}))
add("cohere_response",
    J({"id": "c-1", "finish_reason": "TOOL_CALL", "message": {"role": "assistant", "tool_plan": "plan", "content": [{"type": "text", "text": "Hi"}],
       "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
       "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2}, "tokens": {"input_tokens": 50, "output_tokens": 2}}}),
    J({"id": "e", "embeddings": {"float": [[0.1, 0.2]]}, "texts": ["a"], "meta": {"billed_units": {"input_tokens": 1}}}),
    J({"message": "invalid api token"}))
add("bedrock_response",
    J({"output": {"message": {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": "hm", "signature": "s"}}},
       {"text": "Hi"}, {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}]}}, "stopReason": "tool_use",
       "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7, "cacheReadInputTokens": 1}, "metrics": {"latencyMs": 10}}),
    J({"inputTokens": 12}), J({"message": "The provided model identifier is invalid."}))
add("responses_response",
    J({"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5", "output": [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan"}], "encrypted_content": "gAAAA"},
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "Hi", "annotations": []}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}", "status": "completed"}],
       "usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 1}, "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 7}}),
    J({"id": "resp_2", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "model": "gpt-5", "output": []}),
    J({"error": {"message": "Bad", "type": "invalid_request_error", "param": "input", "code": None}}))

# Upstream streams: a leading 0x00 (fed whole) and a copy cut in a few places.
def sse(events):
    out = b""
    for name, data in events:
        if name:
            out += b"event: " + name.encode() + b"\n"
        out += b"data: " + (data if isinstance(data, bytes) else J(data)) + b"\n\n"
    return out

def stream_seeds(target, *bodies):
    for b in bodies:
        add(target, b"\x00" + b, b"\x03\x07\x01\x20" + b)

chunk = lambda delta, fin=None, usage=None: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
    "choices": [{"index": 0, "delta": delta, "finish_reason": fin}], **({"usage": usage} if usage else {})}
stream_seeds("openai_stream", sse([
    (None, chunk({"role": "assistant", "content": ""})), (None, chunk({"content": "Hi"})),
    (None, chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}]})),
    (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]})), (None, chunk({}, "tool_calls")),
    (None, {"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}), (None, b"[DONE]")]),
    sse([(None, {"error": {"message": "overloaded", "type": "server_error"}})]))
stream_seeds("anthropic_stream", sse([
    ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
       "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 2}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("ping", {"type": "ping"}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 9}}),
    ("message_stop", {"type": "message_stop"})]),
    sse([("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})]))
g = lambda parts, fin=None, usage=None: {"candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0, **({"finishReason": fin} if fin else {})}],
    **({"usageMetadata": usage} if usage else {}), "modelVersion": "gemini-2.5-flash", "responseId": "r-1"}
stream_seeds("gemini_stream", sse([(None, g([{"text": "hm", "thought": True}])), (None, g([{"text": "Hi"}])),
    (None, g([{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}], "STOP",
             {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}))]).replace(b"\n", b"\r\n"),
    sse([(None, {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}})]))
co = lambda t, **k: (t, {"type": t, **k})
stream_seeds("cohere_stream", sse([
    co("message-start", id="s-1", delta={"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}}),
    co("tool-plan-delta", delta={"message": {"tool_plan": "Look up "}}),
    co("tool-call-start", index=0, delta={"message": {"tool_calls": {"id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}}}),
    co("tool-call-delta", index=0, delta={"message": {"tool_calls": {"function": {"arguments": "{\"a\":1}"}}}}),
    co("tool-call-end", index=0),
    co("content-start", index=0, delta={"message": {"content": {"type": "text", "text": ""}}}),
    co("content-delta", index=0, delta={"message": {"content": {"text": "Hi"}}}),
    co("content-end", index=0),
    co("message-end", delta={"finish_reason": "TOOL_CALL", "usage": {"billed_units": {"input_tokens": 9, "output_tokens": 4}, "tokens": {"input_tokens": 100, "output_tokens": 20}}})]))
rs = lambda t, n, **k: (t, {"type": t, "sequence_number": n, **k})
stream_seeds("responses_stream", sse([
    rs("response.created", 0, response={"id": "resp_1", "object": "response", "created_at": 1, "status": "in_progress", "model": "gpt-5", "output": []}),
    rs("response.output_item.added", 1, output_index=0, item={"type": "reasoning", "id": "rs_1", "summary": []}),
    rs("response.reasoning_summary_text.delta", 2, item_id="rs_1", output_index=0, summary_index=0, delta="Plan"),
    rs("response.output_item.done", 3, output_index=0, item={"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan"}], "encrypted_content": "gAAAA"}),
    rs("response.output_item.added", 4, output_index=1, item={"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}),
    rs("response.output_text.delta", 5, item_id="msg_1", output_index=1, content_index=0, delta="Hi"),
    rs("response.output_item.added", 6, output_index=2, item={"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": ""}),
    rs("response.function_call_arguments.delta", 7, item_id="fc_1", output_index=2, delta="{\"a\":1}"),
    rs("response.output_item.done", 8, output_index=2, item={"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"}),
    rs("response.completed", 9, response={"id": "resp_1", "status": "completed", "model": "gpt-5", "output": [], "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}})]),
    sse([rs("error", 0, code="server_error", message="boom", param=None)]))
nd = lambda *objs: b"".join(J(o) + b"\n" for o in objs)
stream_seeds("ollama_stream", nd(
    {"model": "llama3.2", "created_at": "2024-01-01T00:00:00Z", "message": {"role": "assistant", "content": "", "thinking": "hm"}, "done": False},
    {"model": "llama3.2", "created_at": "2024-01-01T00:00:00Z", "message": {"role": "assistant", "content": "Hi"}, "done": False},
    {"model": "llama3.2", "created_at": "2024-01-01T00:00:00Z", "message": {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}, "done": False},
    {"model": "llama3.2", "created_at": "2024-01-01T00:00:00Z", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 2}),
    nd({"error": "model not found"}))

# Bedrock: records for bedrock_stream_frames (see its docs); raw frames are built below.
bed_records = [
    b"a" + J({"role": "assistant"}),
    b"c" + J({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}}),
    b"c" + J({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s"}}}),
    b"d" + J({"contentBlockIndex": 0}),
    b"c" + J({"contentBlockIndex": 1, "delta": {"text": "Hi"}}),
    b"b" + J({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}}),
    b"c" + J({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"a\":1}"}}}),
    b"d" + J({"contentBlockIndex": 2}),
    b"e" + J({"stopReason": "tool_use"}),
    b"f" + J({"usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7}, "metrics": {"latencyMs": 1}}),
]
add("bedrock_stream_frames", b"\x3f" + b"\x00".join(bed_records), b"\x05" + b"\x00".join(bed_records[:3]),
    b"\x3f" + b"\x00".join([bed_records[0], b"g" + J({"message": "Rate exceeded"})]),
    b"\x90" + b"\x00".join([bed_records[0], b"hinternal"]))

import struct, binascii
def es_frame(headers, payload):
    hb = b""
    for k, v in headers:
        hb += bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
    total = 12 + len(hb) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hb))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    msg = prelude + hb + payload
    return msg + struct.pack(">I", binascii.crc32(msg))
events = {b"a": "messageStart", b"b": "contentBlockStart", b"c": "contentBlockDelta", b"d": "contentBlockStop", b"e": "messageStop", b"f": "metadata"}
raw = b"".join(es_frame([(":event-type", events[r[:1]]), (":content-type", "application/json"), (":message-type", "event")], r[1:]) for r in bed_records)
stream_seeds("bedrock_stream", raw, es_frame([(":exception-type", "throttlingException"), (":content-type", "application/json"), (":message-type", "exception")], J({"message": "Rate exceeded"})))

add("sse_parser", b"\x00" + b": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\nid: 7\nretry: 10\ndata: one\ndata:two\n\nevent: ping\ndata: {}\r\rdata: [DONE]\n\n",
    b"\x04\x01\x02\x0d\x03event: x\rdata: a\r\n\r\ndata: b")
add("ndjson_parser", b"\x00{\"a\":1}\n\n{\"b\":\"x\\ny\"}\r\n  \n{\"done\":true}", b"\x03\x01\x05\x02{\"a\":1}\r\n{\"b\":2}")

# Config: first byte even = TOML, odd = YAML.
add("config_loader", b"\x00" + b'''[server]
listen = "127.0.0.1:8080"

[[providers]]
name = "openai"
type = "openai"
api_key = "${OPENAI_API_KEY}"
models = ["gpt-4o", "gpt-4o-mini"]
timeout = "30s"

[[routes]]
model = "fast"
strategy = "failover"
targets = [{ provider = "openai", model = "gpt-4o-mini" }]
''', b"\x01" + b'''server:
  listen: "127.0.0.1:${PORT}"
providers:
  - name: local
    type: ollama
    base_url: http://127.0.0.1:11434
    models: ["llama3.2"]
''', b"\x00")

root = "corpus"
for target, bodies in seeds.items():
    d = os.path.join(root, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i, b in enumerate(bodies):
        open(os.path.join(d, f"seed-{i:02}"), "wb").write(b)
print(len(seeds), "targets,", sum(map(len, seeds.values())), "seeds")
