//! A CPU profile of lmrelay under load: with `perf` (software `cpu-clock` samples, which work
//! in VMs without hardware counters) attached to the running gateway, or, where `perf` cannot
//! run, with callgrind (a gateway started under valgrind, instructions counted over a slower
//! load). Either way: the top functions by self time, by crate, and by object.

use crate::procs::{command, Proc};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A `perf record` attached to a process.
pub struct Recording {
    proc: Proc,
    data: std::path::PathBuf,
    started: Instant,
}

/// Starts sampling `pid` at 999 Hz into `dir/perf.data`; `perf` itself runs on `cpu`.
pub fn start(pid: u32, dir: &Path, cpu: Option<usize>) -> Result<Recording, String> {
    let perf = crate::procs::find_program("perf").ok_or("`perf` is not installed")?;
    let data = dir.join("perf.data");
    let mut cmd = command(&perf, cpu);
    cmd.args(["record", "-e", "cpu-clock", "-F", "1999", "-p"])
        .arg(pid.to_string())
        .arg("-o")
        .arg(&data);
    let log = dir.join("perf.log");
    let mut proc = Proc::spawn("perf", cmd, &log, false)?;
    // perf needs a moment to attach; it exits at once when it cannot.
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = proc.exited() {
        return Err(format!(
            "perf record exited ({status}): {}",
            crate::servers::tail(&log)
        ));
    }
    Ok(Recording {
        proc,
        data,
        started: Instant::now(),
    })
}

impl Recording {
    /// Stops recording (SIGINT, as Ctrl-C) and summarises: the `top` heaviest functions and
    /// every object above 0.5%.
    pub fn finish(mut self, top: usize) -> Result<crate::report::Profile, String> {
        let seconds = self.started.elapsed().as_secs_f64();
        crate::procs::signal(self.proc.pid(), "INT");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.proc.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let symbols = perf_report(&self.data, "dso,symbol")?;
        let objects = perf_report(&self.data, "dso")?;
        let samples = objects.iter().map(|r| r.samples).sum::<u64>();
        let crates = by_crate(&symbols);
        Ok(crate::report::Profile {
            tool: "`perf record -e cpu-clock -F 1999 -p PID`".into(),
            seconds,
            rate: 0.0,
            samples: Some(samples),
            symbols: symbols
                .into_iter()
                .take(top)
                .map(|r| (r.share, r.object, shorten(&r.symbol, 140)))
                .collect(),
            objects: objects
                .into_iter()
                .filter(|r| r.share >= 0.5)
                .map(|r| (r.share, r.object))
                .collect(),
            crates,
            note: Some(
                "Kernel time is TCP on loopback, epoll and wake-ups, which nginx pays too".into(),
            ),
        })
    }
}

/// A gateway started under `valgrind --tool=callgrind`, uninstrumented (counting nothing, and
/// faster) until [`Callgrind::collect`].
pub struct Callgrind {
    pub gateway: crate::servers::Lmrelay,
    out: std::path::PathBuf,
    started: Option<Instant>,
}

/// Starts lmrelay under callgrind, instrumentation off until [`Callgrind::collect`].
pub fn callgrind(
    lmrelay: &Path,
    dir: &Path,
    mock: &crate::servers::Mock,
    key_hash: &str,
    cpu: Option<usize>,
) -> Result<Callgrind, String> {
    let valgrind = crate::procs::find_program("valgrind").ok_or("valgrind is not installed")?;
    let out = dir.join("callgrind.out");
    let args = vec![
        "--tool=callgrind".to_owned(),
        "--instr-atstart=no".to_owned(),
        format!("--callgrind-out-file={}", out.display()),
    ];
    let gateway = crate::servers::Lmrelay::start_under(
        lmrelay,
        dir,
        mock,
        key_hash,
        cpu,
        Some((&valgrind, &args)),
    )?;
    Ok(Callgrind {
        gateway,
        out,
        started: None,
    })
}

