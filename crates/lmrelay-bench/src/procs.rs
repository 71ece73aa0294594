//! Child processes and what Linux says about them: CPU pinning (through `taskset`), CPU time
//! (`/proc/PID/stat`), resident memory (`/proc/PID/status`) and children (for nginx's
//! workers). No libc: the workspace forbids `unsafe`, so everything goes through `/proc` and
//! util-linux.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the processes run: the proxy under test on one core, the mock upstream and the load
/// generator on another. `None` = unpinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinning {
    pub proxy: Option<usize>,
    pub load: Option<usize>,
}

impl Pinning {
    /// The first two CPUs this process may use, when there are two and `taskset` exists;
    /// otherwise unpinned.
    pub fn plan(cpus: &[usize], taskset: bool) -> Pinning {
        match cpus {
            [a, b, ..] if taskset => Pinning {
                proxy: Some(*a),
                load: Some(*b),
            },
            _ => Pinning {
                proxy: None,
                load: None,
            },
        }
    }

    /// One sentence for the report.
    pub fn describe(&self, cpus: &[usize], taskset: bool) -> String {
        match (self.proxy, self.load) {
            (Some(p), Some(l)) => format!(
                "the proxy under test (lmrelay, or nginx's master and worker) pinned to CPU {p}; \
                 the mock upstream and the load generator pinned to CPU {l}"
            ),
            _ if !taskset => "unpinned: `taskset` (util-linux) is not installed".to_owned(),
            _ => format!(
                "unpinned: this process may use only {} CPU(s) ({cpus:?}), so the proxy, the \
                 mock and the load generator share it",
                cpus.len()
            ),
        }
    }
}

/// The CPUs this process may run on (`Cpus_allowed_list` of `/proc/self/status`).
pub fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|list| parse_cpu_list(list.trim()))
        .unwrap_or_default()
}

/// `0-3,6,8-9` → `[0, 1, 2, 3, 6, 8, 9]`.
pub fn parse_cpu_list(list: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

/// Whether `program` is found on `PATH` (or is a path that exists).
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Pins every thread of this process to `cpu` (threads created later inherit it).
pub fn pin_self(cpu: usize) -> Result<(), String> {
    let status = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -p -c {cpu} failed: {status}"))
    }
}

/// Lowers this thread's timer slack (and so its future threads') to 1 ns, so that the pacer's
/// sleeps end on time instead of up to 50 µs late. Best effort.
pub fn tighten_timer_slack() {
    let _ = std::fs::write("/proc/self/timerslack_ns", "1");
}

/// A command for `program`, pinned to `cpu` through `taskset` (which execs it: the child's
/// pid is the program's).
pub fn command(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// A child process, stopped (SIGTERM, then SIGKILL after a grace period) when dropped.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Child,
    /// Other pids to SIGKILL at the end if they outlive the child (nginx's workers).
    pub also: Vec<u32>,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and stderr (and stdout, unless `keep_stdout`) appended to
    /// `log`.
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        log: &Path,
        keep_stdout: bool,
    ) -> Result<Proc, String> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        cmd.stdin(Stdio::null()).stderr(err);
        if keep_stdout {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(file);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            also: Vec::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// `Some(status)` if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL (also to `also`).
    pub fn stop(&mut self, grace: Duration) {
        if self.exited().is_none() {
            signal(self.pid(), "TERM");
            let deadline = Instant::now() + grace;
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.exited().is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for pid in std::mem::take(&mut self.also) {
            if Path::new(&format!("/proc/{pid}")).exists() {
                signal(pid, "KILL");
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

/// Sends a signal (`TERM`, `INT`, `KILL`, …) with `kill(1)`.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// `USER_HZ`, the unit of `/proc/PID/stat` times (`getconf CLK_TCK`; 100 if unknown).
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t: &u64| *t > 0)
            .unwrap_or(100)
    })
}

/// CPU time (user + system, all threads, exited ones included) of process `pid`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(Duration::from_micros(ticks * 1_000_000 / clock_ticks()))
}

/// The summed CPU time of `pids`; `None` if any cannot be read.
pub fn cpu_time_of(pids: &[u32]) -> Option<Duration> {
    pids.iter().map(|p| cpu_time(*p)).sum()
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`, …).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&status, field)
}

fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The direct children of `pid` (`/proc/PID/task/*/children`).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}

/// A free TCP port on 127.0.0.1 (bound, read, released; another process could take it before
/// the child binds it, which on a benchmark machine does not happen).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot bind a port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read a bound port: {e}"))
}

/// The first line of `program args…`'s output (stdout, else stderr), trimmed.
pub fn version_line(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    let line = String::from_utf8_lossy(&text)
        .lines()
        .next()?
        .trim()
        .to_owned();
    (!line.is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime() {
        let line = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat_ticks(line), Some(300));
    }

    #[test]
    fn reads_own_cpu_and_memory() {
        if cfg!(target_os = "linux") {
            let me = std::process::id();
            assert!(cpu_time(me).is_some());
            assert!(status_kb(me, "VmRSS").is_some_and(|kb| kb > 0));
            assert!(!allowed_cpus().is_empty());
        }
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_kb(s, "VmRSS"), Some(1024));
        assert_eq!(parse_status_kb(s, "VmHWM"), Some(2048));
        assert_eq!(parse_status_kb(s, "VmSwap"), None);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1"), vec![0, 1]);
        assert_eq!(parse_cpu_list("0-2,5, 7-8"), vec![0, 1, 2, 5, 7, 8]);
        assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
    }

    #[test]
    fn pinning_plan() {
        let p = Pinning::plan(&[2, 3], true);
        assert_eq!((p.proxy, p.load), (Some(2), Some(3)));
        assert_eq!(Pinning::plan(&[0], true).proxy, None);
        assert_eq!(Pinning::plan(&[0, 1], false).load, None);
        assert!(Pinning::plan(&[0], true)
            .describe(&[0], true)
            .contains("unpinned"));
    }
}
