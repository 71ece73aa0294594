//! Criterion's results (`target/criterion/*/new/estimates.json`), as a table for the report.

use std::fmt::Write;
use std::path::Path;

/// One benchmark's median time.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// `group/function`.
    pub id: String,
    pub median_ns: f64,
    /// Elements per iteration (stream chunks), when the benchmark declared a throughput.
    pub elements: Option<u64>,
}

/// Every benchmark criterion has results for under `dir` whose id starts with one of
/// `groups`, sorted by id.
pub fn read(dir: &Path, groups: &[&str]) -> Vec<Estimate> {
    let mut out = Vec::new();
    walk(dir, 0, &mut out);
    out.retain(|e| groups.iter().any(|g| e.id.starts_with(g)));
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<Estimate>) {
    if depth > 4 {
        return;
    }
    let new = dir.join("new");
    if new.join("estimates.json").is_file() {
        if let Some(e) = estimate(&new) {
            out.push(e);
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&entry.path(), depth + 1, out);
        }
    }
}

fn estimate(new: &Path) -> Option<Estimate> {
    let read = |name: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(new.join(name)).ok()?).ok()
    };
    let est = read("estimates.json")?;
    let bench = read("benchmark.json")?;
    let median_ns = est["median"]["point_estimate"].as_f64()?;
    let id = bench["full_id"].as_str()?.to_owned();
    let elements = bench["throughput"]["Elements"].as_u64();
    Some(Estimate {
        id,
        median_ns,
        elements,
    })
}

/// A markdown section of `estimates`.
pub fn section(estimates: &[Estimate]) -> String {
    let mut s = String::from("## Codec micro-benchmarks (criterion)\n\n");
    s.push_str("`cargo bench -p lmrelay-bench --bench codecs`: the pure work on captured mock traffic, no network. Median per call; for stream translation, per upstream chunk (decoder `feed` + encoder `push` of what it yields, as lmrelay's stream relay does).\n\n");
    s.push_str("| Benchmark | median | per chunk |\n|---|---:|---:|\n");
    for e in estimates {
        let per = e.elements.filter(|n| *n > 0).map_or("—".into(), |n| {
            format!("{:.0} ns", e.median_ns / n as f64)
        });
        let _ = writeln!(s, "| `{}` | {} | {per} |", e.id, duration(e.median_ns));
    }
    s.push('\n');
    s
}

fn duration(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_output() {
        let dir = std::env::temp_dir().join(format!("lmrelay-bench-micro-{}", std::process::id()));
        let new = dir.join("stream").join("openai_to_anthropic").join("new");
        std::fs::create_dir_all(&new).expect("mkdir");
        std::fs::write(
            new.join("estimates.json"),
            r#"{"median":{"point_estimate":2000000.0}}"#,
        )
        .expect("write");
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"full_id":"stream/openai_to_anthropic","throughput":{"Elements":1000}}"#,
        )
        .expect("write");
        let got = read(&dir, &["stream/"]);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            got,
            vec![Estimate {
                id: "stream/openai_to_anthropic".into(),
                median_ns: 2e6,
                elements: Some(1000)
            }]
        );
        let md = section(&got);
        assert!(
            md.contains("| `stream/openai_to_anthropic` | 2.00 ms | 2000 ns |"),
            "{md}"
        );
    }
}
