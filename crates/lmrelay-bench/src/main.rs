//! `lmrelay-bench`: starts the mocks and an in-process gateway, runs the latency, stream CPU
//! and translation measurements, and prints markdown tables. See `docs/benchmarks.md`.

use clap::{Parser, ValueEnum};
use lmrelay_bench::env::{Env, Options};
use lmrelay_bench::http::HttpClient;
use lmrelay_bench::report::{self, LatencyRow};
use lmrelay_bench::translate::{self, Case, Format};
use lmrelay_bench::{bodies, capture, load, stream_cpu};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug, Clone)]
#[command(about = "Measures what lmrelay adds over calling lmrelay-mock directly.")]
struct Args {
    /// Requests per second of the open-loop latency runs.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Measured requests per latency run.
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Discarded requests before each latency run.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// Words of the latency runs' prompt (a streamed answer has about this many chunks).
    #[arg(long, default_value_t = 20)]
    prompt_words: usize,
    /// Words of the long streams (stream CPU and translation).
    #[arg(long, default_value_t = 1000)]
    stream_words: usize,
    /// Long streams per side in the end-to-end stream CPU runs.
    #[arg(long, default_value_t = 100)]
    cpu_streams: usize,
    /// Milliseconds per translation sample.
    #[arg(long, default_value_t = 300)]
    sample_ms: u64,
    /// Translation samples per case.
    #[arg(long, default_value_t = 5)]
    samples: usize,
    /// Which measurements to run (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "latency,stream-cpu,translate"
    )]
    only: Vec<Phase>,
    /// Which latency scenarios to run (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "non-streamed,streamed,translated"
    )]
    scenarios: Vec<Scenario>,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Send a gateway key that has `rpm` and `tpm` limits (set too high to bite), so the
    /// runs include authentication and limit accounting.
    #[arg(long)]
    limited_key: bool,
    /// Keep the gateway's live state in the Redis at this URL (e.g. redis://127.0.0.1:6379/0).
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Route the OpenAI model through a route with `cache = true`: after the first request
    /// every gateway request is a cache hit.
    #[arg(long)]
    cached: bool,
    /// Latency the OpenAI mock adds to each answer, as a real upstream's think time.
    #[arg(long, default_value_t = 0)]
    upstream_latency_ms: u64,
    /// Write the audit log to this file during the runs.
    #[arg(long, value_name = "PATH")]
    audit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    Latency,
    StreamCpu,
    Translate,
}

