//! The benchmark's world: OpenAI, Anthropic and Ollama mocks on loopback and an in-process
//! gateway in front of the first two, plus the prepared calls that reach a mock directly or
//! through the gateway.

use crate::bodies::{self, ANTHROPIC_MODEL, OPENAI_MODEL};
use crate::http::Call;
use lmrelay::config::{parse_str, Format};
use lmrelay::Gateway;
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The key the mocks accept and the gateway sends upstream.
pub const UPSTREAM_KEY: &str = "bench-upstream-key";

/// Running mocks and gateway.
pub struct Env {
    pub openai: MockServer,
    pub anthropic: MockServer,
    pub ollama: MockServer,
    /// `http://127.0.0.1:PORT` of the gateway.
    pub gateway: String,
    /// Headers of every call through the gateway (the gateway key, when one is used).
    gateway_headers: Vec<(&'static str, String)>,
    opts: Options,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// The same exchange sent directly to a mock and through the gateway.
#[derive(Clone, Debug)]
pub struct Pair {
    pub direct: Call,
    pub gateway: Call,
}

/// The gateway key of `--limited-key` runs.
const GATEWAY_KEY: &str = "bench-gateway-key";

/// The gateway's config: one provider per mock, no routes (the providers' model lists
/// resolve the mocks' own model names), and no client auth unless `limited_key`: then one
/// gateway key with `rpm` and `tpm` limits too high to bite.
fn config_text(openai: &MockServer, anthropic: &MockServer, opts: &Options) -> String {
    let mut extra = String::new();
    if let Some(url) = &opts.redis {
        extra.push_str(&format!(
            "\n[store]\nbackend = \"redis\"\nurl = \"{url}\"\nprefix = \"{}\"\n",
            opts.redis_prefix()
        ));
    }
    if let Some(path) = &opts.audit {
        extra.push_str(&format!("\n[audit]\npath = \"{path}\"\n"));
    }
    if opts.cached {
        // A route named as the model, so the same requests hit it, with caching on.
        extra.push_str(&format!(
            "\n[[routes]]\nmodel = \"{OPENAI_MODEL}\"\ntargets = [\"oa/{OPENAI_MODEL}\"]\ncache = true\n"
        ));
    }
    let key = if opts.limited_key {
        format!(
            "\n[[keys]]\nname = \"bench\"\nkey = \"{GATEWAY_KEY}\"\nmodels = [\"*\"]\nrpm = 1000000000\ntpm = 1000000000000\n"
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"
listen = "127.0.0.1:0"
max_body = "4MiB"
drain_timeout = "2s"

[[providers]]
name = "oa"
type = "openai"
base_url = "{openai}"
keys = ["{UPSTREAM_KEY}"]
models = ["{OPENAI_MODEL}"]
timeout = "30s"

[[providers]]
name = "an"
type = "anthropic"
base_url = "{anthropic}"
keys = ["{UPSTREAM_KEY}"]
models = ["{ANTHROPIC_MODEL}"]
timeout = "30s"
"#,
        openai = openai.base_url(),
        anthropic = anthropic.base_url(),
    );
    text + key.as_str() + extra.as_str()
}

/// What the gateway under test has switched on.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A gateway key with `rpm` and `tpm` limits.
    pub limited_key: bool,
    /// The Redis state store at this URL (instead of the in-memory one).
    pub redis: Option<String>,
    /// The OpenAI model's requests go through a route that caches answers.
    pub cached: bool,
    /// Latency the OpenAI mock adds to every answer (a real upstream's think time).
    pub upstream_latency_ms: u64,
    /// The audit log's file, when it is on.
    pub audit: Option<String>,
}

impl Options {
    /// A prefix of this run's own in a shared Redis.
    fn redis_prefix(&self) -> String {
        format!("lmrelay-bench-{}:", std::process::id())
    }
}

// === impl Env ===

impl Env {
    /// Starts the mocks, then the gateway in front of them.
    pub async fn start(opts: Options) -> Result<Env, String> {
        let cfg = MockConfig {
            keys: vec![UPSTREAM_KEY.to_owned()],
            ..MockConfig::default()
        };
        let mock = |flavor| {
            let cfg = cfg.clone();
            async move {
                spawn(flavor, cfg)
                    .await
                    .map_err(|e| format!("cannot start the {flavor} mock: {e}"))
            }
        };
        let openai = mock(Flavor::OpenAi).await?;
        openai.faults().set_latency_ms(opts.upstream_latency_ms);
        let anthropic = mock(Flavor::Anthropic).await?;
        let ollama = mock(Flavor::Ollama).await?;
        let text = config_text(&openai, &anthropic, &opts);
        let config = parse_str(&text, Format::Toml, "bench.toml", &|_| None)
            .map_err(|e| format!("invalid gateway config: {e}"))?;
        let gateway = Gateway::bind(config)
            .await
            .map_err(|e| format!("cannot start the gateway: {e}"))?;
        let addr = gateway
            .local_addr()
            .map_err(|e| format!("gateway address: {e}"))?;
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            if let Err(e) = gateway.run(shutdown).await {
                eprintln!("gateway stopped with an error: {e}");
            }
        });
        Ok(Env {
            openai,
            anthropic,
            ollama,
            gateway: format!("http://{addr}"),
            gateway_headers: if opts.limited_key {
                vec![("authorization", format!("Bearer {GATEWAY_KEY}"))]
            } else {
                vec![]
            },
            stop: Some(stop),
            task: Some(task),
            opts,
        })
    }

