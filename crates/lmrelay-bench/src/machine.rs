//! The machine and the software measured, for the report.

use crate::procs::version_line;
use std::path::Path;
use std::process::Command;

/// What a reader needs to compare a report with their own numbers.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub cpu_model: String,
    /// CPUs online, and those this process may use.
    pub cpus_online: usize,
    pub cpus_allowed: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
    pub lmrelay: String,
    pub nginx: Option<String>,
    pub rustc: Option<String>,
    /// `git describe`-like: the commit, with `-dirty` when the tree has changes.
    pub commit: Option<String>,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
}

impl Machine {
    pub fn probe(lmrelay: &Path, nginx: Option<&Path>, cpus_allowed: usize) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let cpus_online = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .map(|s| crate::procs::parse_cpu_list(s.trim()).len())
            .unwrap_or(0);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_gib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| "Linux".to_owned());
        let rustc = std::env::var("LMRELAY_BENCH_RUSTC")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| version_line(Path::new("rustc"), &["--version"]));
        Machine {
            cpu_model,
            cpus_online,
            cpus_allowed,
            memory_gib,
            kernel,
            os,
            lmrelay: version_line(lmrelay, &["--version"]).unwrap_or_else(|| "lmrelay".into()),
            nginx: nginx
                .and_then(|n| version_line(n, &["-v"]))
                .map(|v| v.trim_start_matches("nginx version: ").to_owned()),
            rustc,
            commit: commit(),
            date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
        }
    }
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn commit() -> Option<String> {
    let head = output("git", &["rev-parse", "--short=10", "HEAD"])?;
    let dirty = output("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}
