//! Newline-delimited JSON framing (Ollama streams): an incremental line splitter that is
//! correct whatever the byte-chunk boundaries.

/// Incremental NDJSON line splitter. Yields each non-blank line without its line end.
#[derive(Debug, Default)]
pub struct NdjsonParser {
    buf: Vec<u8>,
}

// === impl NdjsonParser ===

impl NdjsonParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `bytes`, appending every completed line to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Vec<u8>>) {
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            self.buf.extend_from_slice(&rest[..i]);
            rest = &rest[i + 1..];
            self.emit(out);
        }
        self.buf.extend_from_slice(rest);
    }

    /// Flushes a last line that had no trailing newline.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) {
        self.emit(out);
    }

    fn emit(&mut self, out: &mut Vec<Vec<u8>>) {
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &[u8] = b"{\"a\":1}\n\n{\"b\":\"x\\ny\"}\r\n  \n{\"done\":true}";

    fn parse_all(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut p = NdjsonParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        p.finish(&mut out);
        out
    }

    #[test]
    fn splits_lines_and_skips_blank_ones() {
        let lines = parse_all(&[SAMPLE]);
        assert_eq!(
            lines,
            vec![
                b"{\"a\":1}".to_vec(),
                b"{\"b\":\"x\\ny\"}".to_vec(),
                b"{\"done\":true}".to_vec()
            ]
        );
    }

    proptest! {
        #[test]
        fn same_lines_however_the_bytes_are_split(cuts in proptest::collection::vec(0usize..SAMPLE.len(), 0..10)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts {
                chunks.push(&SAMPLE[prev..c]);
                prev = c;
            }
            chunks.push(&SAMPLE[prev..]);
            prop_assert_eq!(parse_all(&chunks), parse_all(&[SAMPLE]));
        }
    }
}
