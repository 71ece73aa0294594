//! Canonical types of lmrelay: the one shape every wire format is translated to and from.
//!
//! N client protocols and M upstream formats need N + M codecs, not N × M translators, because
//! every codec speaks these types. Nothing here does I/O or knows a wire format.

pub mod embed;
pub mod error;
pub mod model;
pub mod replay;
pub mod request;
pub mod response;
pub mod stream;
pub mod usage;

pub use embed::{EmbedInput, EmbedRequest, EmbedResponse};
pub use error::{ApiError, ErrorKind};
pub use model::ModelInfo;
pub use replay::StreamCollector;
pub use request::{
    namespaced_tool_name, split_namespaced_tool, ChatRequest, ContentPart, ImageSource, Message,
    Reasoning, ResponseFormat, Role, Sampling, Tool, ToolChoice,
};
pub use response::{ChatResponse, FinishReason};
pub use stream::StreamEvent;
pub use usage::Usage;

/// A JSON object carried through untouched: vendor fields lmrelay does not model.
pub type Extra = serde_json::Map<String, serde_json::Value>;
