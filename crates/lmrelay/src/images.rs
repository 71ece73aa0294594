//! Fetching remote images for upstreams that accept only inline bytes (Ollama).
//!
//! The codecs never do I/O, so a URL image bound for such an upstream is downloaded here first
//! and replaced by base64 data. Downloads are bounded (16 images, 20 MiB each, 50 MiB and 30 s
//! in all per request), only `http(s)` is followed, redirects and proxies are not, the body
//! must be an image, and hosts that resolve to private, loopback or link-local addresses are
//! refused unless the operator allows them. One shared client does every download; its DNS
//! resolver checks the addresses and hands the connector only those, so a second DNS answer
//! cannot swap in an internal host (server-side request forgery).

use base64::Engine;
use bytes::BytesMut;
use futures_util::StreamExt;
use lmrelay_ir::{ApiError, ChatRequest, ContentPart, ImageSource};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The most images one request may have fetched.
const MAX_IMAGES: usize = 16;
/// The largest image fetched.
const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;
/// The most image bytes fetched for one request.
const MAX_TOTAL_BYTES: usize = 50 * 1024 * 1024;
/// How long all of one request's fetches may take, DNS included.
const FETCH_DEADLINE: Duration = Duration::from_secs(30);

/// Whether the request has any image given by URL.
pub fn has_url_images(req: &ChatRequest) -> bool {
    let mut n = 0;
    req.messages
        .iter()
        .for_each(|m| count_url_images(&m.content, &mut n));
    n > 0
}

fn count_url_images(parts: &[ContentPart], n: &mut usize) {
    for p in parts {
        match p {
            ContentPart::Image {
                source: ImageSource::Url(_),
                ..
            } => *n += 1,
            ContentPart::ToolResult { content, .. } => count_url_images(content, n),
            _ => {}
        }
    }
}

/// Replaces every URL image of `req` by its downloaded bytes.
pub async fn inline_url_images(req: &mut ChatRequest, allow_private: bool) -> Result<(), ApiError> {
    let mut count = 0;
    req.messages
        .iter()
        .for_each(|m| count_url_images(&m.content, &mut count));
    if count > MAX_IMAGES {
        return Err(ApiError::invalid(format!(
            "The request has {count} image URLs; lmrelay fetches at most {MAX_IMAGES} per request for this upstream. Send the images inline (base64)."
        )));
    }
    let mut budget = MAX_TOTAL_BYTES;
    let work = async {
        for m in &mut req.messages {
            inline_parts(&mut m.content, allow_private, &mut budget).await?;
        }
        Ok(())
    };
    tokio::time::timeout(FETCH_DEADLINE, work)
        .await
        .map_err(|_| {
            ApiError::invalid("Fetching the request's image URLs took longer than 30 seconds.")
        })?
}

async fn inline_parts(
    parts: &mut [ContentPart],
    allow_private: bool,
    budget: &mut usize,
) -> Result<(), ApiError> {
    for p in parts.iter_mut() {
        match p {
            ContentPart::Image { source, .. } => {
                if let ImageSource::Url(url) = source {
                    *source = fetch(url, allow_private, budget).await?;
                }
            }
            ContentPart::ToolResult { content, .. } => {
                Box::pin(inline_parts(content, allow_private, budget)).await?
            }
            _ => {}
        }
    }
    Ok(())
}

