//! The markdown tables the benchmark prints (and that `docs/benchmarks.md` records).

use crate::load::RunResult;
use crate::stream_cpu::StreamCpu;
use crate::translate::Timing;
use std::fmt::Write;

/// Target: median latency the gateway adds to a non-streamed chat, in µs.
pub const ADDED_P50_TARGET_US: f64 = 200.0;
/// Target: gateway CPU per translated stream chunk, in µs.
pub const CHUNK_CPU_TARGET_US: f64 = 10.0;

/// One latency scenario: the direct run and the gateway run.
#[derive(Debug, Clone)]
pub struct LatencyRow {
    pub scenario: String,
    pub direct: RunResult,
    pub gateway: RunResult,
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn cpu(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}"))
}

/// Latency table: per scenario, both paths' percentiles and what the gateway adds.
pub fn latency_table(rows: &[LatencyRow]) -> String {
    let mut s = String::new();
    s.push_str(
        "| Scenario | Path | p50 µs | p90 µs | p99 µs | max µs | CPU µs/req | sent/s | errors |\n",
    );
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        for (path, run) in [
            ("direct to mock", &r.direct),
            ("through lmrelay", &r.gateway),
        ] {
            let l = &run.latency;
            let _ = writeln!(
                s,
                "| {} | {path} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {} |",
                r.scenario,
                l.p50,
                l.p90,
                l.p99,
                l.max,
                cpu(run.cpu_per_request),
                run.achieved_rate,
                run.errors
            );
        }
    }
    s.push('\n');
    s.push_str("| Scenario | added p50 µs | added p90 µs | added p99 µs | added CPU µs/req |\n");
    s.push_str("|---|---:|---:|---:|---:|\n");
    for r in rows {
        let (d, g) = (&r.direct.latency, &r.gateway.latency);
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {:.0} | {} |",
            r.scenario,
            g.p50 - d.p50,
            g.p90 - d.p90,
            g.p99 - d.p99,
            match (r.gateway.cpu_per_request, r.direct.cpu_per_request) {
                (Some(g), Some(d)) => format!("{:.0}", g - d),
                _ => "n/a".to_owned(),
            }
        );
    }
    for r in rows {
        for run in [&r.direct, &r.gateway] {
            if let Some(e) = &run.first_error {
                let _ = writeln!(s, "\nFirst error in {}: {e}", r.scenario);
            }
        }
    }
    s
}

/// The verdict on the latency target, from the first (non-streamed) scenario.
pub fn latency_verdict(row: &LatencyRow) -> String {
    let added = row.gateway.latency.p50 - row.direct.latency.p50;
    format!(
        "Added p50, {}: {added:.0} µs (target < {ADDED_P50_TARGET_US:.0} µs): {}",
        row.scenario,
        verdict(added < ADDED_P50_TARGET_US)
    )
}

/// Translation table: ns per upstream chunk, decode + encode, no network.
pub fn translate_table(rows: &[Timing]) -> String {
    let mut s = String::new();
    s.push_str("| Translation | chunks/pass | events | out KiB | ns/chunk (median) | ns/chunk (best) | target < 10 µs |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---|\n");
    for t in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {} |",
            t.case.label(),
            t.output.chunks,
            t.output.events,
            t.output.out_bytes as f64 / 1024.0,
            t.ns_per_chunk,
            t.ns_per_chunk_min,
            verdict(t.ns_per_chunk < CHUNK_CPU_TARGET_US * 1000.0)
        );
    }
    s
}

/// End-to-end CPU table: process CPU per upstream chunk, direct vs through the gateway.
pub fn stream_cpu_table(rows: &[(String, StreamCpu)]) -> String {
    let mut s = String::new();
    s.push_str("| Streamed exchange | streams × chunks | direct CPU µs/chunk | via lmrelay CPU µs/chunk | added µs/chunk (upper bound) | wall ms/stream direct → lmrelay |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|\n");
    for (name, c) in rows {
        let _ = writeln!(
            s,
            "| {name} | {} × {} | {:.1} | {:.1} | {:.1} | {:.1} → {:.1} |",
            c.streams,
            c.chunks_per_stream,
            c.direct_us_per_chunk(),
            c.gateway_us_per_chunk(),
            c.added_us_per_chunk(),
            c.direct.wall.as_secs_f64() * 1e3 / c.streams.max(1) as f64,
            c.gateway.wall.as_secs_f64() * 1e3 / c.streams.max(1) as f64,
        );
    }
    s
}
