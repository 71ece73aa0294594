//! Gathering a body from its frames: the one frame itself when it came whole (no copy, the
//! common case for a request or an answer that fits a read), else the frames joined.

use bytes::{Bytes, BytesMut};

/// A body being gathered frame by frame.
#[derive(Default)]
pub struct Gathered {
    /// The first frame, kept as it came while it is the only one.
    first: Option<Bytes>,
    /// Every frame so far, once there is more than one.
    joined: BytesMut,
    /// How much to reserve when frames are first joined.
    hint: usize,
}

// === impl Gathered ===

impl Gathered {
    /// A body expected to be about `hint` bytes long (reserved only if it comes in pieces).
    pub fn with_hint(hint: usize) -> Self {
        Gathered {
            hint,
            ..Gathered::default()
        }
    }

    pub fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.joined.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, frame: Bytes) {
        if frame.is_empty() {
            return;
        }
        if self.first.is_none() && self.joined.is_empty() {
            self.first = Some(frame);
            return;
        }
        if let Some(first) = self.first.take() {
            self.joined
                .reserve(self.hint.max(first.len() + frame.len()));
            self.joined.extend_from_slice(&first);
        }
        self.joined.extend_from_slice(&frame);
    }

    pub fn into_bytes(self) -> Bytes {
        match self.first {
            Some(first) => first,
            None => self.joined.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_is_kept_and_several_are_joined() {
        let whole = Bytes::from_static(b"{\"model\":\"m\"}");
        let mut g = Gathered::with_hint(64);
        g.push(Bytes::new());
        g.push(whole.clone());
        assert_eq!(g.len(), whole.len());
        let out = g.into_bytes();
        assert_eq!(out.as_ptr(), whole.as_ptr(), "no copy");
        let mut g = Gathered::with_hint(4);
        for part in [&b"ab"[..], b"", b"cd", b"e"] {
            g.push(Bytes::copy_from_slice(part));
        }
        assert_eq!(g.len(), 5);
        assert_eq!(g.into_bytes(), Bytes::from_static(b"abcde"));
        assert!(Gathered::default().into_bytes().is_empty());
    }
}