async fn fetch(
    url: &str,
    allow_private: bool,
    budget: &mut usize,
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
        .ok_or_else(|| refuse("the URL has no host"))?
        .trim_matches(['[', ']']);
    // An address in the URL is never resolved: check it here.
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !allow_private && !is_public(ip) {
            return Err(refuse("its host is a private or local address"));
        }
    }
    let resp =
        client(allow_private)
            .get(parsed)
            .send()
            .await
            .map_err(|e| match resolve_failure(&e) {
                Some(ResolveError::NotPublic) => refuse("its host is a private or local address"),
                Some(ResolveError::NotFound) => refuse("its host does not resolve"),
                None => refuse("it could not be downloaded"),
            })?;
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
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase());
    let limit = MAX_IMAGE_BYTES.min(*budget);
    let mut body = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| refuse("the download was cut off"))?;
        if body.len() + chunk.len() > limit {
            return Err(refuse(
                "it is larger than lmrelay fetches (20 MiB an image, 50 MiB a request)",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    *budget -= body.len();
    let media_type = match (declared_type, image_type(&body)) {
        (Some(t), _) if t.starts_with("image/") => t,
        (_, Some(t)) => t.to_owned(),
        _ => return Err(refuse("it is not an image")),
    };
    let data = base64::engine::general_purpose::STANDARD.encode(&body);
    Ok(ImageSource::Base64 { media_type, data })
}

/// The shared download client for `allow_private`: no proxy, no redirects, and a resolver
/// that only hands out the addresses it may connect to.
fn client(allow_private: bool) -> &'static reqwest::Client {
    static PUBLIC: OnceLock<reqwest::Client> = OnceLock::new();
    static ANY: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if allow_private { &ANY } else { &PUBLIC };
    cell.get_or_init(|| {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    })
}

/// Why a host was not resolved for a download.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("the host does not resolve")]
    NotFound,
    #[error("the host resolves to a private or local address")]
    NotPublic,
}

/// Resolves with the system resolver, then refuses hosts with any non-public address.
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            type BoxError = Box<dyn std::error::Error + Send + Sync>;
            let refused = |e: ResolveError| -> BoxError { Box::new(e) };
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|_| refused(ResolveError::NotFound))?
                .collect();
            if addrs.is_empty() {
                return Err(refused(ResolveError::NotFound));
            }
            if !allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
                return Err(refused(ResolveError::NotPublic));
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The resolver's refusal inside a failed download, if that is why it failed.
fn resolve_failure(e: &reqwest::Error) -> Option<&ResolveError> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<ResolveError>() {
            return Some(r);
        }
        source = s.source();
    }
    None
}

/// The image type the magic bytes announce, if any.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF8") {
        Some("image/gif")
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether an address is on the public internet: not private, shared, loopback, link-local,
/// reserved, documentation, benchmarking, multicast or unspecified (IPv4 or IPv6, including
/// IPv4 embedded in IPv6).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0 // 0.0.0.0/8, "this network"
                || (a == 192 && b == 88 && c == 99) // 192.88.99.0/24, 6to4 relay anycast
                || (a == 100 && (b & 0xC0) == 64) // 100.64.0.0/10, shared (CGNAT)
                || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, protocol assignments
                || (a == 198 && (b & 0xFE) == 18) // 198.18.0.0/15, benchmarking
                || a >= 240) // 240.0.0.0/4, reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // Local-use NAT64 (64:ff9b:1::/48) reaches whatever the local translator does.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
                return false;
            }
            // ::/96 (IPv4-compatible, deprecated) and the well-known NAT64 prefix embed IPv4.
            if s[..6] == [0, 0, 0, 0, 0, 0] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let v4 = std::net::Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                );
                return !v6.is_unspecified() && !v6.is_loopback() && is_public(IpAddr::V4(v4));
            }
            // 6to4 embeds an IPv4 address in bits 16..48.
            if s[0] == 0x2002 {
                let v4 = std::net::Ipv4Addr::new(
                    (s[1] >> 8) as u8,
                    s[1] as u8,
                    (s[2] >> 8) as u8,
                    s[2] as u8,
                );
                return is_public(IpAddr::V4(v4));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // 100::/64, discard-only
                || (s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23: Teredo, benchmarking, ORCHID…
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

/// A URL short enough for an error message.
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
        let private = [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fec0::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "64:ff9b:1::808:808",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "100::1",
            "192.88.99.1",
        ];
        for ip in private {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:4700::1111",
            "8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn image_types_from_magic_bytes() {
        assert_eq!(
            image_type(&[0x89, b'P', b'N', b'G', 0, 0]),
            Some("image/png")
        );
        assert_eq!(image_type(b"GIF89a"), Some("image/gif"));
        assert_eq!(image_type(b"<html>"), None);
    }
}
