//! The results of a run, the targets judged against nginx from the same run, and the
//! markdown that `docs/benchmarks.md` is made of.

use crate::hist::Summary;
use crate::load::{OpenLoop, Throughput};
use crate::machine::Machine;
use crate::streams::{Held, Streams};
use std::fmt::Write;
use std::time::Duration;

/// The same measurement directly against the mock, through nginx and through lmrelay.
#[derive(Debug, Clone, Default)]
pub struct Trio<T> {
    pub direct: T,
    /// `None` when nginx is not part of the run.
    pub nginx: Option<T>,
    pub lmrelay: T,
}

/// Non-streamed OpenAI → OpenAI at one rate.
#[derive(Debug, Clone, Default)]
pub struct LatencyRun {
    pub rate: f64,
    pub runs: Trio<OpenLoop>,
}

/// Concurrent streams spaced by the mock.
#[derive(Debug, Clone, Default)]
pub struct StreamRuns {
    pub delay_ms: u64,
    pub runs: Trio<Streams>,
}

/// One row of the translation table.
#[derive(Debug, Clone, Default)]
pub struct TranslationRow {
    pub name: String,
    pub streamed: bool,
    /// Whether the client's protocol differs from the upstream's.
    pub translated: bool,
    pub lmrelay: OpenLoop,
}

/// CPU per request through lmrelay per protocol pair, against nginx's same-protocol cost.
#[derive(Debug, Clone, Default)]
pub struct Translation {
    pub rate: f64,
    pub rows: Vec<TranslationRow>,
    /// nginx proxying OpenAI → OpenAI, non-streamed and streamed, at the same rate.
    pub nginx_plain: Option<OpenLoop>,
    pub nginx_streamed: Option<OpenLoop>,
}

/// Start-up, idle memory and binary size.
#[derive(Debug, Clone, Default)]
pub struct Startup {
    /// Spawn to the first 200 from `/healthz`, one per start.
    pub ready: Vec<Duration>,
    /// Resident memory a second after the first start, in kB.
    pub idle_rss_kb: u64,
    pub binary_bytes: u64,
    /// The binary after `strip`; `None` if `strip` is missing.
    pub stripped_bytes: Option<u64>,
}

/// Where lmrelay's CPU went under load (`perf` samples, self time).
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub tool: String,
    pub seconds: f64,
    pub rate: f64,
    pub samples: Option<u64>,
    /// (share %, object, symbol), heaviest first.
    pub symbols: Vec<(f64, String, String)>,
    /// (share %, object).
    pub objects: Vec<(f64, String)>,
    /// (share %, crate or object): self time by where the code comes from.
    pub crates: Vec<(f64, String)>,
    /// Anything else worth saying (callgrind: instructions per request).
    pub note: Option<String>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub machine: Machine,
    pub pinning: String,
    pub settings: String,
    pub command: String,
    pub quick: bool,
    pub elapsed: Duration,
    pub startup: Option<Startup>,
    pub latency: Vec<LatencyRun>,
    pub throughput: Option<Trio<Throughput>>,
    pub streams: Option<StreamRuns>,
    pub translation: Option<Translation>,
    pub memory: Option<Held>,
    pub profile: Option<Profile>,
    /// Criterion's results, already rendered.
    pub micro: Option<String>,
}

/// One target of issue 13 and how this run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub limit: String,
    pub result: String,
    /// `None`: not measured in this run.
    pub met: Option<bool>,
}

/// A proxy's core counts as full from this share of it.
const SATURATED: f64 = 0.9;

/// Requests per second a proxy would answer with a whole core, at the CPU per request it
/// showed: the answered rate over the share of its core it used.
fn capacity(t: &Throughput) -> Option<f64> {
    let busy = t.proxy_busy.filter(|b| *b > 0.05)?;
    Some(t.rate / busy.min(1.0))
}

fn mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite()).then(|| a / b)
}

fn added(path: &Summary, floor: &Summary) -> Summary {
    Summary {
        count: path.count,
        p50: path.p50 - floor.p50,
        p90: path.p90 - floor.p90,
        p99: path.p99 - floor.p99,
        p999: path.p999 - floor.p999,
        max: path.max - floor.max,
    }
}