impl Callgrind {
    /// Turns instrumentation on: counting starts (`callgrind_control -i on`).
    pub fn collect(&mut self) -> Result<(), String> {
        let status = Command::new("callgrind_control")
            .args(["-i", "on", &self.gateway.pid().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("cannot run callgrind_control: {e}"))?;
        if !status.success() {
            return Err(format!("callgrind_control -i on failed: {status}"));
        }
        self.started = Some(Instant::now());
        Ok(())
    }

    /// Stops the gateway (callgrind writes its counts at exit) and summarises them over the
    /// `requests` answered while counting.
    pub fn finish(mut self, requests: u64, top: usize) -> Result<crate::report::Profile, String> {
        let seconds = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        self.gateway.proc.stop(Duration::from_secs(60));
        let out = Command::new("callgrind_annotate")
            .args(["--inclusive=no", "--threshold=100", "--auto=no"])
            .arg(&self.out)
            .output()
            .map_err(|e| format!("cannot run callgrind_annotate: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "callgrind_annotate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let (total, rows) = parse_callgrind(&String::from_utf8_lossy(&out.stdout));
        let mut objects: Vec<(f64, String)> = Vec::new();
        for r in &rows {
            match objects.iter_mut().find(|(_, o)| *o == r.object) {
                Some((s, _)) => *s += r.share,
                None => objects.push((r.share, r.object.clone())),
            }
        }
        objects.retain(|(s, _)| *s >= 0.5);
        objects.sort_by(|a, b| b.0.total_cmp(&a.0));
        let crates = by_crate(&rows);
        Ok(crate::report::Profile {
            tool: "callgrind (`valgrind --tool=callgrind`, instructions, user space only)".into(),
            seconds,
            rate: 0.0,
            samples: None,
            symbols: rows
                .into_iter()
                .take(top)
                .map(|r| (r.share, r.object, shorten(&r.symbol, 140)))
                .collect(),
            objects,
            crates,
            note: (requests > 0 && total > 0).then(|| {
                format!(
                    "{} requests counted, ≈ {} instructions per request in lmrelay's own process",
                    requests,
                    crate::report::thousands(total as f64 / requests as f64)
                )
            }),
        })
    }
}

/// `callgrind_annotate --inclusive=no` output: the program total, and rows of
/// `N (P%)  file:function [object]`, merged by function (inlined pieces of one function are
/// listed once per source file), heaviest first.
fn parse_callgrind(text: &str) -> (u64, Vec<Row>) {
    let count = |s: &str| s.replace(',', "").parse::<u64>().ok();
    let mut total = 0;
    let mut rows: Vec<Row> = Vec::new();
    // The function table starts after its `file:function` header and ends at the next
    // separator (annotated sources may follow, whose call lines must not be read).
    let mut in_table = false;
    for line in text.lines() {
        let line = line.trim();
        if line.ends_with("file:function") {
            in_table = true;
            continue;
        }
        if in_table && !rows.is_empty() && (line.is_empty() || line.starts_with("---")) {
            break;
        }
        let Some((n, rest)) = line.split_once(" (") else {
            continue;
        };
        let Some(n) = count(n) else { continue };
        let Some((share, rest)) = rest.split_once("%)") else {
            continue;
        };
        let Ok(share) = share.trim().parse::<f64>() else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with("PROGRAM TOTALS") {
            total = n;
            continue;
        }
        let (place, object) = match rest.rsplit_once(" [") {
            Some((p, o)) if o.ends_with(']') => {
                let o = o.trim_end_matches(']');
                (p, o.rsplit('/').next().unwrap_or(o).to_owned())
            }
            _ => (rest, "?".to_owned()),
        };
        let symbol = match place.split_once(':') {
            Some((_, f)) => f,
            None => place,
        };
        let symbol = strip_hash(symbol.trim()).to_owned();
        match rows.iter_mut().find(|r| r.symbol == symbol) {
            Some(r) => {
                r.share += share;
                r.samples += n;
                if r.object == "?" {
                    r.object = object;
                }
            }
            None => rows.push(Row {
                share,
                samples: n,
                object,
                symbol,
            }),
        }
    }
    rows.sort_by(|a, b| b.share.total_cmp(&a.share));
    (total, rows)
}

struct Row {
    share: f64,
    samples: u64,
    object: String,
    symbol: String,
}

fn perf_report(data: &Path, sort: &str) -> Result<Vec<Row>, String> {
    let out = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "-n",
            "-t",
            ";",
            "--sort",
            sort,
            "-i",
        ])
        .arg(data)
        .output()
        .map_err(|e| format!("cannot run perf report: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "perf report failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(parse_report(&String::from_utf8_lossy(&out.stdout)))
}

/// Rows of `perf report -n -t ';'`: `share%;samples;object[;[.] symbol]…`.
fn parse_report(text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(';').map(str::trim).collect();
        if fields.len() < 3 {
            continue;
        }
        let Ok(share) = fields[0].trim_end_matches('%').parse::<f64>() else {
            continue;
        };
        let samples = fields[1].parse().unwrap_or(0);
        let symbol = fields
            .get(3)
            .map(|s| {
                let s = s.trim_start_matches("[.]").trim_start_matches("[k]").trim();
                strip_hash(s).to_owned()
            })
            .unwrap_or_default();
        rows.push(Row {
            share,
            samples,
            object: fields[2].to_owned(),
            symbol,
        });
    }
    rows
}

/// Self time summed by where the code comes from: the crate of a Rust function (its path's
/// first segment, or the trait's for `<T as trait>` impls of generic types), the kernel, or
/// another object (libc: malloc, memmove, …). Shares of 0.5% or more, heaviest first.
fn by_crate(rows: &[Row]) -> Vec<(f64, String)> {
    let mut sums: Vec<(f64, String)> = Vec::new();
    for r in rows {
        let name = if r.object.contains("kernel") {
            "kernel".to_owned()
        } else if r.symbol.contains("::") {
            crate_of(&r.symbol).to_owned()
        } else {
            r.object.clone()
        };
        match sums.iter_mut().find(|(_, n)| *n == name) {
            Some((s, _)) => *s += r.share,
            None => sums.push((r.share, name)),
        }
    }
    sums.retain(|(s, _)| *s >= 0.5);
    sums.sort_by(|a, b| b.0.total_cmp(&a.0));
    sums
}

/// `tokio::runtime::x` → `tokio`; `<hyper::proto::Server as T>::f` → `hyper`;
/// `<F as axum::handler::Handler>::call` → `axum`; `core::ptr::drop_in_place<lmrelay::X>` →
/// `core`.
fn crate_of(symbol: &str) -> &str {
    let s = symbol.trim_start_matches('<').trim_start_matches('&');
    let head = s.split("::").next().unwrap_or(s);
    // A generic parameter (`F`, `T`) or a primitive: the trait names the crate.
    if !head.contains(' ') && head.len() > 1 && head.chars().any(|c| c.is_ascii_lowercase()) {
        return head.split('<').next().unwrap_or(head);
    }
    match s.split_once(" as ") {
        Some((_, t)) => t.split("::").next().unwrap_or(t),
        None => head,
    }
}

/// At most `max` characters, with `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// `foo::bar::h0123456789abcdef` → `foo::bar`.
fn strip_hash(symbol: &str) -> &str {
    match symbol.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => symbol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_callgrind_annotate() {
        let text = "--------\nIr\n53,821,900 (100.0%)  PROGRAM TOTALS\n--------\nIr  file:function\n--------\n  6,287,330 (11.68%)  ./string/memmove.S:__memcpy_avx [/usr/lib/x86_64-linux-gnu/libc.so.6]\n  778,589 ( 1.45%)  /rustc/x/library/core/src/hash/sip.rs:<core::hash::sip::Hasher<S> as core::hash::Hasher>::write [/work/main/target/release/lmrelay]\n  524,702 ( 0.97%)  /rustc/x/a.rs:core::str::converts::from_utf8\n  100,000 ( 0.50%)  /rustc/x/b.rs:core::str::converts::from_utf8 [/work/main/target/release/lmrelay]\n\n-- Auto-annotated source: x.rs\n  9,999,999 (99.00%)  => tokio::runtime::task::core::Core<T,S>::poll (1,664x)\n";
        let (total, rows) = parse_callgrind(text);
        assert_eq!(total, 53_821_900);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].symbol, "__memcpy_avx");
        assert_eq!(rows[0].object, "libc.so.6");
        // The two pieces of from_utf8 are merged (0.97 + 0.50), which puts it second.
        assert_eq!(rows[1].symbol, "core::str::converts::from_utf8");
        assert_eq!(rows[1].object, "lmrelay");
        assert!((rows[1].share - 1.47).abs() < 1e-9);
        assert_eq!(
            rows[2].symbol,
            "<core::hash::sip::Hasher<S> as core::hash::Hasher>::write"
        );
    }

