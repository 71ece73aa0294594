//! Reasoning signatures that do not come from Anthropic, carried in the canonical
//! `ContentPart::Reasoning::signature` / `StreamEvent::ReasoningSignature`.
//!
//! A signature is valid only with the provider that made it (protocols.md §10.6). Anthropic
//! signatures travel bare, as they always have. A Gemini `thoughtSignature` travels behind a
//! short tag that says where it came from and which part it belongs to, so that
//! - the Gemini encoder can put it back byte-exact on the part that carried it, and
//! - every other encoder recognises it and never sends it to its own upstream.
//!
//! The tags contain `:`, which base64 (the alphabet of every signature seen so far) never
//! does, so a tagged value cannot be mistaken for a bare Anthropic signature.
//!
//! Bedrock's signatures carry `bedrock:` and OpenAI Responses' `encrypted_content` carries
//! `openai:`, for the same reason.
//!
//! Two tags, because Gemini signs two kinds of part:
//! - `gemini:thought:<sig>` signs a thought part; the carrier's text is that part's text.
//! - `gemini:part:<sig>` signs the part that follows the carrier in the same message (a
//!   function call or text), which has no reasoning field of its own. The carrier's text, if
//!   any, is unsigned thought text (a streamed thought run merged into one block).

/// The prefix every Gemini signature carries in canonical form.
const GEMINI: &str = "gemini:";
const GEMINI_THOUGHT: &str = "gemini:thought:";
const GEMINI_PART: &str = "gemini:part:";

/// A Gemini `thoughtSignature` recovered from its canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiSignature<'a> {
    /// Signs the thought part whose text the carrier holds.
    Thought(&'a str),
    /// Signs the next non-reasoning part of the same message.
    NextPart(&'a str),
}

/// The canonical form of a thought part's signature.
pub fn gemini_thought(signature: &str) -> String {
    format!("{GEMINI_THOUGHT}{signature}")
}

/// The canonical form of the signature of a function-call or text part.
pub fn gemini_part(signature: &str) -> String {
    format!("{GEMINI_PART}{signature}")
}

/// Reads a canonical signature as a Gemini one; `None` for any other provider's signature.
pub fn parse_gemini(signature: &str) -> Option<GeminiSignature<'_>> {
    if let Some(s) = signature.strip_prefix(GEMINI_THOUGHT) {
        Some(GeminiSignature::Thought(s)).filter(|_| !s.is_empty())
    } else if let Some(s) = signature.strip_prefix(GEMINI_PART) {
        Some(GeminiSignature::NextPart(s)).filter(|_| !s.is_empty())
    } else {
        None
    }
}

/// Whether `signature` came from Gemini (so an Anthropic upstream must never see it).
pub fn is_gemini(signature: &str) -> bool {
    signature.starts_with(GEMINI)
}

/// The prefix of a reasoning signature (or redacted reasoning) that came from Bedrock.
/// Claude on Bedrock signs its thinking like Anthropic does, but whether Anthropic's own API
/// accepts Bedrock's signatures (or the reverse) is not documented, so they stay apart.
const BEDROCK: &str = "bedrock:";

/// The canonical form of a Bedrock reasoning signature or redacted-reasoning blob.
pub fn bedrock(value: &str) -> String {
    format!("{BEDROCK}{value}")
}

/// Reads a canonical signature (or redacted data) as Bedrock's; `None` for any other.
pub fn parse_bedrock(value: &str) -> Option<&str> {
    value.strip_prefix(BEDROCK).filter(|s| !s.is_empty())
}

/// The prefix of an OpenAI Responses reasoning item's `encrypted_content`. Only an OpenAI
/// Responses upstream can read it; every other encoder drops it.
const OPENAI: &str = "openai:";

/// The canonical form of an OpenAI `encrypted_content`.
pub fn openai(value: &str) -> String {
    format!("{OPENAI}{value}")
}

/// Reads a canonical signature as an OpenAI `encrypted_content`; `None` for any other.
pub fn parse_openai(value: &str) -> Option<&str> {
    value.strip_prefix(OPENAI).filter(|s| !s.is_empty())
}

/// Whether `signature` carries another provider's tag (Gemini, Bedrock, OpenAI): an
/// Anthropic upstream must never see it.
pub fn is_tagged(signature: &str) -> bool {
    is_gemini(signature) || signature.starts_with(BEDROCK) || signature.starts_with(OPENAI)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_stay_apart_from_bare_signatures() {
        let sig = "CiQB0e2Kb+/x==";
        assert_eq!(
            parse_gemini(&gemini_thought(sig)),
            Some(GeminiSignature::Thought(sig))
        );
        assert_eq!(
            parse_gemini(&gemini_part(sig)),
            Some(GeminiSignature::NextPart(sig))
        );
        assert!(is_gemini(&gemini_part(sig)));
        assert!(!is_gemini(sig));
        assert_eq!(parse_gemini(sig), None);
        assert_eq!(parse_gemini("gemini:part:"), None);
        assert_eq!(parse_bedrock(&bedrock(sig)), Some(sig));
        assert!(is_tagged(&bedrock(sig)) && is_tagged(&gemini_part(sig)) && !is_tagged(sig));
        assert_eq!(parse_bedrock(sig), None);
        assert_eq!(parse_bedrock("bedrock:"), None);
        assert_eq!(parse_openai(&openai(sig)), Some(sig));
        assert!(is_tagged(&openai(sig)) && parse_openai(sig).is_none());
    }
}
