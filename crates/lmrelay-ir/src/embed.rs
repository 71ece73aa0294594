//! Canonical embedding request and response.

/// What to embed.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedInput {
    Texts(Vec<String>),
    /// Pre-tokenised input; only OpenAI itself accepts it.
    Tokens(Vec<Vec<u32>>),
}

/// An embedding request.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    pub model: String,
    pub input: EmbedInput,
    pub dimensions: Option<u32>,
    pub user: Option<String>,
    /// Ollama `truncate`.
    pub truncate: Option<bool>,
}

/// Vectors in input order, with the input token count.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbedResponse {
    pub model: String,
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: u64,
}

// === impl EmbedInput ===

impl EmbedInput {
    pub fn len(&self) -> usize {
        match self {
            EmbedInput::Texts(t) => t.len(),
            EmbedInput::Tokens(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