    /// Forgets the requests the mocks recorded (they keep every one).
    pub fn clear_recorded(&self) {
        self.openai.clear_requests();
        self.anthropic.clear_requests();
        self.ollama.clear_requests();
    }

    /// An OpenAI chat: to the OpenAI mock, and through the gateway to it.
    pub fn openai_to_openai(&self, text: &str, stream: bool) -> Result<Pair, String> {
        let body = bodies::openai_chat(OPENAI_MODEL, text, stream, false);
        let auth = format!("Bearer {UPSTREAM_KEY}");
        Ok(Pair {
            direct: Call::new(
                &self.openai.root_url(),
                "/v1/chat/completions",
                &[("authorization", &auth)],
                &body,
            )?,
            gateway: Call::new(
                &self.gateway,
                "/v1/chat/completions",
                &self.headers(),
                &body,
            )?,
        })
    }

    /// An OpenAI client's chat served by the Anthropic mock; the direct baseline is the
    /// equivalent Anthropic request to the mock.
    pub fn openai_to_anthropic(&self, text: &str, stream: bool) -> Result<Pair, String> {
        let native = bodies::anthropic_messages(ANTHROPIC_MODEL, text, stream, false);
        let client = bodies::openai_chat(ANTHROPIC_MODEL, text, stream, false);
        Ok(Pair {
            direct: Call::new(
                &self.anthropic.root_url(),
                "/v1/messages",
                &[
                    ("x-api-key", UPSTREAM_KEY),
                    ("anthropic-version", "2023-06-01"),
                ],
                &native,
            )?,
            gateway: Call::new(
                &self.gateway,
                "/v1/chat/completions",
                &self.headers(),
                &client,
            )?,
        })
    }

    fn headers(&self) -> Vec<(&'static str, &str)> {
        self.gateway_headers
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect()
    }

    /// Stops the gateway (bounded by its drain timeout) and the mocks.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        self.openai.shutdown().await;
        self.anthropic.shutdown().await;
        self.ollama.shutdown().await;
        if let Some(url) = &self.opts.redis {
            clean_redis(url, &self.opts.redis_prefix()).await;
        }
    }
}

/// Deletes what a run left in a shared Redis (its own prefix only).
async fn clean_redis(url: &str, prefix: &str) {
    use lmrelay::store::{RedisStore, StateStore};
    let Ok(store) = RedisStore::connect(url, prefix, Duration::from_secs(2)).await else {
        return;
    };
    for (k, _) in store.scan("").await.unwrap_or_default() {
        let _ = store.delete(&k).await;
    }
    for (k, _) in store.scan_counters("").await.unwrap_or_default() {
        let _ = store.delete(&k).await;
    }
}