/// A latency scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// OpenAI → OpenAI, non-streamed.
    NonStreamed,
    /// OpenAI → OpenAI, streamed.
    Streamed,
    /// OpenAI client → Anthropic upstream, streamed.
    Translated,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.rate <= 0.0 || !args.rate.is_finite() {
        eprintln!("--rate must be a positive number");
        return ExitCode::FAILURE;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = args.workers {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder.build().expect("cannot build the tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; numbers are meaningless (use scripts/bench)");
    }
    println!("# lmrelay benchmark\n");
    println!(
        "cores: {cores}, tokio workers: {}, rate: {}/s, requests: {} (+{} warm-up), prompt: {} words, long streams: {} words\n",
        args.workers.unwrap_or(cores),
        args.rate,
        args.requests,
        args.warmup,
        args.prompt_words,
        args.stream_words
    );
    let env = Env::start(Options {
        limited_key: args.limited_key,
        redis: args.redis.clone(),
        cached: args.cached,
        upstream_latency_ms: args.upstream_latency_ms,
        audit: args.audit.clone(),
    })
    .await?;
    let client = HttpClient::new();
    if args.only.contains(&Phase::Latency) {
        latency(&env, &client, &args).await?;
    }
    if args.only.contains(&Phase::StreamCpu) {
        stream_cpu(&env, &client, &args).await?;
    }
    if args.only.contains(&Phase::Translate) {
        translation(&env, &client, &args).await?;
    }
    env.stop().await;
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn latency(env: &Env, client: &HttpClient, args: &Args) -> Result<(), String> {
    let text = bodies::prompt(args.prompt_words);
    let scenarios = [
        (
            Scenario::NonStreamed,
            "OpenAI → OpenAI, non-streamed",
            env.openai_to_openai(&text, false)?,
        ),
        (
            Scenario::Streamed,
            "OpenAI → OpenAI, streamed (last byte)",
            env.openai_to_openai(&text, true)?,
        ),
        (
            Scenario::Translated,
            "OpenAI client → Anthropic upstream, streamed (last byte)",
            env.openai_to_anthropic(&text, true)?,
        ),
    ];
    let mut rows = Vec::new();
    for (scenario, name, pair) in scenarios {
        if !args.scenarios.contains(&scenario) {
            continue;
        }
        // Fail fast (with the answer) if either path is broken.
        client.send_ok(&pair.direct).await?;
        client.send_ok(&pair.gateway).await?;
        let mut runs = Vec::new();
        for (path, call) in [("direct", &pair.direct), ("gateway", &pair.gateway)] {
            eprintln!("latency: {name}, {path} …");
            runs.push(load::measure(client, call, args.warmup, args.requests, args.rate).await);
            env.clear_recorded();
        }
        let gateway = runs.pop().ok_or("missing gateway run")?;
        let direct = runs.pop().ok_or("missing direct run")?;
        rows.push(LatencyRow {
            scenario: name.to_owned(),
            direct,
            gateway,
        });
    }
    println!("## Latency at {}/s, open loop\n", args.rate);
    println!("{}", report::latency_table(&rows));
    if args.scenarios.contains(&Scenario::NonStreamed) {
        if let Some(first) = rows.first() {
            println!("{}\n", report::latency_verdict(first));
        }
    }
    Ok(())
}

async fn stream_cpu(env: &Env, client: &HttpClient, args: &Args) -> Result<(), String> {
    let text = bodies::prompt(args.stream_words);
    let exchanges = [
        ("OpenAI → OpenAI", env.openai_to_openai(&text, true)?),
        (
            "OpenAI client → Anthropic upstream",
            env.openai_to_anthropic(&text, true)?,
        ),
    ];
    let mut rows = Vec::new();
    for (name, pair) in exchanges {
        eprintln!("stream CPU: {name} …");
        let c = stream_cpu::measure(client, &pair, args.cpu_streams, false).await?;
        env.clear_recorded();
        rows.push((name.to_owned(), c));
    }
    println!("## Process CPU per streamed chunk, end to end (upper bound)\n");
    println!("{}", report::stream_cpu_table(&rows));
    Ok(())
}

async fn translation(env: &Env, client: &HttpClient, args: &Args) -> Result<(), String> {
    let cases = [
        (Format::Anthropic, Format::OpenAi),
        (Format::OpenAi, Format::Anthropic),
        (Format::OpenAi, Format::Ollama),
        (Format::Ollama, Format::OpenAi),
        (Format::OpenAi, Format::OpenAi),
    ];
    let mut rows = Vec::new();
    for (upstream, client_format) in cases {
        let case = Case {
            upstream,
            client: client_format,
        };
        let streams = capture::streams(env, client, upstream, args.stream_words).await?;
        eprintln!("translate: {} …", case.label());
        let sample = Duration::from_millis(args.sample_ms);
        let samples = args.samples;
        let timing = tokio::task::spawn_blocking(move || {
            translate::measure(case, &streams, sample, samples)
        })
        .await
        .map_err(|e| format!("translation task failed: {e}"))??;
        rows.push(timing);
    }
    println!("## Translation CPU per upstream chunk (decode + encode, no network)\n");
    println!("{}", report::translate_table(&rows));
    let worst = rows.iter().map(|t| t.ns_per_chunk).fold(0.0, f64::max);
    println!(
        "Worst case: {:.2} µs per chunk (target < {:.0} µs): {}\n",
        worst / 1000.0,
        report::CHUNK_CPU_TARGET_US,
        if worst < report::CHUNK_CPU_TARGET_US * 1000.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}
