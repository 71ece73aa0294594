//! Conversion helpers every codec shares: ids, data URLs, image sniffing, and finding the
//! tool a result answers.

use base64::Engine;
use lmrelay_ir::{ContentPart, ImageSource, Message, Role};

const ALPHANUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random id: `prefix` followed by `len` alphanumerics (for example `call_…`, `toolu_…`).
pub fn random_id(prefix: &str, len: usize) -> String {
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    for _ in 0..len {
        id.push(ALPHANUM[fastrand::usize(..ALPHANUM.len())] as char);
    }
    id
}

/// Splits a `data:<mime>;base64,<data>` URL into (mime, data).
pub fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some((mime.to_owned(), data.to_owned()))
}

/// An image source as a URL: remote URLs as they are, inline data as a data URL.
pub fn image_url(source: &ImageSource) -> String {
    match source {
        ImageSource::Url(u) => u.clone(),
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
    }
}

/// A URL as an image source: data URLs become inline data.
pub fn image_source_from_url(url: &str) -> ImageSource {
    match parse_data_url(url) {
        Some((mime, data)) => {
            let media_type = if mime.is_empty() {
                sniff_image_type(&data).to_owned()
            } else {
                mime
            };
            ImageSource::Base64 { media_type, data }
        }
        None => ImageSource::Url(url.to_owned()),
    }
}

/// Guesses an image's media type from the magic bytes of its base64 data (Ollama sends
/// images without one). Defaults to PNG.
pub fn sniff_image_type(b64: &str) -> &'static str {
    // Whole base64 quads of the first 24 bytes; byte-based so any input is safe to slice.
    let head = &b64.as_bytes()[..b64.len().min(24)];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&head[..head.len() / 4 * 4])
        .unwrap_or_default();
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF8") {
        "image/gif"
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "image/webp"
    } else {
        "image/png"
    }
}

/// Appends a text part to text being flattened into one string (formats whose `content` is
/// a single string), separating parts with a newline so separate blocks do not run together.
pub fn append_text(buf: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    if !buf.is_empty() {
        buf.push('\n');
    }
    buf.push_str(text);
}

/// The text parts of `parts`, flattened with [`append_text`].
pub fn flatten_text(parts: &[ContentPart]) -> String {
    let mut out = String::new();
    for p in parts {
        if let ContentPart::Text { text, .. } = p {
            append_text(&mut out, text);
        }
    }
    out
}

/// The name of the tool a result answers, found among the earlier assistant calls.
pub fn tool_name_for(messages: &[Message], call_id: &str) -> Option<String> {
    messages.iter().rev().find_map(|m| {
        if m.role != Role::Assistant {
            return None;
        }
        m.content.iter().find_map(|p| match p {
            ContentPart::ToolCall { id, name, .. } if id == call_id => Some(name.clone()),
            _ => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_round_trip() {
        let src = image_source_from_url("data:image/jpeg;base64,/9j/4AAQ");
        assert_eq!(
            src,
            ImageSource::Base64 {
                media_type: "image/jpeg".into(),
                data: "/9j/4AAQ".into()
            }
        );
        assert_eq!(image_url(&src), "data:image/jpeg;base64,/9j/4AAQ");
        assert_eq!(
            image_source_from_url("https://x/y.png"),
            ImageSource::Url("https://x/y.png".into())
        );
    }

    #[test]
    fn sniffs_common_image_types() {
        assert_eq!(sniff_image_type("iVBORw0KGgoAAAANSUhEUg"), "image/png");
        assert_eq!(sniff_image_type("/9j/4AAQSkZJRgABAQ"), "image/jpeg");
        assert_eq!(sniff_image_type("R0lGODlhAQABAIAAAP"), "image/gif");
        assert_eq!(sniff_image_type("UklGRiQAAABXRUJQVlA4"), "image/webp");
        // Garbage, including multi-byte characters at any cut, never panics.
        assert_eq!(sniff_image_type("aaaé"), "image/png");
        assert_eq!(sniff_image_type("ééééééééééééééééééééééééé"), "image/png");
        assert_eq!(sniff_image_type(""), "image/png");
    }

    #[test]
    fn flattened_parts_do_not_run_together() {
        let parts = vec![
            ContentPart::text("Block one."),
            ContentPart::text(""),
            ContentPart::text("Block two."),
        ];
        assert_eq!(flatten_text(&parts), "Block one.\nBlock two.");
    }

    #[test]
    fn random_ids_have_prefix_and_length() {
        let id = random_id("call_", 24);
        assert!(id.starts_with("call_"));
        assert_eq!(id.len(), 29);
        assert!(id[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
