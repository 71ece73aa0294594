//! Criterion micro-benchmarks of lmrelay's codecs (lmrelay-protocol) on real mock traffic:
//!
//! - `request/decode/*`: a client's request body to the canonical request, per client
//!   protocol (a multi-turn chat with tools);
//! - `request/encode/*`: the canonical request to each upstream type's body;
//! - `response/decode/*`: each upstream type's non-streamed answer, as `lmrelay-mock` sends
//!   it, to the canonical answer;
//! - `response/encode/*`: the canonical answer to each client protocol's body;
//! - `stream/*`: an upstream stream translated for a client, per upstream chunk: decoder
//!   `feed`, encoder `push` of every event it yields, one output frame cut per chunk, and both
//!   `finish` calls, with boxed `dyn` codecs and a 4 KiB `BytesMut` as lmrelay's stream relay
//!   has them.
//!
//! The upstream answers and streams are captured once, at start, from in-process mocks.
//! `cargo bench -p lmrelay-bench --bench codecs [-- FILTER]`; `scripts/bench` runs them with
//! short times and adds the medians to docs/benchmarks.md.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lmrelay_bench::bodies;
use lmrelay_bench::http::{Call, HttpClient};
use lmrelay_ir::{ChatRequest, ChatResponse, StreamEvent};
use lmrelay_mock::{spawn, Flavor, MockConfig};
use lmrelay_protocol::{
    anthropic, bedrock, cohere, gemini, ollama, openai, responses, ResponseMeta, StreamDecoder,
    StreamEncoder, UpstreamOptions,
};
use std::hint::black_box;
use std::time::Duration;

const KEY: &str = "bench-key";
/// Words of the captured answers: a stream of this many text chunks (plus framing ones).
const ANSWER_WORDS: usize = 200;

/// A wire format on either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    OpenAi,
    Anthropic,
    Ollama,
    Responses,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::OpenAi => "openai",
            Format::Anthropic => "anthropic",
            Format::Ollama => "ollama",
            Format::Responses => "responses",
        }
    }

    fn decoder(self) -> Box<dyn StreamDecoder> {
        match self {
            Format::OpenAi => Box::new(openai::StreamReader::new()),
            Format::Anthropic => Box::new(anthropic::StreamReader::new()),
            Format::Ollama => Box::new(ollama::StreamReader::new()),
            Format::Responses => Box::new(responses::StreamReader::new()),
        }
    }

    fn encoder(self, meta: ResponseMeta) -> Box<dyn StreamEncoder> {
        match self {
            Format::OpenAi => Box::new(openai::StreamWriter::new(meta, openai::StreamMode::Chat)),
            Format::Anthropic => Box::new(anthropic::StreamWriter::new(meta)),
            Format::Ollama => Box::new(ollama::StreamWriter::new(meta, false)),
            Format::Responses => Box::new(responses::StreamWriter::new(meta)),
        }
    }
}