fn not_measured(name: &str, limit: &str, why: &str) -> Target {
    Target {
        name: name.to_owned(),
        limit: limit.to_owned(),
        result: why.to_owned(),
        met: None,
    }
}

impl Report {
    /// The targets, each judged against nginx from this run where it is a ratio.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        self.cpu_target(&mut out);
        self.throughput_target(&mut out);
        self.latency_targets(&mut out);
        self.stream_targets(&mut out);
        self.translation_target(&mut out);
        self.memory_targets(&mut out);
        out
    }

    fn cpu_target(&self, out: &mut Vec<Target>) {
        let (name, limit) = (
            "CPU per non-streamed same-protocol request",
            "≤ 1.5× nginx's",
        );
        let mut parts = Vec::new();
        let mut met = true;
        for run in &self.latency {
            let (Some(ng), Some(lm)) = (
                run.runs.nginx.as_ref().and_then(|n| n.cpu_us_per_req),
                run.runs.lmrelay.cpu_us_per_req,
            ) else {
                continue;
            };
            let Some(r) = ratio(lm, ng) else { continue };
            met &= r <= 1.5;
            parts.push(format!(
                "{r:.2}× at {}/s ({lm:.1} vs {ng:.1} µs)",
                thousands(run.rate)
            ));
        }
        // At maximum throughput too, where wake-ups are shared by many requests.
        if let Some(t) = &self.throughput {
            let per_req = |x: &Throughput| {
                x.proxy_busy
                    .filter(|_| x.rate > 0.0)
                    .map(|b| b * 1e6 / x.rate)
            };
            if let (Some(lm), Some(ng)) = (per_req(&t.lmrelay), t.nginx.as_ref().and_then(per_req))
            {
                if let Some(r) = ratio(lm, ng) {
                    met &= r <= 1.5;
                    parts.push(format!(
                        "{r:.2}× at maximum throughput ({lm:.1} vs {ng:.1} µs)"
                    ));
                }
            }
        }
        out.push(if parts.is_empty() {
            not_measured(
                name,
                limit,
                "not measured (needs the latency runs and nginx)",
            )
        } else {
            Target {
                name: name.into(),
                limit: limit.into(),
                result: parts.join("; "),
                met: Some(met),
            }
        });
    }

    fn throughput_target(&self, out: &mut Vec<Target>) {
        let (name, limit) = ("Maximum throughput on one core", "≥ 0.66× nginx's");
        let Some(t) = &self.throughput else {
            out.push(not_measured(name, limit, "not measured"));
            return;
        };
        let Some(ng) = &t.nginx else {
            out.push(not_measured(name, limit, "not measured (no nginx)"));
            return;
        };
        let lm = &t.lmrelay;
        let saturated = |x: &Throughput| x.proxy_busy.is_some_and(|b| b >= SATURATED);
        // Both cores full: the measured rates compare. Otherwise the load side (one core for
        // the mock and the generator) held a proxy back, and each proxy's rate per unit of
        // its own core is the fair comparison.
        let (r, mut result) = if saturated(lm) && saturated(ng) {
            let Some(r) = ratio(lm.rate, ng.rate) else {
                out.push(not_measured(name, limit, "nginx answered nothing"));
                return;
            };
            (
                r,
                format!(
                    "{r:.2}× ({} vs {} req/s, both cores full)",
                    thousands(lm.rate),
                    thousands(ng.rate)
                ),
            )
        } else {
            let Some(r) = capacity(lm)
                .zip(capacity(ng))
                .and_then(|(a, b)| ratio(a, b))
            else {
                out.push(not_measured(name, limit, "no CPU figures for the proxies"));
                return;
            };
            (
                r,
                format!(
                    "{r:.2}× projected to a full core ({} vs {} req/s; measured {} vs {} with the proxies' cores {} and {} busy: the load side could not fill them)",
                    thousands(capacity(lm).unwrap_or(0.0)),
                    thousands(capacity(ng).unwrap_or(0.0)),
                    thousands(lm.rate),
                    thousands(ng.rate),
                    pct(lm.proxy_busy),
                    pct(ng.proxy_busy),
                ),
            )
        };
        let clean = lm.errors == 0 && ng.errors == 0;
        if !clean {
            result.push_str("; with errors (see below)");
        }
        out.push(Target {
            name: name.into(),
            limit: limit.into(),
            result,
            met: Some(r >= 0.66 && clean),
        });
    }

    fn latency_targets(&self, out: &mut Vec<Target>) {
        let run = self.latency.iter().find(|r| r.rate == 1000.0);
        let names = [
            ("Added latency at 1,000 req/s, median", "≤ nginx's + 50 µs"),
            ("Added latency at 1,000 req/s, p99", "≤ nginx's"),
        ];
        let Some((run, ng)) = run.and_then(|r| Some((r, r.runs.nginx.as_ref()?))) else {
            for (n, l) in names {
                out.push(not_measured(
                    n,
                    l,
                    "not measured (needs 1,000 req/s and nginx)",
                ));
            }
            return;
        };
        let lm = added(&run.runs.lmrelay.latency, &run.runs.direct.latency);
        let ngx = added(&ng.latency, &run.runs.direct.latency);
        out.push(Target {
            name: names[0].0.into(),
            limit: names[0].1.into(),
            result: format!("{:.0} µs vs nginx's {:.0} µs", lm.p50, ngx.p50),
            met: Some(lm.p50 <= ngx.p50 + 50.0),
        });
        out.push(Target {
            name: names[1].0.into(),
            limit: names[1].1.into(),
            result: format!("{:.0} µs vs nginx's {:.0} µs", lm.p99, ngx.p99),
            met: Some(lm.p99 <= ngx.p99),
        });
    }

    fn stream_targets(&self, out: &mut Vec<Target>) {
        let names = [
            (
                "Time to first token added at 200 streams, p99",
                "≤ nginx's + 0.2 ms",
            ),
            ("Inter-chunk gap at p99.9", "≤ nginx's"),
        ];
        let Some((s, ng)) = self
            .streams
            .as_ref()
            .and_then(|s| Some((s, s.runs.nginx.as_ref()?)))
        else {
            for (n, l) in names {
                out.push(not_measured(
                    n,
                    l,
                    "not measured (needs the streams run and nginx)",
                ));
            }
            return;
        };
        let lm = added(&s.runs.lmrelay.ttft, &s.runs.direct.ttft);
        let ngx = added(&ng.ttft, &s.runs.direct.ttft);
        let clean = s.runs.lmrelay.errors == 0 && ng.errors == 0;
        let (n0, n1) = (s.runs.lmrelay.concurrency, ng.concurrency);
        out.push(Target {
            name: names[0].0.replace("200", &n0.to_string()),
            limit: names[0].1.into(),
            result: format!(
                "{:.2} ms vs nginx's {:.2} ms{}",
                lm.p99 / 1e3,
                ngx.p99 / 1e3,
                if n0 == n1 {
                    ""
                } else {
                    " (different concurrency!)"
                }
            ),
            met: Some(lm.p99 <= ngx.p99 + 200.0 && clean),
        });
        out.push(Target {
            name: names[1].0.into(),
            limit: names[1].1.into(),
            result: format!(
                "{:.1} ms vs nginx's {:.1} ms (the mock spaces chunks by {} ms)",
                s.runs.lmrelay.gap.p999 / 1e3,
                ng.gap.p999 / 1e3,
                s.delay_ms
            ),
            met: Some(s.runs.lmrelay.gap.p999 <= ng.gap.p999 && clean),
        });
    }

    fn translation_target(&self, out: &mut Vec<Target>) {
        let (name, limit) = (
            "Translated path, CPU per request",
            "≤ 2.5× nginx's same-protocol",
        );
        let Some(t) = &self.translation else {
            out.push(not_measured(name, limit, "not measured"));
            return;
        };
        let mut worst: Option<(f64, &TranslationRow)> = None;
        for row in t.rows.iter().filter(|r| r.translated) {
            let Some(r) = t.ratio(row) else { continue };
            if worst.is_none_or(|(w, _)| r > w) {
                worst = Some((r, row));
            }
        }
        out.push(match worst {
            Some((r, row)) => Target {
                name: name.into(),
                limit: limit.into(),
                result: format!("worst {r:.2}× ({})", row.name),
                met: Some(r <= 2.5),
            },
            None => not_measured(name, limit, "not measured (needs nginx)"),
        });
    }

    fn memory_targets(&self, out: &mut Vec<Target>) {
        match &self.memory {
            Some(m) => {
                let peak = m.rss_peak_kb.max(m.hwm_kb);
                let all_open = m.open_at_peak as f64 >= m.target as f64 * 0.99;
                let mut result = format!(
                    "{:.1} MB peak with {} streams open",
                    mb(peak),
                    thousands(m.open_at_peak as f64)
                );
                if !all_open {
                    let _ = write!(
                        result,
                        " of {} asked (not all open!)",
                        thousands(m.target as f64)
                    );
                }
                out.push(Target {
                    name: format!(
                        "{} concurrent streams, resident memory",
                        thousands(m.target as f64)
                    ),
                    limit: "< 150 MB".into(),
                    result,
                    met: Some(mb(peak) < 150.0 && all_open),
                });
            }
            None => out.push(not_measured(
                "5,000 concurrent streams, resident memory",
                "< 150 MB",
                "not measured",
            )),
        }
        let Some(s) = &self.startup else {
            for (n, l) in [
                ("Idle resident memory", "< 30 MB"),
                ("Ready to serve after start", "< 50 ms"),
                ("Stripped release binary", "< 20 MB"),
            ] {
                out.push(not_measured(n, l, "not measured"));
            }
            return;
        };
        out.push(Target {
            name: "Idle resident memory".into(),
            limit: "< 30 MB".into(),
            result: format!("{:.1} MB", mb(s.idle_rss_kb)),
            met: Some(mb(s.idle_rss_kb) < 30.0),
        });
        let ms: Vec<f64> = s.ready.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let median = median(&ms);
        out.push(Target {
            name: "Ready to serve after start".into(),
            limit: "< 50 ms".into(),
            result: format!(
                "{median:.1} ms (median of {}; slowest {:.1} ms)",
                ms.len(),
                ms.iter().copied().fold(0.0, f64::max)
            ),
            met: (!ms.is_empty()).then_some(median < 50.0),
        });
        out.push(match s.stripped_bytes {
            Some(b) => Target {
                name: "Stripped release binary".into(),
                limit: "< 20 MB".into(),
                result: format!("{:.1} MB", b as f64 / 1e6),
                met: Some((b as f64) < 20e6),
            },
            None => not_measured("Stripped release binary", "< 20 MB", "`strip` not found"),
        });
    }

    /// The whole generated part of `docs/benchmarks.md`.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "## This run\n");
        let _ = writeln!(
            s,
            "{}{} on {} ({} CPUs online, {} usable here, {:.0} GiB), {}, Linux {}; {}; {}; {}.\n",
            if self.quick {
                "A **quick** run (short phases: read the figures as indicative) taken "
            } else {
                "Taken "
            },
            m.date,
            m.cpu_model,
            m.cpus_online,
            m.cpus_allowed,
            m.memory_gib,
            m.os,
            m.kernel,
            m.lmrelay,
            m.nginx.as_deref().unwrap_or("nginx not run"),
            m.rustc.as_deref().unwrap_or("rustc unknown"),
        );
        let _ = writeln!(
            s,
            "Command: `{}` ({:.0} s{}). Pinning: {}. {}\n",
            self.command,
            self.elapsed.as_secs_f64(),
            m.commit
                .as_deref()
                .map(|c| format!(", tree at {c}"))
                .unwrap_or_default(),
            self.pinning,
            self.settings
        );
        s.push_str("## Targets\n\n");
        s.push_str("| Target | Limit | This run | Met |\n|---|---|---|---|\n");
        for t in self.targets() {
            let met = match t.met {
                Some(true) => "**met**",
                Some(false) => "**not met**",
                None => "—",
            };
            let _ = writeln!(s, "| {} | {} | {} | {met} |", t.name, t.limit, t.result);
        }
        s.push('\n');
        for run in &self.latency {
            s.push_str(&latency_section(run));
        }
        if let Some(t) = &self.throughput {
            s.push_str(&throughput_section(t));
        }
        if let Some(st) = &self.streams {
            s.push_str(&streams_section(st));
        }
        if let Some(t) = &self.translation {
            s.push_str(&translation_section(t));
        }
        if self.memory.is_some() || self.startup.is_some() {
            s.push_str(&resources_section(
                self.startup.as_ref(),
                self.memory.as_ref(),
            ));
        }
        if let Some(p) = &self.profile {
            s.push_str(&profile_section(p));
        }
        if let Some(micro) = &self.micro {
            s.push_str(micro);
        }
        let errors = self.errors();
        if !errors.is_empty() {
            s.push_str("## Errors\n\n");
            for e in errors {
                let _ = writeln!(s, "- {e}");
            }
            s.push('\n');
        }
        s
    }

    /// One line per run that had errors.
    pub fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |what: String, errors: u64, first: &Option<String>| {
            if errors > 0 {
                out.push(format!(
                    "{what}: {errors} errors, first: {}",
                    first.as_deref().unwrap_or("?").replace('\n', " ")
                ));
            }
        };
        for run in &self.latency {
            for (path, r) in trio_rows(&run.runs) {
                note(
                    format!("non-streamed at {}/s, {path}", thousands(run.rate)),
                    r.errors,
                    &r.first_error,
                );
            }
        }
        if let Some(t) = &self.throughput {
            for (path, r) in trio_rows(t) {
                note(format!("throughput, {path}"), r.errors, &r.first_error);
            }
        }
        if let Some(st) = &self.streams {
            for (path, r) in trio_rows(&st.runs) {
                note(format!("streams, {path}"), r.errors, &r.first_error);
            }
        }
        if let Some(t) = &self.translation {
            for row in &t.rows {
                note(
                    format!("translation, {}", row.name),
                    row.lmrelay.errors,
                    &row.lmrelay.first_error,
                );
            }
            for (what, r) in [("plain", &t.nginx_plain), ("streamed", &t.nginx_streamed)] {
                if let Some(r) = r {
                    note(
                        format!("translation reference, nginx {what}"),
                        r.errors,
                        &r.first_error,
                    );
                }
            }
        }
        if let Some(m) = &self.memory {
            note("slow streams".into(), m.errors, &m.first_error);
        }
        out
    }
}

