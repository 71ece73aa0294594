//! `lmrelay-mock`: run fake OpenAI / Anthropic / Ollama / Gemini / Azure / Cohere /
//! Bedrock upstreams out of process.
//!
//! Prints one line per server (`openai http://127.0.0.1:PORT/v1`,
//! `anthropic http://127.0.0.1:PORT`, `ollama http://127.0.0.1:PORT`,
//! `gemini http://127.0.0.1:PORT`, `azure http://127.0.0.1:PORT`,
//! `cohere http://127.0.0.1:PORT`, `bedrock http://127.0.0.1:PORT`) and runs until SIGINT
//! or SIGTERM. Without any
//! flavor flag it serves OpenAI, Anthropic and Ollama.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use lmrelay_mock::{spawn, FailNext, FaultSettings, Flavor, MockConfig, MockServer};

/// Faithful fake LLM upstreams with fault knobs.
#[derive(Debug, Parser)]
#[command(name = "lmrelay-mock", version, about)]
struct Cli {
    /// Serve the OpenAI flavor on ADDR (e.g. 127.0.0.1:0).
    #[arg(long, value_name = "ADDR")]
    openai: Option<SocketAddr>,
    /// Serve the Anthropic flavor on ADDR.
    #[arg(long, value_name = "ADDR")]
    anthropic: Option<SocketAddr>,
    /// Serve the Ollama flavor on ADDR.
    #[arg(long, value_name = "ADDR")]
    ollama: Option<SocketAddr>,
    /// Serve the Gemini flavor on ADDR.
    #[arg(long, value_name = "ADDR")]
    gemini: Option<SocketAddr>,
    /// Serve the Azure OpenAI flavor on ADDR.
    #[arg(long, value_name = "ADDR")]
    azure: Option<SocketAddr>,
    /// Serve the Cohere flavor on ADDR.
    #[arg(long, value_name = "ADDR")]
    cohere: Option<SocketAddr>,
    /// Serve the Bedrock flavor on ADDR (keys are `ACCESS_KEY_ID:SECRET`).
    #[arg(long, value_name = "ADDR")]
    bedrock: Option<SocketAddr>,
    /// Accepted API key (repeatable; none = accept any non-empty key).
    #[arg(long = "key", value_name = "KEY")]
    keys: Vec<String>,
    /// Served model (repeatable, applies to every server; `*` = any; none = flavor defaults).
    #[arg(long = "model", value_name = "NAME")]
    models: Vec<String>,
    /// Cached input tokens reported in usage.
    #[arg(long, default_value_t = 0)]
    cache_read_tokens: u64,
    /// Fail the next requests with this HTTP status.
    #[arg(long, value_name = "STATUS")]
    fail_status: Option<u16>,
    /// How many requests fail (with --fail-status).
    #[arg(long, default_value_t = 1)]
    fail_count: u32,
    /// `retry-after` seconds on scripted failures.
    #[arg(long, value_name = "SECS")]
    retry_after: Option<u64>,
    /// Provider error type for scripted failures (e.g. insufficient_quota).
    #[arg(long, value_name = "TYPE")]
    fail_error_type: Option<String>,
    /// Delay before every model response.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay before the head of streamed responses.
    #[arg(long, default_value_t = 0)]
    stall_ms: u64,
    /// Delay between streamed events.
    #[arg(long, default_value_t = 0)]
    event_delay_ms: u64,
    /// Abort streamed responses after N events.
    #[arg(long, value_name = "N")]
    drop_after_events: Option<usize>,
    /// Send an in-stream error after N events.
    #[arg(long, value_name = "N")]
    stream_error_after: Option<usize>,
    /// Do not record requests (`GET /mock/requests` stays empty): for load tests, which would
    /// otherwise grow the log without bound and pay for parsing every body twice.
    #[arg(long)]
    no_record: bool,
}

impl Cli {
    fn faults(&self) -> FaultSettings {
        FaultSettings {
            fail_next: self.fail_status.map(|status| FailNext {
                status,
                count: self.fail_count,
                retry_after: self.retry_after,
                error_type: self.fail_error_type.clone(),
            }),
            latency_ms: self.latency_ms,
            stall_ms: self.stall_ms,
            event_delay_ms: self.event_delay_ms,
            drop_after_events: self.drop_after_events,
            stream_error_after: self.stream_error_after,
            ..FaultSettings::default()
        }
    }

    fn servers(&self) -> Vec<(Flavor, SocketAddr)> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let chosen: Vec<(Flavor, SocketAddr)> = [
            (Flavor::OpenAi, self.openai),
            (Flavor::Anthropic, self.anthropic),
            (Flavor::Ollama, self.ollama),
            (Flavor::Gemini, self.gemini),
            (Flavor::Azure, self.azure),
            (Flavor::Cohere, self.cohere),
            (Flavor::Bedrock, self.bedrock),
        ]
        .into_iter()
        .filter_map(|(f, a)| a.map(|a| (f, a)))
        .collect();
        if chosen.is_empty() {
            vec![
                (Flavor::OpenAi, any),
                (Flavor::Anthropic, any),
                (Flavor::Ollama, any),
            ]
        } else {
            chosen
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let faults = cli.faults();
    let mut servers: Vec<MockServer> = Vec::new();
    let mut out = std::io::stdout().lock();
    for (flavor, addr) in cli.servers() {
        let config = MockConfig {
            listen: Some(addr),
            keys: cli.keys.clone(),
            models: cli.models.clone(),
            cache_read_tokens: cli.cache_read_tokens,
        };
        match spawn(flavor, config).await {
            Ok(server) => {
                server.faults().set(faults.clone());
                server.set_recording(!cli.no_record);
                let _ = writeln!(out, "{} {}", flavor.name(), server.base_url());
                servers.push(server);
            }
            Err(e) => {
                eprintln!("lmrelay-mock: cannot bind {flavor} on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let _ = out.flush();
    drop(out);
    wait_for_signal().await;
    for server in servers {
        server.shutdown().await;
    }
    ExitCode::SUCCESS
}
