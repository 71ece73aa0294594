//! W3C Trace Context: the `traceparent` header a client sends and the one lmrelay sends to
//! upstreams (<https://www.w3.org/TR/trace-context/>).

use http::HeaderValue;
use opentelemetry::trace::{SpanId, TraceId};

/// The header's name.
pub const TRACEPARENT: &str = "traceparent";
/// The vendor-specific companion header, passed through unchanged.
pub const TRACESTATE: &str = "tracestate";

/// A parsed `traceparent`: the caller's trace, its span, and whether it is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

// === impl TraceParent ===

impl TraceParent {
    /// Parses a header value; `None` for anything the specification says to ignore
    /// (wrong lengths, upper-case or non-hex digits, all-zero ids, version `ff`). Versions
    /// after `00` are read by their first four fields, as the specification asks.
    pub fn parse(value: &[u8]) -> Option<TraceParent> {
        let s = std::str::from_utf8(value).ok()?;
        let b = s.as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let version = &s[0..2];
        if !is_lower_hex(version) || version == "ff" || (version == "00" && b.len() != 55) {
            return None;
        }
        if b.len() > 55 && b[55] != b'-' {
            return None;
        }
        let (trace, span, flags) = (&s[3..35], &s[36..52], &s[53..55]);
        if !is_lower_hex(trace) || !is_lower_hex(span) || !is_lower_hex(flags) {
            return None;
        }
        let trace_id = TraceId::from_hex(trace).ok()?;
        let span_id = SpanId::from_hex(span).ok()?;
        if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceParent {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The header value naming `span_id` in this trace.
    pub fn header(trace_id: TraceId, span_id: SpanId, sampled: bool) -> HeaderValue {
        let value = format!("00-{trace_id}-{span_id}-{:02x}", u8::from(sampled));
        HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_the_specification_example() {
        let tp = TraceParent::parse(VALID.as_bytes()).expect("valid");
        assert_eq!(tp.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.span_id.to_string(), "00f067aa0ba902b7");
        assert!(tp.sampled);
        let unsampled = VALID.replace("-01", "-00");
        assert!(
            !TraceParent::parse(unsampled.as_bytes())
                .expect("valid")
                .sampled
        );
    }

    #[test]
    fn refuses_what_the_specification_says_to_ignore() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn reads_later_versions_by_their_first_fields() {
        let v = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-whatever";
        assert!(TraceParent::parse(v.as_bytes()).is_some());
    }

    #[test]
    fn writes_what_it_reads() {
        let tp = TraceParent::parse(VALID.as_bytes()).expect("valid");
        let h = TraceParent::header(tp.trace_id, tp.span_id, true);
        assert_eq!(h.to_str().expect("ascii"), VALID);
    }
}
