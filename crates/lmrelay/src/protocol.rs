//! The client protocols lmrelay speaks, and the codec calls each one needs. Handlers name a
//! protocol; everything protocol-specific on the response path goes through here.

use lmrelay_ir::{ApiError, ChatRequest, ChatResponse};
use lmrelay_protocol::{anthropic, ollama, openai, responses, ResponseMeta, StreamEncoder};
use lmrelay_providers::Dialect;

/// A client-facing endpoint family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientProtocol {
    OpenAiChat,
    OpenAiCompletion,
    /// OpenAI's Responses API (`POST /v1/responses`).
    OpenAiResponses,
    /// OpenAI endpoints without a chat body (models, embeddings).
    OpenAi,
    Anthropic,
    OllamaChat,
    OllamaGenerate,
    /// Ollama endpoints without a chat body.
    Ollama,
}

// === impl ClientProtocol ===

impl ClientProtocol {
    /// The protocol's family name, as routing rules and scripts see it.
    pub fn family(self) -> &'static str {
        match self {
            ClientProtocol::OpenAiChat
            | ClientProtocol::OpenAiCompletion
            | ClientProtocol::OpenAiResponses
            | ClientProtocol::OpenAi => "openai",
            ClientProtocol::Anthropic => "anthropic",
            ClientProtocol::OllamaChat
            | ClientProtocol::OllamaGenerate
            | ClientProtocol::Ollama => "ollama",
        }
    }

    /// The GenAI semantic conventions' operation name (`gen_ai.operation.name`).
    pub fn operation(self) -> &'static str {
        match self {
            ClientProtocol::OpenAiCompletion | ClientProtocol::OllamaGenerate => "text_completion",
            _ => "chat",
        }
    }

    pub fn dialect(self) -> Dialect {
        match self {
            ClientProtocol::OpenAiChat
            | ClientProtocol::OpenAiCompletion
            | ClientProtocol::OpenAi => Dialect::OpenAi,
            ClientProtocol::OpenAiResponses => Dialect::OpenAiResponses,
            ClientProtocol::Anthropic => Dialect::Anthropic,
            ClientProtocol::OllamaChat
            | ClientProtocol::OllamaGenerate
            | ClientProtocol::Ollama => Dialect::Ollama,
        }
    }

    /// Decodes a chat-like request body.
    pub fn decode(self, body: &[u8]) -> Result<ChatRequest, ApiError> {
        match self {
            ClientProtocol::OpenAiChat | ClientProtocol::OpenAi => openai::decode_request(body),
            ClientProtocol::OpenAiCompletion => openai::decode_completion_request(body),
            ClientProtocol::OpenAiResponses => responses::decode_request(body),
            ClientProtocol::Anthropic => anthropic::decode_request(body),
            ClientProtocol::OllamaChat | ClientProtocol::Ollama => ollama::decode_request(body),
            ClientProtocol::OllamaGenerate => ollama::decode_generate(body),
        }
    }

    /// Encodes a complete answer.
    pub fn encode_response(self, resp: &ChatResponse, meta: &ResponseMeta, now_ms: u64) -> Vec<u8> {
        match self {
            ClientProtocol::OpenAiChat | ClientProtocol::OpenAi => {
                openai::encode_response(resp, meta)
            }
            ClientProtocol::OpenAiCompletion => openai::encode_completion_response(resp, meta),
            ClientProtocol::OpenAiResponses => responses::encode_response(resp, meta, now_ms),
            ClientProtocol::Anthropic => anthropic::encode_response(resp, meta),
            ClientProtocol::OllamaChat | ClientProtocol::Ollama => {
                ollama::encode_response(resp, meta, now_ms)
            }
            ClientProtocol::OllamaGenerate => ollama::encode_generate_response(resp, meta, now_ms),
        }
    }

    /// A stream encoder for this protocol.
    pub fn stream_encoder(self, meta: ResponseMeta) -> Box<dyn StreamEncoder> {
        match self {
            ClientProtocol::OpenAiChat | ClientProtocol::OpenAi => {
                Box::new(openai::StreamWriter::new(meta, openai::StreamMode::Chat))
            }
            ClientProtocol::OpenAiCompletion => Box::new(openai::StreamWriter::new(
                meta,
                openai::StreamMode::Completion,
            )),
            ClientProtocol::OpenAiResponses => Box::new(responses::StreamWriter::new(meta)),
            ClientProtocol::Anthropic => Box::new(anthropic::StreamWriter::new(meta)),
            ClientProtocol::OllamaChat | ClientProtocol::Ollama => {
                Box::new(ollama::StreamWriter::new(meta, false))
            }
            ClientProtocol::OllamaGenerate => Box::new(ollama::StreamWriter::new(meta, true)),
        }
    }

    /// Renders an error body and picks the status.
    pub fn render_error(self, err: &ApiError) -> (u16, Vec<u8>) {
        match self {
            ClientProtocol::OpenAiChat
            | ClientProtocol::OpenAiCompletion
            | ClientProtocol::OpenAi => openai::render_error(err),
            ClientProtocol::OpenAiResponses => responses::render_error(err),
            ClientProtocol::Anthropic => anthropic::render_error(err),
            ClientProtocol::OllamaChat
            | ClientProtocol::OllamaGenerate
            | ClientProtocol::Ollama => ollama::render_error(err),
        }
    }
}
