//! Server lifecycle (spawn, shutdown), the router, request recording, the
//! `/mock/*` control endpoints and state shared by the flavor handlers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::faults::{FailNext, Faults};
use crate::{
    anthropic, azure, bedrock, cohere, gemini, ollama, openai, Flavor, MockConfig, RecordedRequest,
};

/// Largest request body accepted (Anthropic's documented limit is 32 MB).
const BODY_LIMIT: usize = 64 << 20;

/// State shared by all handlers of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub flavor: Flavor,
    pub keys: Vec<String>,
    pub models: Vec<String>,
    pub cache_read_tokens: u64,
    pub faults: Faults,
    log: Mutex<Vec<RecordedRequest>>,
    /// Whether API requests are recorded (on unless a load test turns it off).
    recording: AtomicBool,
}

/// Outcome of an API key check.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    Ok,
    Missing,
    Wrong,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `model` is served (`*` accepts anything; Ollama names default to `:latest`).
    pub fn knows_model(&self, model: &str) -> bool {
        let norm = |m: &str| {
            if self.flavor == Flavor::Ollama && !m.contains(':') {
                format!("{m}:latest")
            } else {
                m.to_string()
            }
        };
        let want = norm(model);
        self.models.iter().any(|m| m == "*" || norm(m) == want)
    }

    /// Listed models (without the `*` wildcard).
    pub fn listed_models(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(String::as_str).filter(|m| *m != "*")
    }

    /// Checks a presented key against the configured ones.
    pub fn check_key(&self, key: Option<&str>) -> KeyCheck {
        match key.map(str::trim) {
            None | Some("") => KeyCheck::Missing,
            Some(k) if self.keys.is_empty() || self.keys.iter().any(|x| x == k) => KeyCheck::Ok,
            Some(_) => KeyCheck::Wrong,
        }
    }

    /// Applies `latency_ms`, then takes a scripted failure if one is pending.
    /// Called once per model request.
    pub async fn gate(&self) -> Option<FailNext> {
        let latency = self.faults.get().latency_ms;
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        self.faults.take_failure()
    }

    /// Applies `stall_ms` (before the head of a streamed response).
    pub async fn stall(&self) {
        let stall = self.faults.get().stall_ms;
        if stall > 0 {
            tokio::time::sleep(Duration::from_millis(stall)).await;
        }
    }
}

/// A running mock server; dropping it stops accepting connections.
#[derive(Debug)]
pub struct MockServer {
    flavor: Flavor,
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The flavor served.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// `http://HOST:PORT`.
    pub fn root_url(&self) -> String {
        let ip = match self.addr.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The provider SDK base URL: `…/v1` for OpenAI, the root for Anthropic, Ollama,
    /// Gemini, Azure (the resource endpoint), Cohere and Bedrock.
    pub fn base_url(&self) -> String {
        match self.flavor {
            Flavor::OpenAi => format!("{}/v1", self.root_url()),
            Flavor::Anthropic
            | Flavor::Ollama
            | Flavor::Gemini
            | Flavor::Azure
            | Flavor::Cohere
            | Flavor::Bedrock => self.root_url(),
        }
    }

    /// The fault knobs (shared with the control endpoint).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// All recorded requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log().clone()
    }

    /// The most recent recorded request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.log().last().cloned()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.shared.log().clear();
    }

    /// Turns request recording on (the default) or off. A load test that sends millions of
    /// requests turns it off, so the mock neither keeps them all nor parses each body twice.
    pub fn set_recording(&self, on: bool) {
        self.shared.recording.store(on, Ordering::Relaxed);
    }

    /// Stops accepting, lets in-flight requests finish for up to a second, then aborts.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds `config.listen` (default `127.0.0.1:0`) and serves `flavor` in a tokio task.
pub async fn spawn(flavor: Flavor, config: MockConfig) -> std::io::Result<MockServer> {
    let listen = config
        .listen
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let models = if config.models.is_empty() {
        flavor.default_models()
    } else {
        config.models
    };
    let shared = Arc::new(Shared {
        flavor,
        keys: config.keys,
        models,
        cache_read_tokens: config.cache_read_tokens,
        faults: Faults::default(),
        log: Mutex::new(Vec::new()),
        recording: AtomicBool::new(true),
    });
    let app = router(shared.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // Like real providers, stream each event without waiting on Nagle's algorithm.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "mock server stopped");
        }
    });
    tracing::debug!(%addr, flavor = flavor.name(), "mock server listening");
    Ok(MockServer {
        flavor,
        addr,
        shared,
        shutdown: Some(tx),
        task: Some(task),
    })
}

fn router(shared: Arc<Shared>) -> Router {
    let api = match shared.flavor {
        Flavor::OpenAi => openai::router(shared.clone()),
        Flavor::Anthropic => anthropic::router(shared.clone()),
        Flavor::Ollama => ollama::router(shared.clone()),
        Flavor::Gemini => gemini::router(shared.clone()),
        Flavor::Azure => azure::router(shared.clone()),
        Flavor::Cohere => cohere::router(shared.clone()),
        Flavor::Bedrock => bedrock::router(shared.clone()),
    };
    let control = Router::new()
        .route("/mock/faults", get(get_faults).post(post_faults))
        .route("/mock/reset", post(reset))
        .route("/mock/requests", get(list_requests).delete(clear_requests));
    api.layer(middleware::from_fn_with_state(shared.clone(), record))
        .merge(control)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

/// Records every API request (method, path, query, headers, body) before handling it, unless
/// recording is off.
async fn record(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if !s.recording.load(Ordering::Relaxed) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let body_value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let rec = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(String::from),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body_value,
    };
    s.log().push(rec);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn get_faults(State(s): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &json!(s.faults.get()))
}

async fn post_faults(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let patch: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()}))
            }
        }
    };
    match s.faults.merge_json(&patch) {
        Ok(settings) => json_response(StatusCode::OK, &json!(settings)),
        Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e})),
    }
}

async fn reset(State(s): State<Arc<Shared>>) -> Response {
    s.faults.reset();
    s.log().clear();
    json_response(StatusCode::OK, &json!({"ok": true}))
}

async fn list_requests(State(s): State<Arc<Shared>>) -> Response {
    let log = s.log().clone();
    json_response(StatusCode::OK, &json!(log))
}

async fn clear_requests(State(s): State<Arc<Shared>>) -> Response {
    s.log().clear();
    json_response(StatusCode::OK, &json!({"ok": true}))
}

/// A JSON response with `content-type: application/json`.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut resp = Response::new(Body::from(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Parses a JSON request body; `Err` holds a parser message.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Err("empty request body".into());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// Sets header `name` to `value` unless already present or the value is invalid.
pub(crate) fn set_default_header(resp: &mut Response, name: &'static str, value: &str) {
    if !resp.headers().contains_key(name) {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(name, v);
        }
    }
}

/// Sets header `name` to `value` (ignored if the value is invalid).
pub(crate) fn set_header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}
