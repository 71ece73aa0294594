//! The chat request as the relay holds it. A client of OpenAI Chat or Anthropic Messages
//! whose body is a plain envelope ([`Envelope`]) is held as its own bytes: a candidate of
//! the same protocol gets those bytes with the model spliced in, and the canonical form is
//! decoded only when something needs it (a candidate of another protocol, the cache, the
//! audit log's content). Every other request is decoded at once.

use crate::protocol::ClientProtocol;
use bytes::Bytes;
use lmrelay_ir::{ApiError, ChatRequest};
use lmrelay_protocol::{Envelope, ResponseMeta};

/// A chat request: its canonical form, or its client's bytes (and, once something needed
/// it, the canonical form decoded from them).
pub struct Asked {
    protocol: ClientProtocol,
    form: Form,
}

enum Form {
    Decoded(ChatRequest),
    Raw(Raw, Option<ChatRequest>),
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
            form: Form::Decoded(req),
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
        let raw = Raw {
            body: body.clone(),
            envelope,
        };
        Some(Asked {
            protocol,
            form: Form::Raw(raw, None),
        })
    }

    /// The client's body and its envelope, when the request came as one.
    pub fn as_raw(&self) -> Option<&Raw> {
        match &self.form {
            Form::Raw(raw, _) => Some(raw),
            Form::Decoded(_) => None,
        }
    }

    /// The canonical form, if it has been decoded.
    pub fn as_decoded(&self) -> Option<&ChatRequest> {
        match &self.form {
            Form::Decoded(req) => Some(req),
            Form::Raw(_, decoded) => decoded.as_ref(),
        }
    }

    pub fn model(&self) -> &str {
        match &self.form {
            Form::Decoded(req) => &req.model,
            Form::Raw(raw, _) => &raw.envelope.model,
        }
    }

    pub fn stream(&self) -> bool {
        match &self.form {
            Form::Decoded(req) => req.stream,
            Form::Raw(raw, _) => raw.envelope.stream,
        }
    }

    pub fn max_tokens(&self) -> Option<u32> {
        match &self.form {
            Form::Decoded(req) => req.sampling.max_tokens,
            Form::Raw(raw, _) => raw.envelope.max_tokens,
        }
    }

    /// The input tokens estimated before the call (what the limits count).
    pub fn estimated_tokens(&self) -> u64 {
        match &self.form {
            Form::Decoded(req) => super::estimate_tokens(req),
            Form::Raw(raw, _) => raw.envelope.estimated_tokens,
        }
    }

    /// How the conversation opens, for upstream-key affinity. A request keeps the hash of
    /// the form it came in, so a conversation's requests agree with each other.
    pub fn opening(&self) -> Option<u64> {
        match &self.form {
            Form::Decoded(req) => super::conversation_affinity(req),
            Form::Raw(raw, _) => raw.envelope.opening,
        }
    }

    /// What the client's encoders need of the request.
    pub fn meta(&self, started_ms: u64) -> ResponseMeta {
        match &self.form {
            Form::Decoded(req) => ResponseMeta {
                model: req.model.clone(),
                started_ms,
                include_usage: req.include_usage,
                include_reasoning: req.wants_reasoning(),
                tool_namespaces: req.tool_namespaces.clone(),
            },
            Form::Raw(raw, _) => ResponseMeta {
                model: raw.envelope.model.clone(),
                started_ms,
                include_usage: raw.envelope.include_usage,
                include_reasoning: raw.envelope.reasoning,
                tool_namespaces: Default::default(),
            },
        }
    }

    /// The canonical form, decoded from the client's body the first time it is asked for
    /// (a body the envelope reader took can still be refused here, with the codec's precise
    /// error, or by the bounds).
    pub fn canonical(&mut self) -> Result<&mut ChatRequest, ApiError> {
        match &mut self.form {
            Form::Decoded(req) => Ok(req),
            Form::Raw(raw, decoded) => {
                let req = match decoded.take() {
                    Some(req) => req,
                    None => {
                        let req = self.protocol.decode(&raw.body)?;
                        crate::bounds::check(&req)?;
                        req
                    }
                };
                Ok(decoded.insert(req))
            }
        }
    }
}