    #[test]
    fn crates_of_symbols() {
        assert_eq!(
            crate_of("tokio::runtime::io::driver::Driver::turn"),
            "tokio"
        );
        assert_eq!(
            crate_of(
                "<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::encode"
            ),
            "hyper"
        );
        assert_eq!(
            crate_of("<F as axum::handler::Handler<(M,T1)>>::call::{{closure}}"),
            "axum"
        );
        assert_eq!(crate_of("core::ptr::drop_in_place<lmrelay::X>"), "core");
        assert_eq!(
            crate_of("<core::hash::sip::Hasher<S> as core::hash::Hasher>::write"),
            "core"
        );
        assert_eq!(
            crate_of("lmrelay_protocol::openai::request::encode_request"),
            "lmrelay_protocol"
        );
        assert_eq!(shorten("abcdef", 3), "abc…");
    }

    #[test]
    fn parses_perf_rows() {
        let text = "# header\n 7.25%  ;120;libc.so.6        ;[.] __strpbrk_sse42   ;-  -\n 1.00%;3;lmrelay;[.] lmrelay::relay::chat::h0123456789abcdef\n\n";
        let rows = parse_report(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].share, 7.25);
        assert_eq!(rows[0].samples, 120);
        assert_eq!(rows[0].object, "libc.so.6");
        assert_eq!(rows[0].symbol, "__strpbrk_sse42");
        assert_eq!(rows[1].symbol, "lmrelay::relay::chat");
        let crates = by_crate(&rows);
        assert_eq!(crates[0], (7.25, "libc.so.6".to_owned()));
        assert_eq!(crates[1], (1.0, "lmrelay".to_owned()));
        let dso = parse_report(" 70.31% ;700;dash             \n");
        assert_eq!(
            (dso[0].object.as_str(), dso[0].symbol.as_str()),
            ("dash", "")
        );
    }
}