/// Everything captured from the mocks.
struct Captured {
    /// (upstream type, non-streamed answer body).
    answers: Vec<(&'static str, Vec<u8>)>,
    /// (upstream format, stream split into the chunks the mock wrote).
    streams: Vec<(Format, Vec<Bytes>)>,
}

fn meta() -> ResponseMeta {
    ResponseMeta {
        model: "bench-model".to_owned(),
        started_ms: 1_750_000_000_000,
        include_usage: true,
        include_reasoning: false,
        tool_namespaces: Vec::new(),
    }
}

/// A multi-turn conversation with tools, as each client protocol sends it.
fn client_requests() -> Vec<(&'static str, Vec<u8>)> {
    let text = bodies::prompt(40);
    let tools = serde_json::json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}]);
    let openai = serde_json::json!({"model": "gpt-4o-mini", "stream": true,
        "stream_options": {"include_usage": true}, "temperature": 0.2, "max_tokens": 512,
        "tools": tools, "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": text},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                "type": "function", "function": {"name": "get_weather",
                "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees, clear"},
            {"role": "user", "content": text}]});
    let anthropic = serde_json::json!({"model": "claude-3-5-haiku-latest", "stream": true,
        "max_tokens": 512, "temperature": 0.2, "system": "You are terse.",
        "tools": [{"name": "get_weather", "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}],
        "messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                "content": "18 degrees, clear"}, {"type": "text", "text": text}]}]});
    let ollama = serde_json::json!({"model": "llama3.2", "stream": true,
        "options": {"temperature": 0.2, "num_predict": 512}, "tools": tools, "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": text},
            {"role": "assistant", "content": "", "tool_calls": [{"function": {
                "name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "content": "18 degrees, clear"},
            {"role": "user", "content": text}]});
    let responses = serde_json::json!({"model": "gpt-4o-mini", "stream": true,
        "instructions": "You are terse.", "temperature": 0.2, "max_output_tokens": 512,
        "tools": [{"type": "function", "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}],
        "input": [
            {"role": "user", "content": text},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1",
                "output": "18 degrees, clear"},
            {"role": "user", "content": text}]});
    [
        ("openai_chat", openai),
        ("anthropic_messages", anthropic),
        ("ollama_chat", ollama),
        ("responses", responses),
    ]
    .into_iter()
    .map(|(n, v)| (n, v.to_string().into_bytes()))
    .collect()
}

fn decode_client(name: &str, body: &[u8]) -> ChatRequest {
    let decoded = match name {
        "openai_chat" => openai::decode_request(body),
        "anthropic_messages" => anthropic::decode_request(body),
        "ollama_chat" => ollama::decode_request(body),
        _ => responses::decode_request(body),
    };
    decoded.unwrap_or_else(|e| panic!("{name}: the bench request does not decode: {e:?}"))
}

type Encode = fn(&ChatRequest, &UpstreamOptions) -> Result<Vec<u8>, lmrelay_ir::ApiError>;

/// Each upstream type's request encoder.
fn upstream_encoders() -> Vec<(&'static str, Encode)> {
    vec![
        ("openai", openai::encode_request),
        ("anthropic", anthropic::encode_request),
        ("ollama", ollama::encode_request),
        ("gemini", gemini::encode_request),
        ("cohere", cohere::encode_request),
        ("bedrock", bedrock::encode_request),
    ]
}

/// Splits a stream body into the chunks its sender wrote: one SSE event (ending in a blank
/// line) or one NDJSON line each, as lmrelay-mock sends them.
fn split_chunks(body: &[u8], ndjson: bool) -> Vec<Bytes> {
    let sep: &[u8] = if ndjson { b"\n" } else { b"\n\n" };
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= body.len() {
        if &body[i..i + sep.len()] == sep {
            i += sep.len();
            chunks.push(Bytes::copy_from_slice(&body[start..i]));
            start = i;
        } else {
            i += 1;
        }
    }
    if start < body.len() {
        chunks.push(Bytes::copy_from_slice(&body[start..]));
    }
    chunks
}

/// Asks in-process mocks of every upstream type for an answer of `ANSWER_WORDS` words, whole
/// and streamed.
fn capture() -> Captured {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = HttpClient::new();
        let text = bodies::prompt(ANSWER_WORDS);
        let req = openai::decode_request(
            bodies::openai_chat("m", &text, false, false)
                .to_string()
                .as_bytes(),
        )
        .expect("decodes");
        let cfg = MockConfig {
            keys: vec![KEY.to_owned()],
            ..MockConfig::default()
        };
        let bearer = format!("Bearer {KEY}");
        let mut answers = Vec::new();
        let mut streams = Vec::new();
        let flavors: [(&str, Flavor, &str, Encode); 6] = [
            (
                "openai",
                Flavor::OpenAi,
                "gpt-4o-mini",
                openai::encode_request,
            ),
            (
                "anthropic",
                Flavor::Anthropic,
                "claude-3-5-haiku-latest",
                anthropic::encode_request,
            ),
            ("ollama", Flavor::Ollama, "llama3.2", ollama::encode_request),
            (
                "gemini",
                Flavor::Gemini,
                "gemini-2.5-flash",
                gemini::encode_request,
            ),
            (
                "cohere",
                Flavor::Cohere,
                "command-a-03-2025",
                cohere::encode_request,
            ),
            (
                "bedrock",
                Flavor::Bedrock,
                "amazon.nova-lite-v1:0",
                bedrock::encode_request,
            ),
        ];
        for (name, flavor, model, encode) in flavors {
            let server = spawn(flavor, cfg.clone()).await.expect("mock starts");
            let root = server.root_url();
            for stream in [false, true] {
                if stream && !matches!(flavor, Flavor::OpenAi | Flavor::Anthropic | Flavor::Ollama)
                {
                    continue;
                }
                let mut r = req.clone();
                r.stream = stream;
                r.include_usage = stream;
                let body: serde_json::Value = serde_json::from_slice(
                    &encode(&r, &UpstreamOptions::new(model)).expect("encodes"),
                )
                .expect("JSON");
                let (path, headers): (String, Vec<(&'static str, &str)>) = match flavor {
                    Flavor::OpenAi => (
                        "/v1/chat/completions".into(),
                        vec![("authorization", &bearer)],
                    ),
                    Flavor::Anthropic => (
                        "/v1/messages".into(),
                        vec![("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
                    ),
                    Flavor::Ollama => ("/api/chat".into(), vec![]),
                    Flavor::Gemini => (
                        format!("/v1beta/models/{model}:generateContent"),
                        vec![("x-goog-api-key", KEY)],
                    ),
                    Flavor::Cohere => ("/v2/chat".into(), vec![("authorization", &bearer)]),
                    _ => (
                        format!("/model/{model}/converse"),
                        vec![("authorization", &bearer)],
                    ),
                };
                let call = Call::new(&root, &path, &headers, &body).expect("call");
                let reply = client
                    .send_ok(&call)
                    .await
                    .unwrap_or_else(|e| panic!("{name} mock: {e}"));
                if stream {
                    let format = match flavor {
                        Flavor::OpenAi => Format::OpenAi,
                        Flavor::Anthropic => Format::Anthropic,
                        _ => Format::Ollama,
                    };
                    streams.push((format, split_chunks(&reply.body, format == Format::Ollama)));
                } else {
                    answers.push((name, reply.body.to_vec()));
                }
            }
            server.shutdown().await;
        }
        Captured { answers, streams }
    })
}

/// Relays one stream as lmrelay's stream relay does; returns the client bytes written.
fn relay(upstream: Format, client: Format, chunks: &[Bytes]) -> usize {
    let mut decoder = upstream.decoder();
    let mut encoder = client.encoder(meta());
    let mut out = BytesMut::with_capacity(4096);
    let mut events: Vec<StreamEvent> = Vec::new();
    let mut written = 0;
    for chunk in chunks {
        decoder.feed(chunk, &mut events);
        for e in events.drain(..) {
            encoder.push(&e, &mut out);
        }
        if !out.is_empty() {
            let frame = out.split().freeze();
            written += frame.len();
            black_box(frame);
        }
    }
    decoder.finish(&mut events);
    for e in events.drain(..) {
        encoder.push(&e, &mut out);
    }
    if !encoder.is_closed() {
        encoder.finish(1_750_000_001_000, &mut out);
    }
    written + out.len()
}

/// Checks a translation once: no error events, text in, the client's stream closed.
fn check_stream(upstream: Format, client: Format, chunks: &[Bytes]) {
    let mut decoder = upstream.decoder();
    let mut encoder = client.encoder(meta());
    let mut out = BytesMut::new();
    let mut events = Vec::new();
    let mut texts = 0;
    for chunk in chunks {
        decoder.feed(chunk, &mut events);
    }
    decoder.finish(&mut events);
    for e in &events {
        match e {
            StreamEvent::Error(err) => panic!(
                "{} → {}: error event {}",
                upstream.name(),
                client.name(),
                err.message
            ),
            StreamEvent::TextDelta(_) => texts += 1,
            _ => {}
        }
        encoder.push(e, &mut out);
    }
    if !encoder.is_closed() {
        encoder.finish(1_750_000_001_000, &mut out);
    }
    assert!(
        texts >= ANSWER_WORDS,
        "{}: only {texts} text deltas",
        upstream.name()
    );
    assert!(encoder.is_closed());
}

fn benches(c: &mut Criterion) {
    let captured = capture();

    let requests = client_requests();
    let mut group = c.benchmark_group("request/decode");
    for (name, body) in &requests {
        decode_client(name, body);
        group.bench_function(*name, |b| b.iter(|| decode_client(name, black_box(body))));
    }
    group.finish();

    // The same-protocol fast path's request side: the envelope read and the model spliced
    // in, against the canonical decode and encode it replaces.
    let mut group = c.benchmark_group("request/envelope");
    for (name, body) in requests.iter().take(2) {
        let body = bytes::Bytes::from(body.clone());
        let read = |b: &[u8]| match *name {
            "openai_chat" => lmrelay_protocol::Envelope::openai(b),
            _ => lmrelay_protocol::Envelope::anthropic(b),
        };
        assert!(read(&body).is_some(), "{name}: not an envelope");
        group.bench_function(*name, |b| {
            b.iter(|| read(black_box(&body)).map(|e| e.body_for(&body, "upstream-model").len()))
        });
    }
    group.finish();

    let canonical = decode_client("openai_chat", &requests[0].1);
    let mut group = c.benchmark_group("request/encode");
    for (name, encode) in upstream_encoders() {
        let opts = UpstreamOptions::new("upstream-model");
        encode(&canonical, &opts).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        group.bench_function(name, |b| {
            b.iter(|| encode(black_box(&canonical), &opts).map(|v| v.len()))
        });
    }
    group.finish();

    type Decode = fn(&[u8]) -> Result<ChatResponse, lmrelay_ir::ApiError>;
    let decoders: [(&str, Decode); 6] = [
        ("openai", openai::decode_response),
        ("anthropic", anthropic::decode_response),
        ("ollama", ollama::decode_response),
        ("gemini", gemini::decode_response),
        ("cohere", cohere::decode_response),
        ("bedrock", bedrock::decode_response),
    ];
    let mut group = c.benchmark_group("response/decode");
    let mut canonical_answer = None;
    for (name, decode) in decoders {
        let Some((_, body)) = captured.answers.iter().find(|(n, _)| *n == name) else {
            panic!("no {name} answer captured");
        };
        let answer = decode(body).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        canonical_answer.get_or_insert(answer);
        group.bench_function(name, |b| b.iter(|| decode(black_box(body))));
    }
    group.finish();

    let answer = canonical_answer.expect("an answer");
    let m = meta();
    let mut group = c.benchmark_group("response/encode");
    group.bench_function("openai", |b| {
        b.iter(|| openai::encode_response(black_box(&answer), &m))
    });
    group.bench_function("anthropic", |b| {
        b.iter(|| anthropic::encode_response(black_box(&answer), &m))
    });
    group.bench_function("ollama", |b| {
        b.iter(|| ollama::encode_response(black_box(&answer), &m, 1_750_000_001_000))
    });
    group.bench_function("responses", |b| {
        b.iter(|| responses::encode_response(black_box(&answer), &m, 1_750_000_001_000))
    });
    group.finish();

    let cases = [
        (Format::OpenAi, Format::OpenAi),
        (Format::OpenAi, Format::Anthropic),
        (Format::OpenAi, Format::Ollama),
        (Format::OpenAi, Format::Responses),
        (Format::Anthropic, Format::OpenAi),
        (Format::Anthropic, Format::Ollama),
        (Format::Ollama, Format::OpenAi),
        (Format::Ollama, Format::Anthropic),
    ];
    let mut group = c.benchmark_group("stream");
    for (upstream, client) in cases {
        let Some((_, chunks)) = captured.streams.iter().find(|(f, _)| *f == upstream) else {
            panic!("no {} stream captured", upstream.name());
        };
        check_stream(upstream, client, chunks);
        group.throughput(Throughput::Elements(chunks.len() as u64));
        group.bench_function(format!("{}_to_{}", upstream.name(), client.name()), |b| {
            b.iter(|| relay(upstream, client, black_box(chunks)))
        });
    }
    group.finish();
}

criterion_group! {
    name = codecs;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(codecs);
