//! The `lmrelay` command line: serve, check, models, hash-key, run, init, healthcheck.

use clap::{Parser, Subcommand};
use lmrelay::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc: the request path allocates many small, short-lived buffers, which it serves
/// with about 10% less CPU a request than glibc's allocator at about the same resident
/// memory (mimalloc was as fast but held 45% more memory a stream; docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The version and the commit it was built from (`build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LMRELAY_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "lmrelay",
    version = VERSION,
    about = "One endpoint for OpenAI, Anthropic and Ollama clients, served by any upstream provider."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Config file (else $LMRELAY_CONFIG, else ./lmrelay.toml, else the built-in default).
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Validate a config and print the resolved providers, models and routes.
    Check {
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Print the public model table: model -> ordered targets.
    Models {
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Print the sha256: form of a gateway key, for the config file.
    HashKey {
        /// The key to hash; read from standard input when left out (keeps it out of the
        /// shell history and the process list).
        key: Option<String>,
    },
    /// Start a client tool (claude, codex, aider, …) pointed at the running gateway.
    ///
    /// Sets OPENAI_BASE_URL, ANTHROPIC_BASE_URL and OLLAMA_HOST to the gateway's address, and
    /// the tools' key variables to $LMRELAY_API_KEY (a gateway key) or a placeholder; Codex
    /// CLI also gets an `lmrelay` model provider (`-c` overrides, Responses API).
    Run {
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// The tool and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        tool: Vec<String>,
    },
    /// Write a commented starter config from the providers found in the environment (keys
    /// as `${VAR}` references, never their values).
    Init {
        /// Where to write it; `-` prints it.
        #[arg(short, long, default_value = "lmrelay.toml")]
        output: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Exit 0 when the gateway answers `/healthz` with 200, else 1 (for container health
    /// checks, which may have no shell or curl).
    Healthcheck {
        /// The config whose `listen` (and `[server.tls]`) to ask, found as `serve` finds it.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// The URL to ask instead.
        #[arg(long)]
        url: Option<String>,
        /// Accept any certificate (a self-signed one; implied when the URL comes from the
        /// config, since the gateway is asked on loopback).
        #[arg(long)]
        insecure: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Check { config } => match load(config) {
            Some(c) => {
                let unusable = lmrelay::runtime::unusable_files(&c);
                for e in &unusable {
                    eprintln!("{e}");
                }
                if !unusable.is_empty() {
                    eprintln!(
                        "{} file(s) named in the config cannot be used",
                        unusable.len()
                    );
                    return ExitCode::FAILURE;
                }
                print_check(&c);
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        },
        Command::Models { config } => match load(config) {
            Some(c) => {
                print_models(&c);
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        },
        Command::Init { output, force } => init(&output, force),
        Command::Healthcheck {
            config,
            url,
            insecure,
        } => healthcheck(config, url, insecure),
        Command::HashKey { key } => {
            let key = match key {
                Some(k) => k,
                None => {
                    let mut line = String::new();
                    if std::io::stdin().read_line(&mut line).is_err() {
                        eprintln!("cannot read the key from standard input");
                        return ExitCode::FAILURE;
                    }
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            if key.is_empty() {
                eprintln!("the key is empty");
                return ExitCode::FAILURE;
            }
            println!("sha256:{}", lmrelay::auth::hash_key(&key));
            ExitCode::SUCCESS
        }
        Command::Run { config, tool } => match load(config) {
            Some(c) => run_tool(&c, &tool),
            None => ExitCode::FAILURE,
        },
    }
}

fn run_tool(c: &Config, tool: &[String]) -> ExitCode {
    let Some((program, args)) = tool.split_first() else {
        eprintln!("name a tool to run");
        return ExitCode::FAILURE;
    };
    let host = if c.listen.ip().is_unspecified() {
        format!("127.0.0.1:{}", c.listen.port())
    } else {
        c.listen.to_string()
    };
    let base = format!("http://{host}");
    let key = std::env::var("LMRELAY_API_KEY").unwrap_or_else(|_| "lmrelay".to_owned());
    let mut cmd = std::process::Command::new(program);
    cmd.args(tool_config(program, &base))
        .args(args)
        .env("LMRELAY_API_KEY", &key)
        .env("OPENAI_BASE_URL", format!("{base}/v1"))
        .env("OPENAI_API_BASE", format!("{base}/v1"))
        .env("ANTHROPIC_BASE_URL", &base)
        .env("OLLAMA_HOST", &base)
        .env("OPENAI_API_KEY", &key)
        .env("ANTHROPIC_API_KEY", &key);
    match cmd.status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("cannot start `{program}`: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Arguments that point a tool at the gateway where its environment cannot: Codex CLI takes
/// its providers from config, so it gets an `lmrelay` provider speaking the Responses API
/// with the key from `LMRELAY_API_KEY`.
fn tool_config(program: &str, base: &str) -> Vec<String> {
    let name = std::path::Path::new(program)
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    match name {
        "codex" => vec![
            "-c".to_owned(),
            format!(
                "model_providers.lmrelay={{name=\"lmrelay\",base_url=\"{base}/v1\",\
                 env_key=\"LMRELAY_API_KEY\",wire_api=\"responses\"}}"
            ),
            "-c".to_owned(),
            "model_provider=\"lmrelay\"".to_owned(),
        ],
        _ => Vec::new(),
    }
}

fn init(output: &std::path::Path, force: bool) -> ExitCode {
    let text = lmrelay::config::starter_config(&|k| {
        std::env::var(k).ok().filter(|v| !v.trim().is_empty())
    });
    if output == std::path::Path::new("-") {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    if output.exists() && !force {
        eprintln!(
            "{} exists; pass --force to replace it, or -o another path",
            output.display()
        );
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(output, text) {
        eprintln!("cannot write {}: {e}", output.display());
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {}; check it with `lmrelay check -c {0}`",
        output.display()
    );
    ExitCode::SUCCESS
}

/// The gateway's `/healthz` on loopback, from the config `serve` would read: its `listen`
/// port (an unspecified address asked on loopback) and `https` with `[server.tls]`.
fn health_url(config: Option<PathBuf>) -> Option<String> {
    let c = Config::discover(config.as_deref())
        .inspect_err(|e| eprintln!("{e}"))
        .ok()?;
    let mut addr = c.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let scheme = if c.tls.is_some() { "https" } else { "http" };
    Some(format!("{scheme}://{addr}/healthz"))
}

fn healthcheck(config: Option<PathBuf>, url: Option<String>, insecure: bool) -> ExitCode {
    let (url, insecure) = match url {
        Some(u) => (u, insecure),
        None => match health_url(config) {
            Some(u) => (u, true),
            None => return ExitCode::FAILURE,
        },
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    let result = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(3))
            .danger_accept_invalid_certs(insecure)
            .build()?;
        client.get(&url).send().await
    });
    match result {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("{url}: {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<PathBuf>) -> Option<Config> {
    match Config::discover(path.as_deref()) {
        Ok(c) => Some(c),
        Err(errs) => {
            eprintln!("{errs}");
            eprintln!("{} error(s) in the config", errs.0.len());
            None
        }
    }
}

fn serve(path: Option<PathBuf>) -> ExitCode {
    // Held to the end: dropping it flushes the lines still queued.
    let _log_writer = init_tracing();
    let Some(config) = load(path) else {
        return ExitCode::FAILURE;
    };
    tracing::info!(source = %config.source, providers = config.providers.len(), routes = config.routes.len(), "config loaded");
    if config.source == lmrelay::config::BUILT_IN {
        let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        tracing::info!(providers = ?names, "no config file: using providers found in the environment. Add one by exporting e.g. OPENAI_API_KEY or ANTHROPIC_API_KEY, or write lmrelay.toml (see docs/config.md)");
    }
    for w in lmrelay::config::inactive_settings(&config) {
        tracing::warn!("{w}");
    }
    if config.auth == lmrelay::config::AuthMode::None {
        tracing::warn!("auth = \"none\": anyone who can reach this address may use the gateway");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(lmrelay::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr from a thread of its own: the request path only queues a line (dropped
/// if a stalled stderr let the queue of 16,384 lines fill; the writer's default of 128,000
/// would hold 4 MB of slots), never waits on a write.
fn init_tracing() -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("LMRELAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .thread_name("lmrelay-log")
        .buffered_lines_limit(16_384)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    // `LMRELAY_LOG_FORMAT=json`: one JSON object a line, for log shippers. Otherwise the
    // human format, coloured only for a person at a terminal.
    if std::env::var("LMRELAY_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
    guard
}

fn print_check(c: &Config) {
    println!("config: {} (valid)", c.source);
    println!("listen: {}", c.listen);
    if let Some(t) = &c.tls {
        println!("tls: {} (key {})", t.cert.display(), t.key.display());
    }
    println!("providers:");
    for p in &c.providers {
        println!(
            "  {} ({}) {} keys={} models={} region={}",
            p.name,
            p.type_name,
            p.base_url,
            p.keys.len(),
            p.models.join(","),
            p.region.as_deref().unwrap_or("-")
        );
        if let Some(v) = &p.api_version {
            let deployments: Vec<String> = p
                .deployments
                .iter()
                .map(|(m, d)| format!("{m}={d}"))
                .collect();
            println!(
                "    api_version={v} deployments={}",
                if deployments.is_empty() {
                    "(model names)".to_owned()
                } else {
                    deployments.join(",")
                }
            );
        }
        if let Some(r) = &p.aws_region {
            println!("    aws_region={r} (SigV4 service bedrock)");
        }
    }
    println!("routes:");
    for r in &c.routes {
        let targets: Vec<String> = r
            .targets
            .iter()
            .map(|t| format!("{}/{}", t.provider, t.model))
            .collect();
        println!(
            "  {} -> {} ({})",
            r.model,
            targets.join(", "),
            r.strategy.as_str()
        );
    }
    if !c.rules.is_empty() {
        println!("rules:");
        for r in &c.rules {
            println!("  {}", describe_rule(r));
        }
    }
    if let Some(s) = &c.script {
        println!("routing script: {} (compiled)", s.0.path());
    }
    println!("keys: {}", c.keys.len());
    for w in lmrelay::config::inactive_settings(c) {
        println!("warning: {w}");
    }
}

/// One line saying what a rule matches and what it sets.
fn describe_rule(r: &lmrelay::config::RuleConfig) -> String {
    let mut when = Vec::new();
    if let Some(k) = &r.key {
        when.push(format!("key={k}"));
    }
    if let Some(m) = &r.model {
        when.push(format!("model={m}"));
    }
    if let Some(p) = &r.protocol {
        when.push(format!("protocol={p}"));
    }
    for (h, v) in &r.headers {
        when.push(format!("{h}={v}"));
    }
    let mut then = Vec::new();
    if let Some(t) = &r.targets {
        let t: Vec<String> = t
            .iter()
            .map(|t| format!("{}/{}", t.provider, t.model))
            .collect();
        then.push(format!("targets={}", t.join(",")));
    }
    if let Some(s) = r.strategy {
        then.push(format!("strategy={}", s.as_str()));
    }
    if let Some(g) = &r.regions {
        then.push(format!("regions={}", g.join(",")));
    }
    if let Some(n) = r.max_attempts {
        then.push(format!("max_attempts={n}"));
    }
    let when = if when.is_empty() {
        "every request".to_owned()
    } else {
        when.join(" ")
    };
    format!("{}: {when} -> {}", r.name, then.join(" "))
}

fn print_models(c: &Config) {
    let rt_models = lmrelay::routing::public_models(c, 0);
    for m in rt_models {
        let targets: Vec<String> = lmrelay::routing::resolve_places(c, &m.id, true)
            .1
            .iter()
            .map(|(p, model, _)| format!("{}/{model}", c.providers[*p].name))
            .collect();
        println!("{} -> {}", m.id, targets.join(", "));
    }
    for p in &c.providers {
        for pattern in p.models.iter().filter(|m| lmrelay::glob::is_glob(m)) {
            println!("{pattern} -> {}/<the name asked for>", p.name);
        }
    }
}
