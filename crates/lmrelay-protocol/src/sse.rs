//! Server-sent events: an incremental parser that is correct whatever the byte-chunk
//! boundaries, and a writer.

use bytes::{BufMut, BytesMut};

/// Whether `event` has the JSON key `key` (quotes included) followed by a value that starts
/// with `value_start` (after the colon and any spaces): `"usage":{` but not `"usage":null`.
pub fn has_key_with(event: &[u8], key: &[u8], value_start: u8) -> bool {
    memchr::memmem::find_iter(event, key).any(|at| {
        let mut rest = event[at + key.len()..]
            .iter()
            .skip_while(|b| b.is_ascii_whitespace());
        rest.next() == Some(&b':') && rest.find(|b| !b.is_ascii_whitespace()) == Some(&value_start)
    })
}

/// One SSE event: its optional `event:` name and its `data:` lines joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Incremental SSE parser. Feed it bytes as they arrive; it yields each event once its
/// terminating blank line has been seen. Accepts `\n`, `\r\n` and `\r` line ends, ignores
/// comments (`:` lines), `id:` and `retry:`.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not yet terminated.
    line: Vec<u8>,
    /// The previous byte was `\r`, so a following `\n` belongs to the same line end.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

/// Writes one SSE event (`event:` line when named, then `data:` lines, then a blank line).
pub fn write_event(out: &mut BytesMut, event: Option<&str>, data: &[u8]) {
    if let Some(name) = event {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_u8(b'\n');
    }
    for line in data.split(|b| *b == b'\n') {
        out.put_slice(b"data: ");
        out.put_slice(line);
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
}

/// Where the first complete event of `buf` ends: the index just past its terminating blank
/// line (`\n\n` or `\r\n\r\n`), so that raw events can be passed on whole.
pub fn event_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = buf[from..].iter().position(|b| *b == b'\n') {
        let i = from + i;
        match buf.get(i + 1..) {
            Some([b'\n', ..]) => return Some(i + 2),
            Some([b'\r', b'\n', ..]) => return Some(i + 3),
            _ => from = i + 1,
        }
    }
    None
}

// === impl SseParser ===

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `bytes`, appending every completed event to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
                Some(i) => {
                    self.line.extend_from_slice(&rest[..i]);
                    self.after_cr = rest[i] == b'\r';
                    rest = &rest[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line, out);
                    self.line = line;
                    self.line.clear();
                }
                None => {
                    self.line.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
    }

    /// Flushes an event left unterminated at end of input.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
        }
        self.dispatch(out);
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn event_ends_are_found_for_both_line_ends() {
        assert_eq!(event_end(b"data: a\n\ndata: b\n\n"), Some(9));
        assert_eq!(event_end(b"data: a\r\n\r\nrest"), Some(11));
        assert_eq!(event_end(b"event: x\ndata: a\n"), None);
        assert_eq!(event_end(b""), None);
        assert_eq!(event_end(b"\n\n"), Some(2));
    }

    use super::*;
    use proptest::prelude::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        p.finish(&mut out);
        out
    }

    const SAMPLE: &[u8] = b": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\nid: 7\nretry: 10\ndata: one\ndata:two\n\nevent: ping\ndata: {}\r\rdata: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"a\":1}".into(),
            },
            SseEvent {
                event: None,
                data: "one\ntwo".into(),
            },
            SseEvent {
                event: Some("ping".into()),
                data: "{}".into(),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
        ]
    }

    #[test]
    fn parses_mixed_line_endings_comments_and_multiline_data() {
        assert_eq!(parse_all(&[SAMPLE]), expected());
    }

    #[test]
    fn writer_output_parses_back() {
        let mut out = BytesMut::new();
        write_event(&mut out, Some("x"), b"l1\nl2");
        write_event(&mut out, None, b"{}");
        let events = parse_all(&[&out]);
        assert_eq!(events[0].event.as_deref(), Some("x"));
        assert_eq!(events[0].data, "l1\nl2");
        assert_eq!(events[1].data, "{}");
    }

    #[test]
    fn event_without_trailing_blank_line_is_flushed_at_end() {
        let events = parse_all(&[b"data: last"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "last");
    }

    proptest! {
        #[test]
        fn same_events_however_the_bytes_are_split(cuts in proptest::collection::vec(0usize..SAMPLE.len(), 0..12)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts {
                chunks.push(&SAMPLE[prev..c]);
                prev = c;
            }
            chunks.push(&SAMPLE[prev..]);
            prop_assert_eq!(parse_all(&chunks), expected());
        }

        #[test]
        fn byte_at_a_time_equals_whole(data in "[a-z{}\":, ]{0,40}", name in "[a-z_]{1,10}") {
            let mut buf = BytesMut::new();
            write_event(&mut buf, Some(&name), data.as_bytes());
            let singles: Vec<&[u8]> = buf.chunks(1).collect();
            prop_assert_eq!(parse_all(&singles), parse_all(&[&buf]));
        }
    }
}
