//! The load generator's HTTP client: hyper-util's pooled keep-alive HTTP/1 client, and
//! requests prepared once and sent many times.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A cheap-to-clone pooled client (keep-alive, `TCP_NODELAY`).
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

// === impl HttpClient ===

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
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .build(connector);
        HttpClient { inner }
    }

    /// Sends `call` and reads the whole body.
    pub async fn send(&self, call: &Call) -> Result<Reply, String> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(call.uri.clone());
        for (name, value) in &call.headers {
            req = req.header(name, value);
        }
        let req = req
            .body(Full::new(call.body.clone()))
            .map_err(|e| format!("bad request: {e}"))?;
        let resp = self
            .inner
            .request(req)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
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
}

// === impl Call ===

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
}
