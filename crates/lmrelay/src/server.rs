//! The gateway's routes and lifecycle: the route table, the request-id and panic layers,
//! binding, the background tasks, and shutdown (the accept loop is [`crate::edge`]).

use crate::config::Config;
use crate::edge::tls::{ServedCert, TlsError};
use crate::handlers::{anthropic, ollama, openai, service};
use crate::health::{checker, HealthStore};
use crate::live::Live;
use crate::relay::PROVIDER_HEADER;
use crate::runtime::{Runtime, RuntimeError};
use crate::store::StoreError;
use arc_swap::ArcSwap;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use http::HeaderValue;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Shared state of the handlers, behind one `Arc` (the router clones it for every
/// request): the current runtime, swapped atomically on reload, and the live state that
/// outlives every runtime.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub struct SharedState {
    pub runtime: Arc<ArcSwap<Runtime>>,
    pub live: Arc<Live>,
    /// The certificate served when `[server.tls]` is set; reloads read it again.
    pub tls: Option<Arc<ServedCert>>,
}

/// The request id of an exchange (from the client's `x-request-id`, or generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Live(#[from] crate::live::LiveError),
    #[error("cannot read the state store: {0}")]
    Store(StoreError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A gateway bound to its address, ready to serve.
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
    drain: std::time::Duration,
}

// === impl Gateway ===

impl Gateway {
    /// Builds the runtime and binds `config.listen`.
    pub async fn bind(config: Config) -> Result<Gateway, ServeError> {
        let addr = config.listen;
        let drain = config.drain_timeout;
        let tls = config
            .tls
            .as_ref()
            .map(ServedCert::load)
            .transpose()?
            .map(Arc::new);
        let live = Live::open(&config).await?;
        let runtime = Runtime::build(config, &live)?;
        crate::admin::load_upstream_keys(&runtime)
            .await
            .map_err(ServeError::Store)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Gateway {
            listener,
            state: AppState(Arc::new(SharedState {
                runtime: Arc::new(ArcSwap::from_pointee(runtime)),
                live,
                tls,
            })),
            drain,
        })
    }

    /// The live health this gateway records (for tests and embedding programs).
    pub fn health(&self) -> Arc<dyn HealthStore> {
        self.state.live.health.clone()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish for at most
    /// the drain timeout.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let checks = checker::spawn(self.state.runtime.clone());
        #[cfg(unix)]
        let hup = crate::reload::on_sighup(self.state.clone());
        let watch = crate::reload::on_file_change(self.state.clone());
        let live = self.state.live.clone();
        let flusher = crate::usage::spawn_flusher(live.usage.clone(), live.store.clone());
        let refresher = spawn_key_refresher(&self.state);
        let limits = self.state.runtime.load().config.server;
        let acceptor = self.state.tls.as_ref().map(ServedCert::acceptor);
        let app = router(self.state);
        let server = tokio::spawn(crate::edge::serve(
            self.listener,
            app,
            limits,
            acceptor,
            rx,
            self.drain,
        ));
        shutdown.await;
        tracing::info!(
            drain_secs = self.drain.as_secs(),
            "shutting down; draining in-flight requests"
        );
        let _ = tx.send(true);
        live.closing.send_replace(true);
        checks.abort();
        #[cfg(unix)]
        hup.abort();
        if let Some(w) = watch {
            w.abort();
        }
        // The edge drains open connections for at most the drain timeout itself.
        let served = server
            .await
            .map_err(|join| ServeError::Io(std::io::Error::other(join)));
        // The last usage totals, from the requests that just finished.
        flusher.abort();
        if let Some(r) = refresher {
            r.abort();
        }
        live.usage.flush(&*live.store).await;
        if let Some(audit) = &live.audit {
            audit.close();
        }
        if live.telemetry.is_some() {
            // Exports what is queued; the SDK blocks on its exporter thread meanwhile.
            let l = live.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(t) = &l.telemetry {
                    t.shutdown();
                }
            })
            .await;
        }
        served
    }
}

