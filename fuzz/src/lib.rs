//! What the fuzz targets share: cutting one input into the chunks a stream decoder is fed,
//! and running a decoder over them.
//!
//! A stream input is `[n][len_1 … len_n][body]`: `n % 9` chunk lengths (one byte each) come
//! first, and the body is fed in chunks of those lengths, then whatever is left as the last
//! chunk. A seed that starts with `0x00` is fed whole.

use lmrelay_ir::StreamEvent;
use lmrelay_protocol::StreamDecoder;

/// The chunks `data` describes (see the module docs). Empty input gives no chunks.
pub fn chunks(data: &[u8]) -> Vec<&[u8]> {
    let Some((&n, rest)) = data.split_first() else {
        return Vec::new();
    };
    let n = usize::from(n % 9).min(rest.len());
    let (lens, mut body) = rest.split_at(n);
    let mut out = Vec::with_capacity(n + 1);
    for &len in lens {
        let (chunk, tail) = body.split_at(usize::from(len).min(body.len()));
        out.push(chunk);
        body = tail;
    }
    out.push(body);
    out
}

/// Feeds `data`'s chunks to `decoder`, then ends the stream; returns the events.
pub fn decode_stream(decoder: &mut dyn StreamDecoder, data: &[u8]) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    let chunks = chunks(data);
    for chunk in &chunks {
        decoder.feed(chunk, &mut out);
    }
    decoder.finish(&mut out);
    out
}
