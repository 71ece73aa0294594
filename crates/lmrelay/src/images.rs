//! Fetching remote images for upstreams that accept only inline bytes (Ollama).
//!
//! The codecs never do I/O, so a URL image bound for such an upstream is downloaded here first
//! and replaced by base64 data. Downloads are bounded in size and time, only `http(s)` is
//! followed, redirects are not, and hosts that resolve to private, loopback or link-local
//! addresses are refused unless the operator allows them (server-side request forgery).

use base64::Engine;
use bytes::BytesMut;
use futures_util::StreamExt;
use lmrelay_ir::{ApiError, ChatRequest, ContentPart, ImageSource};
use std::net::IpAddr;
use std::time::Duration;

/// The largest image fetched.
const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;
/// How long one image may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the request has any image given by URL.
pub fn has_url_images(req: &ChatRequest) -> bool {
    fn any(parts: &[ContentPart]) -> bool {
        parts.iter().any(|p| match p {
            ContentPart::Image {
                source: ImageSource::Url(_),
                ..
            } => true,
            ContentPart::ToolResult { content, .. } => any(content),
            _ => false,
        })
    }
    req.messages.iter().any(|m| any(&m.content))
}

/// Replaces every URL image of `req` by its downloaded bytes.
pub async fn inline_url_images(
    req: &mut ChatRequest,
    client: &reqwest::Client,
    allow_private: bool,
) -> Result<(), ApiError> {
    for m in &mut req.messages {
        inline_parts(&mut m.content, client, allow_private).await?;
    }
    Ok(())
}

async fn inline_parts(
    parts: &mut [ContentPart],
    client: &reqwest::Client,
    allow_private: bool,
) -> Result<(), ApiError> {
    for p in parts.iter_mut() {
        match p {
            ContentPart::Image { source, .. } => {
                if let ImageSource::Url(url) = source {
                    *source = fetch(url, client, allow_private).await?;
                }
            }
            ContentPart::ToolResult { content, .. } => {
                Box::pin(inline_parts(content, client, allow_private)).await?
            }
            _ => {}
        }
    }
    Ok(())
}

async fn fetch(
    url: &str,
    client: &reqwest::Client,
    allow_private: bool,
) -> Result<ImageSource, ApiError> {
    let refuse = |why: &str| {
        ApiError::invalid(format!(
            "The image at `{}` cannot be used: {why}.",
            shorten(url)
        ))
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| refuse("it is not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(refuse("only http and https image URLs are fetched"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| refuse("the URL has no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    if !allow_private {
        let addrs = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|_| refuse("its host does not resolve"))?;
        for addr in addrs {
            if !is_public(addr.ip()) {
                return Err(refuse("its host is a private or local address"));
            }
        }
    }
    let download = async {
        let resp = client
            .get(parsed.clone())
            .send()
            .await
            .map_err(|_| refuse("it could not be downloaded"))?;
        if !resp.status().is_success() {
            return Err(refuse(&format!(
                "the server answered {}",
                resp.status().as_u16()
            )));
        }
        let declared_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| refuse("the download was cut off"))?;
            if body.len() + chunk.len() > MAX_IMAGE_BYTES {
                return Err(refuse("it is larger than 20 MiB"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((declared_type, body))
    };
    let (declared_type, body) = tokio::time::timeout(FETCH_TIMEOUT, download)
        .await
        .map_err(|_| refuse("the download took longer than 10 seconds"))??;
    let data = base64::engine::general_purpose::STANDARD.encode(&body);
    let media_type = declared_type
        .filter(|t| t.starts_with("image/"))
        .unwrap_or_else(|| lmrelay_protocol::tools::sniff_image_type(&data).to_owned());
    Ok(ImageSource::Base64 { media_type, data })
}

/// Whether an address is on the public internet (not private, loopback, link-local,
/// unspecified, multicast, or the IPv6 equivalents).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link local
        }
    }
}

/// A URL short enough for an error message (data URLs are never fetched, but long query
/// strings may be).
fn shorten(url: &str) -> String {
    let mut s: String = url.chars().take(120).collect();
    if url.chars().count() > 120 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }
}