/// With a shared store, reads the upstream key marks other replicas make and merges open
/// breakers (every 500 ms), and reads the gateway keys they create, disable or delete (every
/// [`KEY_REFRESH`]). (In memory, this
/// process is the only writer.)
fn spawn_key_refresher(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let shared = matches!(
        state.runtime.load().config.store,
        crate::config::StoreBackend::Redis { .. }
    );
    if !shared {
        return None;
    }
    let runtime = state.runtime.clone();
    Some(tokio::spawn(async move {
        let mut ticks = 0u32;
        loop {
            tokio::time::sleep(crate::upstream_keys::shared::SYNC_EVERY).await;
            let rt = runtime.load_full();
            crate::upstream_keys::shared::apply(&rt).await;
            crate::health::shared::sync(&rt).await;
            ticks += 1;
            let every = (KEY_REFRESH.as_millis()
                / crate::upstream_keys::shared::SYNC_EVERY.as_millis())
            .max(1) as u32;
            if ticks.is_multiple_of(every) {
                if let Err(e) = rt.live.gateway_keys.load(&*rt.live.store).await {
                    tracing::debug!(error = %e, "gateway keys not refreshed from the store");
                }
            }
        }
    }))
}

/// How often replicas re-read the gateway keys from a shared store.
pub const KEY_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the gateway for `lmrelay serve` until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let gateway = Gateway::bind(config).await?;
    let addr = gateway.local_addr()?;
    tracing::info!(%addr, "lmrelay listening");
    gateway.run(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The route table.
pub fn router(state: AppState) -> Router {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(
        state.runtime.load().config.server.max_in_flight,
    ));
    let anthropic_routes = Router::new()
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/models", get(anthropic::list_models))
        .route("/v1/models/{*id}", get(anthropic::get_model));
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/responses", post(openai::responses))
        .route(
            "/v1/responses/{id}",
            get(openai::get_response).delete(openai::delete_response),
        )
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{*id}", get(openai::get_model))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .nest("/anthropic", anthropic_routes)
        .route("/api/chat", post(ollama::chat_handler))
        .route("/api/generate", post(ollama::generate))
        .route("/api/embed", post(ollama::embed))
        .route("/api/embeddings", post(ollama::embeddings))
        .route("/api/tags", get(ollama::tags))
        .route("/api/show", post(ollama::show))
        .route("/api/ps", get(ollama::ps))
        .route("/api/version", get(ollama::version))
        .route("/api/pull", any(ollama::not_managed))
        .route("/api/push", any(ollama::not_managed))
        .route("/api/create", any(ollama::not_managed))
        .route("/api/copy", any(ollama::not_managed))
        .route("/api/delete", any(ollama::not_managed))
        .route("/api/blobs/{digest}", any(ollama::not_managed))
        .route("/", get(ollama::root))
        .merge(crate::admin::router(state.clone()))
        .merge(crate::dashboard::router())
        .route("/healthz", get(service::healthz))
        .route("/readyz", get(service::readyz))
        .route("/metrics", get(service::metrics))
        .fallback(service::not_found)
        .method_not_allowed_fallback(service::method_not_allowed)
        .layer(middleware::from_fn_with_state(in_flight, edge))
        .with_state(state)
}

/// What every exchange goes through, in one layer: a request id (the client's
/// `x-request-id`, or a new one) on the request and its response, `x-lmrelay-provider`
/// (`lmrelay` when the gateway answered itself), the `max_in_flight` limit, and a last line
/// of defence against a handler that panics: a 500 in the client's protocol shape (never a
/// dropped connection or a Rust message), logged.
async fn edge(
    axum::extract::State(permits): axum::extract::State<Arc<tokio::sync::Semaphore>>,
    mut req: Request,
    next: Next,
) -> Response {
    use futures_util::FutureExt;
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| lmrelay_protocol::tools::random_id("req_", 24));
    let header = HeaderValue::from_str(&id).ok();
    req.extensions_mut().insert(RequestId(id));
    let uri = req.uri().clone();
    let mut resp = match crate::edge::overload::admit_in_flight(&permits, uri.path()) {
        Err(refused) => refused,
        Ok(permit) => {
            let resp = match std::panic::AssertUnwindSafe(next.run(req))
                .catch_unwind()
                .await
            {
                Ok(resp) => resp,
                Err(_) => {
                    tracing::error!(path = uri.path(), "a request handler panicked");
                    let err = lmrelay_ir::ApiError::new(
                        lmrelay_ir::ErrorKind::Server,
                        "lmrelay hit an internal error while serving this request; it has been logged.",
                    );
                    crate::error::render(service::protocol_for_path(uri.path()), &err)
                }
            };
            match permit {
                Some(p) => crate::edge::overload::hold(resp, p),
                None => resp,
            }
        }
    };
    let h = resp.headers_mut();
    if let Some(v) = header {
        h.insert("x-request-id", v);
    }
    if !h.contains_key(PROVIDER_HEADER) {
        h.insert(PROVIDER_HEADER, HeaderValue::from_static("lmrelay"));
    }
    resp
}
