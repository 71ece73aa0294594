//! The load generator's HTTP client: hyper-util's pooled keep-alive HTTP/1.1 client
//! (`TCP_NODELAY`), and requests prepared once and sent many times.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A cheap-to-clone pooled client.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

/// A `POST` with a JSON body, prepared once.
#[derive(Clone, Debug)]
pub struct Call {
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

/// A whole answer: status and body (read to the last byte).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(16_384)
            .build(connector);
        HttpClient { inner }
    }

    async fn start(&self, call: &Call) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(call.uri.clone());
        for (name, value) in &call.headers {
            req = req.header(name, value);
        }
        let req = req
            .body(Full::new(call.body.clone()))
            .map_err(|e| format!("bad request: {e}"))?;
        self.inner
            .request(req)
            .await
            .map_err(|e| format!("request failed: {e:?}"))
    }

    /// Sends `call` and reads the whole body.
    pub async fn send(&self, call: &Call) -> Result<Reply, String> {
        let resp = self.start(call).await?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body failed: {e}"))?
            .to_bytes();
        Ok(Reply { status, body })
    }

    /// Sends `call` and insists on a 200.
    pub async fn send_ok(&self, call: &Call) -> Result<Reply, String> {
        let reply = self.send(call).await?;
        if reply.status != 200 {
            return Err(format!(
                "{} answered {}: {}",
                call.uri,
                reply.status,
                String::from_utf8_lossy(&reply.body)
            ));
        }
        Ok(reply)
    }

    /// Sends `call`, expects a 200, and hands every body frame to `on_frame` with the time
    /// it arrived. Returns the number of body bytes.
    pub async fn stream(
        &self,
        call: &Call,
        mut on_frame: impl FnMut(Instant, &[u8]),
    ) -> Result<usize, String> {
        let resp = self.start(call).await?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if status != 200 {
            let text = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&text)
            ));
        }
        let mut bytes = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("stream failed: {e}"))?;
            if let Some(data) = frame.data_ref() {
                bytes += data.len();
                on_frame(Instant::now(), data);
            }
        }
        Ok(bytes)
    }
}

impl Call {
    /// `POST {root}{path}` with a JSON `body` and extra `headers`.
    pub fn new(
        root: &str,
        path: &str,
        headers: &[(&'static str, &str)],
        body: &serde_json::Value,
    ) -> Result<Call, String> {
        let uri: Uri = format!("{root}{path}")
            .parse()
            .map_err(|e| format!("bad URL {root}{path}: {e}"))?;
        let mut list = vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        for (name, value) in headers {
            let value =
                HeaderValue::from_str(value).map_err(|e| format!("bad header {name}: {e}"))?;
            list.push((HeaderName::from_static(name), value));
        }
        Ok(Call {
            uri,
            headers: list,
            body: Bytes::from(body.to_string()),
        })
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }
}

/// One blocking `GET path` on a fresh connection, for readiness probes; the status, or `None`
/// if nothing answers.
pub fn probe_status(addr: SocketAddr, path: &str, timeout: Duration) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.set_nodelay(true).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut head = [0u8; 32];
    let mut got = 0;
    while got < 12 {
        let n = s.read(&mut head[got..]).ok()?;
        if n == 0 {
            break;
        }
        got += n;
    }
    parse_status_line(&head[..got])
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head).ok()?;
    let mut parts = text.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.get(..3)?.parse().ok()
}

/// Whether a stream frame carries generated text: a non-empty `"content"` (OpenAI, Ollama) or
/// `"text"` (Anthropic) string value. A role-only first chunk (`"content":""`) does not.
pub fn has_content(frame: &[u8]) -> bool {
    [&b"\"content\":\""[..], &b"\"text\":\""[..]]
        .iter()
        .any(|key| {
            let mut rest = frame;
            while let Some(i) = find(rest, key) {
                rest = &rest[i + key.len()..];
                if rest.first().is_some_and(|b| *b != b'"') {
                    return true;
                }
            }
            false
        })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.1 503 Service"), Some(503));
        assert_eq!(parse_status_line(b"garbage"), None);
        assert_eq!(parse_status_line(b""), None);
    }

    #[test]
    fn content_frames() {
        assert!(!has_content(
            br#"data: {"choices":[{"delta":{"role":"assistant","content":""}}]}"#
        ));
        assert!(has_content(
            br#"data: {"choices":[{"delta":{"content":"echo:"}}]}"#
        ));
        assert!(has_content(
            br#"data: {"type":"content_block_delta","delta":{"type":"text_delta","text":" hi"}}"#
        ));
        assert!(!has_content(
            br#"data: {"type":"content_block_start","content_block":{"type":"text","text":""}}"#
        ));
        assert!(has_content(
            br#"{"message":{"role":"assistant","content":"x"},"done":false}"#
        ));
        assert!(!has_content(b"data: [DONE]\n\n"));
    }
}