impl Translation {
    /// A row's CPU per request over nginx's same-protocol CPU per request (same streaming).
    pub fn ratio(&self, row: &TranslationRow) -> Option<f64> {
        let reference = if row.streamed {
            self.nginx_streamed.as_ref()
        } else {
            self.nginx_plain.as_ref()
        }?;
        ratio(row.lmrelay.cpu_us_per_req?, reference.cpu_us_per_req?)
    }
}

fn trio_rows<T>(t: &Trio<T>) -> Vec<(&'static str, &T)> {
    let mut rows = vec![("direct to the mock", &t.direct)];
    if let Some(n) = &t.nginx {
        rows.push(("nginx", n));
    }
    rows.push(("lmrelay", &t.lmrelay));
    rows
}

fn latency_section(run: &LatencyRun) -> String {
    let mut s = format!(
        "## Non-streamed OpenAI → OpenAI at {} req/s (open loop)\n\n",
        thousands(run.rate)
    );
    s.push_str("Latency from each request's due time to its last body byte, µs. \"Added\" is the path's percentile minus the direct path's. CPU is the proxy's own processes only.\n\n");
    s.push_str("| Path | p50 | p90 | p99 | p99.9 | max | added p50 | added p90 | added p99 | added p99.9 | proxy CPU µs/req | answered | errors | pacer lag p99 |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let floor = run.runs.direct.latency;
    for (path, r) in trio_rows(&run.runs) {
        let l = r.latency;
        let (a50, a90, a99, a999) = if path.starts_with("direct") {
            ("—".into(), "—".into(), "—".into(), "—".into())
        } else {
            let a = added(&l, &floor);
            (us(a.p50), us(a.p90), us(a.p99), us(a.p999))
        };
        let _ = writeln!(
            s,
            "| {path} | {} | {} | {} | {} | {} | {a50} | {a90} | {a99} | {a999} | {} | {} | {} | {} |",
            us(l.p50),
            us(l.p90),
            us(l.p99),
            us(l.p999),
            us(l.max),
            r.cpu_us_per_req.map_or("—".into(), |c| format!("{c:.1}")),
            thousands(r.ok as f64),
            r.errors,
            us(r.lag.p99),
        );
    }
    s.push('\n');
    s
}

fn throughput_section(t: &Trio<Throughput>) -> String {
    let mut s = String::from("## Maximum throughput (closed loop)\n\n");
    let _ = writeln!(
        s,
        "{} connections, each sending the next non-streamed OpenAI request as soon as the answer is in. \"Busy\" is CPU time over wall time: the proxy's core, and the load side's (the mock and the load generator, sharing the other core). A proxy whose core is not near 100% busy was held back by the load side; its projection to a full core (answered rate over busy share) assumes its CPU per request stays as measured, which is conservative (a fuller core batches more work per wake-up). The target compares measured rates when both proxies' cores are at least 90% busy, projections otherwise.\n",
        t.lmrelay.connections
    );
    s.push_str("| Path | answered req/s | errors | proxy core busy | load side busy | proxy CPU µs/req | req/s projected to a full proxy core | latency p50 µs | p99 µs |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (path, r) in trio_rows(t) {
        let _ = writeln!(
            s,
            "| {path} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(r.rate),
            r.errors,
            pct(r.proxy_busy),
            pct(r.load_busy),
            r.proxy_busy
                .filter(|_| r.rate > 0.0)
                .map_or("—".into(), |b| format!("{:.1}", b * 1e6 / r.rate)),
            capacity(r).map_or("—".into(), thousands),
            us(r.latency.p50),
            us(r.latency.p99),
        );
    }
    s.push('\n');
    s
}

fn streams_section(st: &StreamRuns) -> String {
    let mut s = format!("## {} concurrent streams\n\n", st.runs.lmrelay.concurrency);
    let _ = writeln!(
        s,
        "Streamed OpenAI → OpenAI; the mock sends a chunk every {} ms. Time to first token (TTFT) is from sending to the first frame with generated text; the gap is between two consecutive frames with text. Milliseconds.\n",
        st.delay_ms
    );
    s.push_str("| Path | TTFT p50 | TTFT p99 | added TTFT p50 | added TTFT p99 | gap p50 | gap p99 | gap p99.9 | gap max | streams read | errors |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let floor = st.runs.direct.ttft;
    for (path, r) in trio_rows(&st.runs) {
        let (a50, a99) = if path.starts_with("direct") {
            ("—".into(), "—".into())
        } else {
            let a = added(&r.ttft, &floor);
            (format!("{:.2}", a.p50 / 1e3), format!("{:.2}", a.p99 / 1e3))
        };
        let _ = writeln!(
            s,
            "| {path} | {:.2} | {:.2} | {a50} | {a99} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
            r.ttft.p50 / 1e3,
            r.ttft.p99 / 1e3,
            r.gap.p50 / 1e3,
            r.gap.p99 / 1e3,
            r.gap.p999 / 1e3,
            r.gap.max / 1e3,
            thousands(r.ok as f64),
            r.errors,
        );
    }
    s.push('\n');
    s
}

fn translation_section(t: &Translation) -> String {
    let mut s = format!(
        "## CPU per request by protocol pair, at {} req/s\n\n",
        thousands(t.rate)
    );
    s.push_str("lmrelay's CPU per request, and its ratio to nginx's CPU per request for a same-protocol OpenAI → OpenAI exchange streamed the same way (nginx never translates). Streams have no spacing here.\n\n");
    s.push_str("| Client → upstream | streamed | proxy CPU µs/req | × nginx's | latency p50 µs | p99 µs | errors |\n");
    s.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for (streamed, reference) in [(false, &t.nginx_plain), (true, &t.nginx_streamed)] {
        if let Some(r) = reference {
            let _ = writeln!(
                s,
                "| nginx, OpenAI → OpenAI (reference) | {} | {} | 1.00 | {} | {} | {} |",
                if streamed { "yes" } else { "no" },
                r.cpu_us_per_req.map_or("—".into(), |c| format!("{c:.1}")),
                us(r.latency.p50),
                us(r.latency.p99),
                r.errors
            );
        }
    }
    for row in &t.rows {
        let _ = writeln!(
            s,
            "| lmrelay, {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            if row.streamed { "yes" } else { "no" },
            row.lmrelay
                .cpu_us_per_req
                .map_or("—".into(), |c| format!("{c:.1}")),
            t.ratio(row).map_or("—".into(), |r| format!("{r:.2}")),
            us(row.lmrelay.latency.p50),
            us(row.lmrelay.latency.p99),
            row.lmrelay.errors
        );
    }
    s.push('\n');
    s
}

fn resources_section(startup: Option<&Startup>, memory: Option<&Held>) -> String {
    let mut s = String::from("## Memory, start-up and size\n\n| Measure | Value |\n|---|---|\n");
    if let Some(st) = startup {
        let ms: Vec<f64> = st.ready.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let _ = writeln!(
            s,
            "| Ready: spawn to the first 200 from `/healthz` | median {:.1} ms over {} starts (fastest {:.1}, slowest {:.1}) |",
            median(&ms),
            ms.len(),
            ms.iter().copied().fold(f64::INFINITY, f64::min),
            ms.iter().copied().fold(0.0, f64::max),
        );
        let _ = writeln!(
            s,
            "| Resident memory, idle, 1 s after ready | {:.1} MB |",
            mb(st.idle_rss_kb)
        );
        let _ = writeln!(
            s,
            "| Release binary | {:.1} MB; stripped {} |",
            st.binary_bytes as f64 / 1e6,
            st.stripped_bytes
                .map_or("— (no `strip`)".into(), |b| format!(
                    "{:.1} MB",
                    b as f64 / 1e6
                ))
        );
    }
    if let Some(m) = memory {
        let per_stream = if m.open_at_peak > 0 {
            (m.rss_peak_kb.max(m.hwm_kb).saturating_sub(m.rss_before_kb)) as f64 * 1024.0
                / m.open_at_peak as f64
                / 1e3
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "| {} slow streams (a chunk a second), fresh process | {} open at once; resident {:.1} MB before, {:.1} MB at the highest sample, high-water mark {:.1} MB; ≈ {:.1} kB per stream; {} frames received; {} errors |",
            thousands(m.target as f64),
            thousands(m.open_at_peak as f64),
            mb(m.rss_before_kb),
            mb(m.rss_peak_kb),
            mb(m.hwm_kb),
            per_stream,
            thousands(m.frames as f64),
            m.errors,
        );
    }
    s.push('\n');
    s
}

fn profile_section(p: &Profile) -> String {
    let mut s = String::from("## Profile of lmrelay under load\n\n");
    let _ = writeln!(
        s,
        "{} over {:.0} s of non-streamed OpenAI → OpenAI at {} req/s{}: self time by function (the top frames), by crate, and by object.\n",
        p.tool,
        p.seconds,
        thousands(p.rate),
        p.samples.map(|n| format!(", {} samples", thousands(n as f64))).unwrap_or_default()
    );
    if let Some(note) = &p.note {
        let _ = writeln!(s, "{note}.\n");
    }
    s.push_str("| self % | function | object |\n|---:|---|---|\n");
    for (share, object, symbol) in &p.symbols {
        let _ = writeln!(
            s,
            "| {share:.2} | `{}` | {object} |",
            symbol.replace('|', "\\|").replace('`', "'")
        );
    }
    s.push_str("\n| self % | crate (Rust) or object |\n|---:|---|\n");
    for (share, name) in &p.crates {
        let _ = writeln!(s, "| {share:.1} | {name} |");
    }
    s.push_str("\n| self % | object |\n|---:|---|\n");
    for (share, object) in &p.objects {
        let _ = writeln!(s, "| {share:.1} | {object} |");
    }
    s.push('\n');
    s
}

fn us(v: f64) -> String {
    format!("{v:.0}")
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |b| format!("{:.0}%", b * 100.0))
}

/// `12345.6` → `12,346`.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    let out = groups.join(",");
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The median of unsorted values; 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(p50: f64, p99: f64, cpu: f64) -> OpenLoop {
        let mut o = OpenLoop::default();
        o.rate = 1000.0;
        o.latency = Summary {
            count: 100,
            p50,
            p90: p50,
            p99,
            p999: p99,
            max: p99,
        };
        o.ok = 100;
        o.cpu_us_per_req = Some(cpu);
        o
    }

    fn report() -> Report {
        Report {
            latency: vec![LatencyRun {
                rate: 1000.0,
                runs: Trio {
                    direct: open(100.0, 200.0, 0.0),
                    nginx: Some(open(200.0, 400.0, 20.0)),
                    lmrelay: open(240.0, 380.0, 29.0),
                },
            }],
            startup: Some(Startup {
                ready: vec![Duration::from_millis(12), Duration::from_millis(14)],
                idle_rss_kb: 10_000,
                binary_bytes: 30_000_000,
                stripped_bytes: Some(19_000_000),
            }),
            ..Report::default()
        }
    }

    #[test]
    fn targets_are_ratios_to_nginx() {
        let t = report().targets();
        let find = |name: &str| t.iter().find(|x| x.name.starts_with(name)).cloned();
        let cpu = find("CPU per non-streamed").expect("cpu target");
        assert_eq!(cpu.met, Some(true), "{cpu:?}");
        assert!(cpu.result.contains("1.45×"), "{cpu:?}");
        let p50 = find("Added latency at 1,000 req/s, median").expect("p50");
        assert_eq!(p50.met, Some(true), "{p50:?}"); // 140 ≤ 100 + 50
        let p99 = find("Added latency at 1,000 req/s, p99").expect("p99");
        assert_eq!(p99.met, Some(true), "{p99:?}"); // 180 ≤ 200
        assert_eq!(find("Maximum throughput").and_then(|x| x.met), None);
        assert_eq!(find("Idle resident").and_then(|x| x.met), Some(true));
        assert_eq!(find("Ready").and_then(|x| x.met), Some(true));
        assert_eq!(find("Stripped").and_then(|x| x.met), Some(true));
    }

    #[test]
    fn a_missed_target_says_so() {
        let mut r = report();
        r.latency[0].runs.lmrelay = open(400.0, 900.0, 60.0);
        let t = r.targets();
        assert!(t
            .iter()
            .filter(|x| x.name.starts_with("CPU") || x.name.starts_with("Added"))
            .all(|x| x.met == Some(false)));
        assert!(r.markdown().contains("**not met**"));
    }

    fn tp(rate: f64, busy: f64) -> Throughput {
        let mut t = Throughput::default();
        t.rate = rate;
        t.proxy_busy = Some(busy);
        t
    }

    #[test]
    fn throughput_compares_full_cores_or_projects() {
        let mut r = report();
        let target = |r: &Report| {
            r.targets()
                .into_iter()
                .find(|t| t.name.starts_with("Maximum throughput"))
                .expect("throughput target")
        };
        r.throughput = Some(Trio {
            direct: tp(20_000.0, 0.0),
            nginx: Some(tp(20_000.0, 0.95)),
            lmrelay: tp(14_000.0, 0.99),
        });
        let t = target(&r);
        assert_eq!(t.met, Some(true), "{t:?}");
        assert!(
            t.result.contains("0.70×") && t.result.contains("both cores full"),
            "{t:?}"
        );
        // nginx held back by the load side at 60% of its core: 30,000 req/s on a full one.
        r.throughput = Some(Trio {
            direct: tp(20_000.0, 0.0),
            nginx: Some(tp(18_000.0, 0.6)),
            lmrelay: tp(10_000.0, 1.0),
        });
        let t = target(&r);
        assert_eq!(t.met, Some(false), "{t:?}");
        assert!(t.result.contains("0.33× projected"), "{t:?}");
    }

    #[test]
    fn markdown_has_every_path() {
        let md = report().markdown();
        assert!(md.contains("| direct to the mock |"));
        assert!(md.contains("| nginx |"));
        assert!(md.contains("| lmrelay |"));
        assert!(md.contains("## Targets"));
    }

    #[test]
    fn number_formats() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
