//! The chat request as the relay holds it. A client of OpenAI Chat or Anthropic Messages
//! whose body is a plain envelope ([`Envelope`]) is held as its own bytes: a candidate of
//! the same protocol gets those bytes with the model spliced in, and the canonical form is
//! decoded only when something needs it (a candidate of another protocol, the cache, the
//! audit log's content). Every other request is decoded at once.

use crate::protocol::ClientProtocol;
use bytes::Bytes;
use lmrelay_ir::{ApiError, ChatRequest};
use lmrelay_protocol::{Envelope, ResponseMeta};

/// A chat request: its canonical form, its client's bytes, or both.
pub struct Asked {
    protocol: ClientProtocol,
    raw: Option<Raw>,
    canonical: Option<ChatRequest>,
}

/// A body as the client sent it, and its envelope.
pub struct Raw {
    pub body: Bytes,
    pub envelope: Envelope,
}

// === impl Asked ===

impl Asked {
    /// A request decoded by its protocol's codec.
    pub fn decoded(protocol: ClientProtocol, req: ChatRequest) -> Self {
        Asked {
            protocol,
            raw: None,
            canonical: Some(req),
        }
    }

    /// A request held as the client's body, when its protocol has an envelope reader and
    /// the body is a plain envelope within the bounds (the canonical decoder says what is
    /// wrong with any other).
    pub fn raw(protocol: ClientProtocol, body: &Bytes) -> Option<Self> {
        let envelope = match protocol {
            ClientProtocol::OpenAiChat => Envelope::openai(body)?,
            ClientProtocol::Anthropic => Envelope::anthropic(body)?,
            _ => return None,
        };
        let e = &envelope;
        if !crate::bounds::within(e.messages, e.tools, e.stop, e.n) {
            return None;
        }
        Some(Asked {
            protocol,
            raw: Some(Raw {
                body: body.clone(),
                envelope,
            }),
            canonical: None,
        })
    }

    /// The client's body and its envelope, when the request came as one.
    pub fn as_raw(&self) -> Option<&Raw> {
        self.raw.as_ref()
    }

    pub fn model(&self) -> &str {
        match (&self.canonical, &self.raw) {
            (Some(c), _) => &c.model,
            (None, Some(r)) => &r.envelope.model,
            (None, None) => "",
        }
    }

    pub fn stream(&self) -> bool {
        match (&self.canonical, &self.raw) {
            (Some(c), _) => c.stream,
            (None, Some(r)) => r.envelope.stream,
            (None, None) => false,
        }
    }

    pub fn max_tokens(&self) -> Option<u32> {
        match (&self.canonical, &self.raw) {
            (Some(c), _) => c.sampling.max_tokens,
            (None, Some(r)) => r.envelope.max_tokens,
            (None, None) => None,
        }
    }

    /// The input tokens estimated before the call (what the limits count).
    pub fn estimated_tokens(&self) -> u64 {
        match (&self.canonical, &self.raw) {
            (Some(c), _) => super::estimate_tokens(c),
            (None, Some(r)) => r.envelope.estimated_tokens,
            (None, None) => 1,
        }
    }

    /// How the conversation opens, for upstream-key affinity. A request keeps the hash of
    /// the form it came in, so a conversation's requests agree with each other.
    pub fn opening(&self) -> Option<u64> {
        match (&self.raw, &self.canonical) {
            (Some(r), _) => r.envelope.opening,
            (None, Some(c)) => super::conversation_affinity(c),
            (None, None) => None,
        }
    }

    /// What the client's encoders need of the request.
    pub fn meta(&self, started_ms: u64) -> ResponseMeta {
        match (&self.canonical, &self.raw) {
            (Some(c), _) => ResponseMeta {
                model: c.model.clone(),
                started_ms,
                include_usage: c.include_usage,
                include_reasoning: c.wants_reasoning(),
                tool_namespaces: c.tool_namespaces.clone(),
            },
            (None, Some(r)) => ResponseMeta {
                model: r.envelope.model.clone(),
                started_ms,
                include_usage: r.envelope.include_usage,
                include_reasoning: r.envelope.reasoning,
                tool_namespaces: Default::default(),
            },
            (None, None) => ResponseMeta {
                model: String::new(),
                started_ms,
                include_usage: false,
                include_reasoning: false,
                tool_namespaces: Default::default(),
            },
        }
    }

    /// The canonical form, if it has been decoded.
    pub fn as_decoded(&self) -> Option<&ChatRequest> {
        self.canonical.as_ref()
    }

    /// The canonical form, decoded from the client's body the first time it is asked for
    /// (a body the envelope reader took can still be refused here, with the codec's precise
    /// error, or by the bounds).
    pub fn canonical(&mut self) -> Result<&mut ChatRequest, ApiError> {
        let req = match self.canonical.take() {
            Some(req) => req,
            None => {
                let body = self.raw.as_ref().map(|r| &r.body[..]).unwrap_or_default();
                let req = self.protocol.decode(body)?;
                crate::bounds::check(&req)?;
                req
            }
        };
        Ok(self.canonical.insert(req))
    }
}
