//! Incremental framing of the AWS binary event-stream (`application/vnd.amazon.eventstream`,
//! protocols.md §6.4), fed arbitrary byte splits.
//!
//! A frame is `[total_len u32][headers_len u32][prelude_crc u32][headers][payload]
//! [message_crc u32]`. This module only finds frame boundaries: it reads the prelude, checks
//! its CRC and the size limits as soon as the first 12 bytes are in (so a corrupt length
//! never makes it buffer gigabytes), and waits for the rest. Each complete frame is then
//! parsed, message CRC and headers included, by `aws-smithy-eventstream` (smithy-rs, what
//! the AWS SDKs use), so no header or checksum code is written here.

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Buf, BytesMut};

/// Prelude: total length, headers length, prelude CRC.
const PRELUDE: usize = 12;
/// The smallest frame: a prelude and a message CRC.
const MIN_FRAME: usize = PRELUDE + 4;
/// AWS limits: headers ≤ 128 KiB, payload ≤ 24 MiB.
const MAX_HEADERS: usize = 128 * 1024;
const MAX_FRAME: usize = MIN_FRAME + MAX_HEADERS + 24 * 1024 * 1024;

/// One decoded frame: its string headers and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// `(name, value)` of every string header, in order (other header types are skipped:
    /// Bedrock sends only strings).
    pub headers: Vec<(String, String)>,
    pub payload: bytes::Bytes,
}

/// Why the byte stream is not a valid event-stream. After one, the reader stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

/// Splits bytes into frames.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: BytesMut,
    failed: bool,
}

// === impl Frame ===

impl Frame {
    /// The value of the header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn from_message(message: &Message) -> Self {
        let headers = message
            .headers()
            .iter()
            .filter_map(|h| match h.value() {
                HeaderValue::String(s) => {
                    Some((h.name().as_str().to_owned(), s.as_str().to_owned()))
                }
                _ => None,
            })
            .collect();
        Frame {
            headers,
            payload: message.payload().clone(),
        }
    }
}

// === impl FrameReader ===

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `bytes`, appending every frame they complete to `out`. An invalid frame
    /// stops the reader with an error; later calls return nothing.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameError> {
        if self.failed {
            return Ok(());
        }
        self.buf.extend_from_slice(bytes);
        let result = self.drain(out);
        if result.is_err() {
            self.failed = true;
            self.buf.clear();
        }
        result
    }

    /// Whether bytes of an unfinished frame are buffered (the stream was cut mid-frame).
    pub fn has_partial(&self) -> bool {
        !self.failed && !self.buf.is_empty()
    }

    fn drain(&mut self, out: &mut Vec<Frame>) -> Result<(), FrameError> {
        while self.buf.len() >= PRELUDE {
            let total = be_u32(&self.buf[0..4]) as usize;
            let headers = be_u32(&self.buf[4..8]) as usize;
            let crc = be_u32(&self.buf[8..12]);
            if crc32fast::hash(&self.buf[0..8]) != crc {
                return Err(FrameError(
                    "an event-stream frame's prelude checksum does not match".into(),
                ));
            }
            if !(MIN_FRAME..=MAX_FRAME).contains(&total)
                || headers > MAX_HEADERS
                || headers > total - MIN_FRAME
            {
                return Err(FrameError(format!(
                    "an event-stream frame has impossible lengths (total {total}, headers {headers})"
                )));
            }
            if self.buf.len() < total {
                return Ok(());
            }
            let mut frame = self.buf.split_to(total).freeze();
            let message = read_message_from(&mut frame)
                .map_err(|e| FrameError(format!("an event-stream frame is invalid: {e}")))?;
            debug_assert!(!frame.has_remaining());
            out.push(Frame::from_message(&message));
        }
        Ok(())
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
