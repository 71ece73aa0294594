//! `lmrelay-bench`: starts `lmrelay-mock`, `lmrelay` and nginx as separate pinned processes,
//! loads them from this process, and writes the report (`docs/benchmarks.md` on a full run).
//! Run through `scripts/bench`, which builds the release binaries and installs nginx first.

use clap::{Parser, ValueEnum};
use lmrelay_bench::http::{Call, HttpClient};
use lmrelay_bench::load::{self, OpenLoop, Phases};
use lmrelay_bench::procs::{self, Pinning};
use lmrelay_bench::report::{
    LatencyRun, Report, Startup, StreamRuns, Translation, TranslationRow, Trio,
};
use lmrelay_bench::servers::{
    self, Lmrelay, Mock, Nginx, ANTHROPIC_MODEL, GATEWAY_KEY, OPENAI_MODEL, UPSTREAM_KEY,
};
use lmrelay_bench::{bodies, doc, machine, micro, profile, streams};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Measures lmrelay against nginx and the direct call, as separate pinned processes, and rewrites docs/benchmarks.md.",
    after_help = "A full run (no --only) rewrites the generated part of --output; partial runs only print."
)]
struct Args {
    /// Short phases (a couple of seconds each): for checking the harness, not for the record.
    #[arg(long)]
    quick: bool,
    /// Run only these phases (comma-separated); the report is printed, not written.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Phase>,
    /// Also profile lmrelay under the 1,000 req/s load with `perf` and add the top frames.
    #[arg(long)]
    profile: bool,
    /// The profiler of --profile: perf (attached to the running gateway; falls back to
    /// callgrind when perf cannot run) or callgrind (a gateway under valgrind, 100 req/s).
    #[arg(long, value_enum, default_value = "perf")]
    profiler: Profiler,
    /// Rates of the non-streamed open-loop runs, requests per second.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000.0, 3000.0])]
    rates: Vec<f64>,
    /// Seconds measured per open-loop run (default 10; 3 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Rounds of the latency, throughput and streams phases: each path runs once per round,
    /// in a rotated order, for its share of the measured time, and the rounds are merged
    /// (default 3; 1 with --quick). Spreads slow drifts of the machine over every path.
    #[arg(long)]
    rounds: Option<usize>,
    /// Connections of the maximum-throughput runs.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Concurrent streams of the streams runs.
    #[arg(long, default_value_t = 200)]
    streams: usize,
    /// Milliseconds between the mock's stream chunks in the streams runs.
    #[arg(long, default_value_t = 20)]
    chunk_ms: u64,
    /// Slow streams held open for the memory measurement (a chunk a second).
    #[arg(long, default_value_t = 5000)]
    slow_streams: usize,
    /// Rate of the translation runs, requests per second.
    #[arg(long, default_value_t = 1000.0)]
    translation_rate: f64,
    /// Words in the prompt (the mock echoes it, one stream chunk per word).
    #[arg(long, default_value_t = 20)]
    prompt_words: usize,
    /// Starts of lmrelay timed for the readiness figure.
    #[arg(long, default_value_t = 7)]
    starts: usize,
    /// The file whose generated part a full run rewrites.
    #[arg(long, default_value = "docs/benchmarks.md")]
    output: PathBuf,
    /// Do not write --output, only print.
    #[arg(long)]
    no_write: bool,
    /// Run without nginx (its columns and the ratio targets stay empty).
    #[arg(long)]
    no_nginx: bool,
    /// lmrelay binary (default: next to this one, i.e. target/release/lmrelay).
    #[arg(long)]
    lmrelay: Option<PathBuf>,
    /// lmrelay-mock binary (default: next to this one).
    #[arg(long)]
    mock: Option<PathBuf>,
    /// nginx binary (default: from PATH or /usr/sbin).
    #[arg(long)]
    nginx: Option<PathBuf>,
    /// Criterion's output directory to add the codec micro-benchmarks from (scripts/bench
    /// passes target/criterion after running them).
    #[arg(long)]
    criterion: Option<PathBuf>,
    /// Keep the run's folder (configs, logs, perf data) and print where it is.
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    /// Readiness after start, idle memory, binary size.
    Startup,
    /// Non-streamed at the --rates, open loop.
    Latency,
    /// Maximum throughput, closed loop.
    Throughput,
    /// Concurrent spaced streams.
    Streams,
    /// CPU per request by protocol pair.
    Translation,
    /// Slow streams held open, lmrelay's memory.
    Memory,
    /// `perf` profile of lmrelay at 1,000 req/s.
    Profile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Profiler {
    Perf,
    Callgrind,
}

const ALL: [Phase; 6] = [
    Phase::Startup,
    Phase::Latency,
    Phase::Throughput,
    Phase::Streams,
    Phase::Translation,
    Phase::Memory,
];

/// Warm-up and measured lengths per phase.
#[derive(Debug, Clone, Copy)]
struct Timing {
    open: Phases,
    closed: Phases,
    streams: Phases,
    translation: Phases,
    slow_ramp: Duration,
    slow_hold: Duration,
    profile: Duration,
}

impl Timing {
    fn new(args: &Args) -> Timing {
        let s = Duration::from_secs_f64;
        let (w, m) = if args.quick { (1.0, 3.0) } else { (2.0, 10.0) };
        let m = args.seconds.unwrap_or(m);
        Timing {
            open: Phases {
                warmup: s(w),
                measure: s(m),
            },
            closed: Phases {
                warmup: s(w),
                measure: s(m),
            },
            streams: Phases {
                warmup: s(w),
                measure: s(m),
            },
            translation: Phases {
                warmup: s(1.0),
                measure: s(if args.quick { 2.0 } else { 5.0 }),
            },
            slow_ramp: s(if args.quick { 3.0 } else { 5.0 }),
            slow_hold: s(if args.quick { 4.0 } else { 15.0 }),
            profile: s(if args.quick { 4.0 } else { 10.0 }),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) || args.translation_rate <= 0.0 {
        eprintln!("rates must be positive numbers");
        return ExitCode::FAILURE;
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build of the load generator; use scripts/bench");
    }
    let cpus = procs::allowed_cpus();
    let taskset = procs::find_program("taskset").is_some();
    let pinning = Pinning::plan(&cpus, taskset);
    let pinning_text = pinning.describe(&cpus, taskset);
    eprintln!("pinning: {pinning_text}");
    if let Some(cpu) = pinning.load {
        if let Err(e) = procs::pin_self(cpu) {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    procs::tighten_timer_slack();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if pinning.load.is_some() {
        rt.worker_threads(1);
    }
    let runtime = match rt.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = Ctx {
        cpus: cpus.len(),
        pinning,
        pinning_text,
        timing: Timing::new(&args),
        args,
    };
    // Ctrl-C or SIGTERM drops the run, whose processes stop as they are dropped (rather than
    // outliving this one).
    let result = runtime.block_on(async {
        tokio::select! {
            r = run(&ctx) => r,
            _ = interrupted() => Err("interrupted".to_owned()),
        }
    });
    // The pacer thread of an interrupted run is not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn interrupted() {
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

struct Ctx {
    args: Args,
    cpus: usize,
    pinning: Pinning,
    pinning_text: String,
    timing: Timing,
}

impl Ctx {
    fn runs(&self, phase: Phase) -> bool {
        if phase == Phase::Profile {
            return self.args.profile || self.args.only.contains(&Phase::Profile);
        }
        self.args.only.is_empty() || self.args.only.contains(&phase)
    }

    fn rounds(&self) -> usize {
        self.args
            .rounds
            .unwrap_or(if self.args.quick { 1 } else { 3 })
            .max(1)
    }

    fn full(&self) -> bool {
        self.args.only.is_empty() || ALL.iter().all(|p| self.args.only.contains(p))
    }
}

/// The binaries, the run's folder and the mock, shared by the phases.
struct World {
    lmrelay: PathBuf,
    nginx: Option<PathBuf>,
    dir: PathBuf,
    key_hash: String,
    mock: Mock,
    client: HttpClient,
    text: String,
}

async fn run(ctx: &Ctx) -> Result<(), String> {
    let started = Instant::now();
    let args = &ctx.args;
    let lmrelay = args
        .lmrelay
        .clone()
        .unwrap_or_else(|| servers::sibling_binary("lmrelay"));
    let mock_bin = args
        .mock
        .clone()
        .unwrap_or_else(|| servers::sibling_binary("lmrelay-mock"));
    for bin in [&lmrelay, &mock_bin] {
        if !bin.is_file() {
            return Err(format!(
                "{} is missing: build the release binaries (scripts/bench does)",
                bin.display()
            ));
        }
    }
    let nginx = if args.no_nginx {
        None
    } else {
        let found = match &args.nginx {
            Some(p) => p.is_file().then(|| p.clone()),
            None => procs::find_program("nginx"),
        };
        Some(found.ok_or(
            "nginx not found: install it (scripts/bench does, with apt-get) or pass --no-nginx",
        )?)
    };
    let dir = std::env::temp_dir().join(format!("lmrelay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let result = run_in(ctx, &lmrelay, &mock_bin, nginx, &dir, started).await;
    if args.keep {
        eprintln!("run folder kept: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run_in(
    ctx: &Ctx,
    lmrelay: &Path,
    mock_bin: &Path,
    nginx: Option<PathBuf>,
    dir: &Path,
    started: Instant,
) -> Result<(), String> {
    let args = &ctx.args;
    let machine = machine::Machine::probe(lmrelay, nginx.as_deref(), ctx.cpus);
    let mock = Mock::start(mock_bin, ctx.pinning.load, dir)?;
    let world = World {
        lmrelay: lmrelay.to_owned(),
        nginx,
        dir: dir.to_owned(),
        key_hash: servers::hash_key(lmrelay, GATEWAY_KEY)?,
        mock,
        client: HttpClient::new(),
        text: bodies::prompt(args.prompt_words),
    };
    let mut report = Report {
        machine,
        pinning: ctx.pinning_text.clone(),
        settings: settings(ctx),
        command: command_line(),
        quick: args.quick,
        ..Report::default()
    };
    if ctx.runs(Phase::Startup) {
        report.startup = Some(startup(ctx, &world).await?);
    }
    let loaded = [
        Phase::Latency,
        Phase::Throughput,
        Phase::Streams,
        Phase::Translation,
        Phase::Profile,
    ];
    if loaded.iter().any(|p| ctx.runs(*p)) {
        let gw = Lmrelay::start(
            &world.lmrelay,
            &world.dir,
            &world.mock,
            &world.key_hash,
            ctx.pinning.proxy,
        )?;
        let ngx = match &world.nginx {
            Some(bin) => Some(Nginx::start(
                bin,
                &world.dir,
                &world.mock,
                ctx.pinning.proxy,
            )?),
            None => None,
        };
        let paths = Paths::new(&world, &gw, ngx.as_ref())?;
        paths.check(&world.client).await?;
        if ctx.runs(Phase::Latency) {
            for rate in &args.rates {
                report
                    .latency
                    .push(latency(ctx, &world, &paths, *rate).await);
            }
        }
        if ctx.runs(Phase::Throughput) {
            report.throughput = Some(throughput(ctx, &world, &paths).await);
        }
        if ctx.runs(Phase::Streams) {
            report.streams = Some(concurrent_streams(ctx, &world, &paths).await?);
        }
        if ctx.runs(Phase::Translation) {
            report.translation = Some(translation(ctx, &world, &paths).await);
        }
        if ctx.runs(Phase::Profile) {
            report.profile = match profile_run(ctx, &world, &paths).await {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("profile: {e}");
                    None
                }
            };
        }
    }
    if ctx.runs(Phase::Memory) {
        report.memory = Some(memory(ctx, &world).await?);
    }
    if let Some(dir) = &args.criterion {
        let estimates = micro::read(dir, &["request/", "response/", "stream/"]);
        if estimates.is_empty() {
            eprintln!("no criterion results under {}", dir.display());
        } else {
            report.micro = Some(micro::section(&estimates));
        }
    }
    report.elapsed = started.elapsed();
    let text = report.markdown();
    println!("{text}");
    if ctx.full() && !args.no_write {
        doc::write(&args.output, &text)?;
        eprintln!("wrote {}", args.output.display());
    } else if !args.no_write {
        eprintln!("a partial run: {} left as it is", args.output.display());
    }
    Ok(())
}

fn settings(ctx: &Ctx) -> String {
    let t = &ctx.timing;
    format!(
        "Latency, throughput and streams: {} round(s) per path in rotated order, {:.0} s warm-up, {:.0} s measured in all per path; translation runs {:.0} s measured; prompt {} words (a non-streamed answer of ≈ 0.6 KB, streams of ≈ {} chunks). lmrelay runs as users run it: a config file, a gateway key sent as a Bearer token (`rpm` limit set, far above these rates), metrics on, the in-memory store, the default info-level log on stderr (to a file).",
        ctx.rounds(),
        t.open.warmup.as_secs_f64(),
        t.open.measure.as_secs_f64(),
        t.translation.measure.as_secs_f64(),
        ctx.args.prompt_words,
        ctx.args.prompt_words + 5
    )
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shown: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--criterion") && !a.contains("target/criterion"))
        .collect();
    if shown.is_empty() {
        "scripts/bench".into()
    } else {
        format!("scripts/bench {}", shown.join(" "))
    }
}

/// The calls of every path.
struct Paths {
    direct: Call,
    direct_stream: Call,
    nginx: Option<(Call, Call)>,
    lmrelay: Call,
    lmrelay_stream: Call,
    /// lmrelay's pid, and nginx's master + workers.
    lmrelay_pids: Vec<u32>,
    nginx_pids: Vec<u32>,
    /// (name, streamed, translated, call) through lmrelay.
    translations: Vec<(&'static str, bool, bool, Call)>,
    lmrelay_pid: u32,
}

impl Paths {
    fn new(world: &World, gw: &Lmrelay, ngx: Option<&Nginx>) -> Result<Paths, String> {
        let text = &world.text;
        let upstream_auth = format!("Bearer {UPSTREAM_KEY}");
        let gateway_auth = format!("Bearer {GATEWAY_KEY}");
        let openai = |root: &str, auth: &str, stream: bool| {
            Call::new(
                root,
                "/v1/chat/completions",
                &[("authorization", auth)],
                &bodies::openai_chat(OPENAI_MODEL, text, stream, false),
            )
        };
        let anthropic = |stream: bool| {
            Call::new(
                &gw.url,
                "/v1/messages",
                &[
                    ("x-api-key", GATEWAY_KEY),
                    ("anthropic-version", "2023-06-01"),
                ],
                &bodies::anthropic_messages(OPENAI_MODEL, text, stream, false),
            )
        };
        let ollama = |stream: bool| {
            Call::new(
                &gw.url,
                "/api/chat",
                &[("authorization", &gateway_auth)],
                &bodies::ollama_chat(ANTHROPIC_MODEL, text, stream, false),
            )
        };
        let nginx = match ngx {
            Some(n) => Some((
                openai(&n.url, &upstream_auth, false)?,
                openai(&n.url, &upstream_auth, true)?,
            )),
            None => None,
        };
        Ok(Paths {
            direct: openai(&world.mock.openai, &upstream_auth, false)?,
            direct_stream: openai(&world.mock.openai, &upstream_auth, true)?,
            nginx,
            lmrelay: openai(&gw.url, &gateway_auth, false)?,
            lmrelay_stream: openai(&gw.url, &gateway_auth, true)?,
            lmrelay_pids: vec![gw.pid()],
            nginx_pids: ngx.map(Nginx::pids).unwrap_or_default(),
            translations: vec![
                (
                    "OpenAI → OpenAI (same protocol)",
                    false,
                    false,
                    openai(&gw.url, &gateway_auth, false)?,
                ),
                (
                    "OpenAI → OpenAI (same protocol)",
                    true,
                    false,
                    openai(&gw.url, &gateway_auth, true)?,
                ),
                (
                    "Anthropic client → OpenAI upstream",
                    false,
                    true,
                    anthropic(false)?,
                ),
                (
                    "Anthropic client → OpenAI upstream",
                    true,
                    true,
                    anthropic(true)?,
                ),
                (
                    "Ollama client → Anthropic upstream",
                    false,
                    true,
                    ollama(false)?,
                ),
                (
                    "Ollama client → Anthropic upstream",
                    true,
                    true,
                    ollama(true)?,
                ),
            ],
            lmrelay_pid: gw.pid(),
        })
    }

    /// One request down every path, so a broken one fails the run at once, with its answer.
    async fn check(&self, client: &HttpClient) -> Result<(), String> {
        let mut calls = vec![
            &self.direct,
            &self.direct_stream,
            &self.lmrelay,
            &self.lmrelay_stream,
        ];
        if let Some((a, b)) = &self.nginx {
            calls.push(a);
            calls.push(b);
        }
        calls.extend(self.translations.iter().map(|t| &t.3));
        for call in calls {
            let reply = client.send_ok(call).await?;
            if !lmrelay_bench::http::has_content(&reply.body) {
                return Err(format!(
                    "{} answered without text: {}",
                    call.uri(),
                    String::from_utf8_lossy(&reply.body)
                ));
            }
        }
        Ok(())
    }
}

/// The paths of a phase: index (0 direct, 1 nginx, 2 lmrelay), name, call, pids to watch.
type PathList<'a> = Vec<(usize, &'static str, &'a Call, &'a [u32])>;

/// The order of round `r`: rotated, so that no path always runs first (or right after another).
fn rotated<T: Clone>(items: &[T], r: usize) -> Vec<T> {
    let mut v = items.to_vec();
    if !v.is_empty() {
        let n = v.len();
        v.rotate_left(r % n);
    }
    v
}

/// Warm-up and measured time of round `r` of `rounds`: the whole warm-up before the first
/// round, `later` before the others (connections are warm by then), the measured time split.
fn round_phases(p: Phases, r: usize, rounds: usize, later: Duration) -> Phases {
    Phases {
        warmup: if r == 0 {
            p.warmup
        } else {
            later.min(p.warmup)
        },
        measure: p.measure / rounds.max(1) as u32,
    }
}

fn into_trio<T: Default>(mut acc: [Option<T>; 3]) -> Trio<T> {
    Trio {
        direct: acc[0].take().unwrap_or_default(),
        nginx: acc[1].take(),
        lmrelay: acc[2].take().unwrap_or_default(),
    }
}

async fn latency(ctx: &Ctx, world: &World, paths: &Paths, rate: f64) -> LatencyRun {
    let rounds = ctx.rounds();
    let mut list: PathList = vec![(0, "direct", &paths.direct, &[])];
    if let Some((call, _)) = &paths.nginx {
        list.push((1, "nginx", call, &paths.nginx_pids));
    }
    list.push((2, "lmrelay", &paths.lmrelay, &paths.lmrelay_pids));
    let mut acc: [Option<OpenLoop>; 3] = [None, None, None];
    for r in 0..rounds {
        let phases = round_phases(ctx.timing.open, r, rounds, Duration::from_millis(500));
        for (i, name, call, watch) in rotated(&list, r) {
            eprintln!(
                "non-streamed at {rate}/s, round {}/{rounds}: {name} …",
                r + 1
            );
            let run = load::open_loop(&world.client, call, rate, phases, watch).await;
            load::merge_into(&mut acc[i], run);
        }
    }
    LatencyRun {
        rate,
        runs: into_trio(acc),
    }
}

async fn throughput(ctx: &Ctx, world: &World, paths: &Paths) -> Trio<load::Throughput> {
    let rounds = ctx.rounds();
    let n = ctx.args.connections;
    let load_side = vec![std::process::id(), world.mock.proc.pid()];
    let mut list: PathList = vec![(0, "direct", &paths.direct, &[])];
    if let Some((call, _)) = &paths.nginx {
        list.push((1, "nginx", call, &paths.nginx_pids));
    }
    list.push((2, "lmrelay", &paths.lmrelay, &paths.lmrelay_pids));
    let mut acc: [Option<load::Throughput>; 3] = [None, None, None];
    for r in 0..rounds {
        let phases = round_phases(ctx.timing.closed, r, rounds, Duration::from_millis(500));
        for (i, name, call, proxy) in rotated(&list, r) {
            eprintln!("throughput, round {}/{rounds}: {name} …", r + 1);
            let run = load::closed_loop(&world.client, call, n, phases, proxy, &load_side).await;
            load::merge_into(&mut acc[i], run);
        }
    }
    into_trio(acc)
}

async fn concurrent_streams(ctx: &Ctx, world: &World, paths: &Paths) -> Result<StreamRuns, String> {
    let a = &ctx.args;
    let rounds = ctx.rounds();
    world
        .mock
        .set_event_delay(&world.client, a.chunk_ms)
        .await?;
    // About one stream's length, so that the streams are spread over its chunks.
    let spread = Duration::from_millis(a.chunk_ms * (a.prompt_words as u64 + 5));
    let mut list: PathList = vec![(0, "direct", &paths.direct_stream, &[])];
    if let Some((_, call)) = &paths.nginx {
        list.push((1, "nginx", call, &[]));
    }
    list.push((2, "lmrelay", &paths.lmrelay_stream, &[]));
    let mut acc: [Option<streams::Streams>; 3] = [None, None, None];
    for r in 0..rounds {
        let phases = round_phases(ctx.timing.streams, r, rounds, spread * 2);
        for (i, name, call, _) in rotated(&list, r) {
            eprintln!("{} streams, round {}/{rounds}: {name} …", a.streams, r + 1);
            let run = streams::concurrent(
                &world.client,
                call,
                a.streams,
                spread,
                phases.warmup,
                phases.measure,
            )
            .await;
            load::merge_into(&mut acc[i], run);
        }
    }
    world.mock.set_event_delay(&world.client, 0).await?;
    Ok(StreamRuns {
        delay_ms: a.chunk_ms,
        runs: into_trio(acc),
    })
}

async fn translation(ctx: &Ctx, world: &World, paths: &Paths) -> Translation {
    let rate = ctx.args.translation_rate;
    let phases = ctx.timing.translation;
    let c = &world.client;
    let mut out = Translation {
        rate,
        ..Translation::default()
    };
    if let Some((plain, streamed)) = &paths.nginx {
        eprintln!("translation reference: nginx …");
        out.nginx_plain = Some(load::open_loop(c, plain, rate, phases, &paths.nginx_pids).await);
        out.nginx_streamed =
            Some(load::open_loop(c, streamed, rate, phases, &paths.nginx_pids).await);
    }
    for (name, streamed, translated, call) in &paths.translations {
        eprintln!(
            "translation: {name}{} …",
            if *streamed { ", streamed" } else { "" }
        );
        let run: OpenLoop = load::open_loop(c, call, rate, phases, &paths.lmrelay_pids).await;
        out.rows.push(TranslationRow {
            name: (*name).to_owned(),
            streamed: *streamed,
            translated: *translated,
            lmrelay: run,
        });
    }
    out
}

async fn profile_run(
    ctx: &Ctx,
    world: &World,
    paths: &Paths,
) -> Result<lmrelay_bench::report::Profile, String> {
    if ctx.args.profiler == Profiler::Perf {
        match perf_run(ctx, world, paths).await {
            Ok(p) => return Ok(p),
            Err(e) => eprintln!("profile: perf failed ({e}); callgrind instead"),
        }
    }
    callgrind_run(ctx, world).await
}

async fn perf_run(
    ctx: &Ctx,
    world: &World,
    paths: &Paths,
) -> Result<lmrelay_bench::report::Profile, String> {
    eprintln!("profile: perf record of lmrelay at 1,000 req/s …");
    let rec = profile::start(paths.lmrelay_pid, &world.dir, ctx.pinning.load)?;
    let phases = Phases {
        warmup: Duration::ZERO,
        measure: ctx.timing.profile,
    };
    load::open_loop(&world.client, &paths.lmrelay, 1000.0, phases, &[]).await;
    let mut p = tokio::task::spawn_blocking(move || rec.finish(30))
        .await
        .map_err(|e| format!("profile task: {e}"))??;
    p.rate = 1000.0;
    Ok(p)
}

/// A separate gateway under callgrind, at 100 req/s (valgrind runs it tens of times slower).
async fn callgrind_run(ctx: &Ctx, world: &World) -> Result<lmrelay_bench::report::Profile, String> {
    const RATE: f64 = 100.0;
    eprintln!("profile: lmrelay under callgrind at {RATE} req/s …");
    let mut cg = profile::callgrind(
        &world.lmrelay,
        &world.dir,
        &world.mock,
        &world.key_hash,
        ctx.pinning.proxy,
    )?;
    let call = Call::new(
        &cg.gateway.url,
        "/v1/chat/completions",
        &[("authorization", &format!("Bearer {GATEWAY_KEY}"))],
        &bodies::openai_chat(OPENAI_MODEL, &world.text, false, false),
    )?;
    let warm = Phases {
        warmup: Duration::ZERO,
        measure: Duration::from_secs(2),
    };
    load::open_loop(&world.client, &call, RATE, warm, &[]).await;
    cg.collect()?;
    let phases = Phases {
        warmup: Duration::ZERO,
        measure: ctx.timing.profile,
    };
    let run = load::open_loop(&world.client, &call, RATE, phases, &[]).await;
    let ok = run.ok;
    let mut p = tokio::task::spawn_blocking(move || cg.finish(ok, 30))
        .await
        .map_err(|e| format!("profile task: {e}"))??;
    p.rate = RATE;
    Ok(p)
}

async fn startup(ctx: &Ctx, world: &World) -> Result<Startup, String> {
    eprintln!("startup: {} starts of lmrelay …", ctx.args.starts);
    let mut out = Startup::default();
    for i in 0..ctx.args.starts.max(1) {
        let mut gw = Lmrelay::start(
            &world.lmrelay,
            &world.dir,
            &world.mock,
            &world.key_hash,
            ctx.pinning.proxy,
        )?;
        out.ready.push(gw.ready);
        if i == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            out.idle_rss_kb = procs::status_kb(gw.pid(), "VmRSS").unwrap_or(0);
        }
        gw.proc.stop(Duration::from_secs(5));
    }
    out.binary_bytes = std::fs::metadata(&world.lmrelay)
        .map(|m| m.len())
        .unwrap_or(0);
    out.stripped_bytes = stripped_size(&world.lmrelay, &world.dir);
    Ok(out)
}

/// The size of a stripped copy of `bin` (the build's own file is left alone).
fn stripped_size(bin: &Path, dir: &Path) -> Option<u64> {
    let strip = procs::find_program("strip")?;
    let copy = dir.join("lmrelay-stripped");
    std::fs::copy(bin, &copy).ok()?;
    let ok = std::process::Command::new(strip)
        .arg(&copy)
        .status()
        .ok()?
        .success();
    let size = std::fs::metadata(&copy).ok().map(|m| m.len());
    let _ = std::fs::remove_file(&copy);
    if ok {
        size
    } else {
        None
    }
}

async fn memory(ctx: &Ctx, world: &World) -> Result<streams::Held, String> {
    let a = &ctx.args;
    let t = &ctx.timing;
    eprintln!(
        "memory: {} slow streams through a fresh lmrelay ({:.0} s ramp, {:.0} s held) …",
        a.slow_streams,
        t.slow_ramp.as_secs_f64(),
        t.slow_hold.as_secs_f64()
    );
    let gw = Lmrelay::start(
        &world.lmrelay,
        &world.dir,
        &world.mock,
        &world.key_hash,
        ctx.pinning.proxy,
    )?;
    world.mock.set_event_delay(&world.client, 1000).await?;
    // Streams longer than the ramp and the hold, so that every one is open at the end.
    let words = ((t.slow_ramp + t.slow_hold).as_secs() as usize + 5).max(a.prompt_words);
    let call = Call::new(
        &gw.url,
        "/v1/chat/completions",
        &[("authorization", &format!("Bearer {GATEWAY_KEY}"))],
        &bodies::openai_chat(OPENAI_MODEL, &bodies::prompt(words), true, false),
    )?;
    let held = streams::hold(
        &world.client,
        &call,
        a.slow_streams,
        t.slow_ramp,
        t.slow_hold,
        gw.pid(),
    )
    .await;
    world.mock.set_event_delay(&world.client, 0).await?;
    drop(gw);
    Ok(held)
}
