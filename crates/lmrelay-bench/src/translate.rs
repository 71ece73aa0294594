//! Gateway CPU per translated stream chunk, without network: the work the gateway's stream
//! relay does for each upstream body chunk — decoder `feed`, encoder `push` of every event it
//! yields, and cutting the output frame — repeated over long captured streams.
//!
//! The loop mirrors `lmrelay::relay::StreamRelay`: boxed `dyn` codecs, a 4 KiB output
//! `BytesMut` split into one frame per upstream chunk, and the codecs' `finish` at the end.

use bytes::{Bytes, BytesMut};
use lmrelay_ir::StreamEvent;
use lmrelay_protocol::{anthropic, ollama, openai, ResponseMeta, StreamDecoder, StreamEncoder};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A wire format, as an upstream or as a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
    Ollama,
}

/// One translation direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub upstream: Format,
    pub client: Format,
}

/// What one pass over the streams produced (for checking the translation really happened).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Upstream chunks fed.
    pub chunks: usize,
    /// Canonical events decoded.
    pub events: usize,
    pub text_deltas: usize,
    pub tool_calls: usize,
    /// Client bytes written.
    pub out_bytes: usize,
    /// Every encoder wrote its terminal frame.
    pub all_closed: bool,
    /// In-stream errors decoded (there should be none).
    pub errors: Vec<String>,
}

/// The timing of one case.
#[derive(Debug, Clone)]
pub struct Timing {
    pub case: Case,
    pub output: Output,
    /// Median over the samples of mean nanoseconds per upstream chunk.
    pub ns_per_chunk: f64,
    /// Fastest sample.
    pub ns_per_chunk_min: f64,
    /// Passes timed in all.
    pub passes: usize,
}

// === impl Format ===

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::OpenAi => "OpenAI",
            Format::Anthropic => "Anthropic",
            Format::Ollama => "Ollama",
        }
    }

    /// The gateway's upstream-side decoder for this format.
    pub fn decoder(self) -> Box<dyn StreamDecoder> {
        match self {
            Format::OpenAi => Box::new(openai::StreamReader::new()),
            Format::Anthropic => Box::new(anthropic::StreamReader::new()),
            Format::Ollama => Box::new(ollama::StreamReader::new()),
        }
    }

    /// The gateway's client-side chat encoder for this format.
    pub fn encoder(self, meta: ResponseMeta) -> Box<dyn StreamEncoder> {
        match self {
            Format::OpenAi => Box::new(openai::StreamWriter::new(meta, openai::StreamMode::Chat)),
            Format::Anthropic => Box::new(anthropic::StreamWriter::new(meta)),
            Format::Ollama => Box::new(ollama::StreamWriter::new(meta, false)),
        }
    }

    /// Whether the format's streams are NDJSON (else SSE).
    pub fn is_ndjson(self) -> bool {
        self == Format::Ollama
    }
}

// === impl Case ===

impl Case {
    pub fn label(self) -> String {
        format!(
            "{} upstream → {} client",
            self.upstream.name(),
            self.client.name()
        )
    }
}

/// Splits a stream body into the chunks its sender wrote: one SSE event (ending in a blank
/// line) or one NDJSON line each, as lmrelay-mock sends them.
pub fn split_chunks(body: &[u8], ndjson: bool) -> Vec<Bytes> {
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

fn meta() -> ResponseMeta {
    ResponseMeta {
        model: "bench-model".to_owned(),
        started_ms: 1_750_000_000_000,
        include_usage: true,
        include_reasoning: false,
        tool_namespaces: Vec::new(),
    }
}

/// Relays every stream once, the way the gateway does; `inspect` also tallies the output.
fn pass(case: Case, streams: &[Vec<Bytes>], inspect: bool) -> Output {
    let mut output = Output {
        all_closed: true,
        ..Output::default()
    };
    let mut events: Vec<StreamEvent> = Vec::new();
    for stream in streams {
        let mut decoder = case.upstream.decoder();
        let mut encoder = case.client.encoder(meta());
        let mut out = BytesMut::with_capacity(4096);
        let mut relay = |events: &mut Vec<StreamEvent>, out: &mut BytesMut, o: &mut Output| {
            for e in events.drain(..) {
                if inspect {
                    tally(&e, o);
                }
                encoder.push(&e, out);
            }
        };
        for chunk in stream {
            decoder.feed(chunk, &mut events);
            relay(&mut events, &mut out, &mut output);
            if !out.is_empty() {
                let frame = out.split().freeze();
                output.out_bytes += frame.len();
                black_box(frame);
            }
        }
        decoder.finish(&mut events);
        relay(&mut events, &mut out, &mut output);
        if !encoder.is_closed() {
            encoder.finish(1_750_000_001_000, &mut out);
        }
        output.all_closed &= encoder.is_closed();
        output.out_bytes += out.len();
        black_box(out.split().freeze());
        output.chunks += stream.len();
    }
    output
}

fn tally(e: &StreamEvent, o: &mut Output) {
    o.events += 1;
    match e {
        StreamEvent::TextDelta(_) => o.text_deltas += 1,
        StreamEvent::ToolCallStart { .. } => o.tool_calls += 1,
        StreamEvent::Error(err) => o.errors.push(err.message.clone()),
        _ => {}
    }
}

/// Times `case` over `streams`: `samples` samples of at least `sample_time` each.
pub fn measure(
    case: Case,
    streams: &[Vec<Bytes>],
    sample_time: Duration,
    samples: usize,
) -> Result<Timing, String> {
    let output = pass(case, streams, true);
    if !output.errors.is_empty() || !output.all_closed || output.chunks == 0 {
        return Err(format!("{}: bad translation: {output:?}", case.label()));
    }
    // Warm caches and the allocator.
    let warm = Instant::now();
    while warm.elapsed() < sample_time / 2 {
        black_box(pass(case, streams, false));
    }
    let mut per_chunk = Vec::with_capacity(samples);
    let mut passes = 0;
    for _ in 0..samples.max(1) {
        let start = Instant::now();
        let mut n = 0usize;
        while n == 0 || start.elapsed() < sample_time {
            black_box(pass(case, black_box(streams), false));
            n += 1;
        }
        let ns = start.elapsed().as_nanos() as f64;
        per_chunk.push(ns / (n * output.chunks) as f64);
        passes += n;
    }
    let min = per_chunk.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(Timing {
        case,
        ns_per_chunk: crate::stats::median(&per_chunk),
        ns_per_chunk_min: min,
        passes,
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sse_and_ndjson() {
        let sse = split_chunks(b"event: a\ndata: 1\n\ndata: 2\n\n", false);
        assert_eq!(
            sse,
            vec![
                Bytes::from("event: a\ndata: 1\n\n"),
                Bytes::from("data: 2\n\n")
            ]
        );
        let nd = split_chunks(b"{}\n{\"a\":1}\npartial", true);
        assert_eq!(nd.len(), 3);
    }

    #[test]
    fn translates_an_openai_stream_to_anthropic() {
        let body = concat!(
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
            "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
            "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
            "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n"
        );
        let streams = vec![split_chunks(body.as_bytes(), false)];
        let case = Case {
            upstream: Format::OpenAi,
            client: Format::Anthropic,
        };
        let out = pass(case, &streams, true);
        assert!(out.errors.is_empty(), "{out:?}");
        assert!(out.all_closed);
        assert_eq!((out.chunks, out.text_deltas), (4, 1));
        let t = measure(case, &streams, Duration::from_millis(5), 2).expect("translates");
        assert!(t.ns_per_chunk > 0.0);
    }
}
