//! Process CPU time (user + system, all threads, exited ones included) from
//! `/proc/self/stat`, without libc.

use std::time::Duration;

/// Linux's `USER_HZ`: the unit of `utime`/`stime` in `/proc/<pid>/stat`. It is 100 on every
/// mainstream architecture (the kernel's internal `HZ` does not leak into this file).
const CLOCK_TICKS_PER_SEC: u64 = 100;

/// CPU time the process has used so far; `None` off Linux or if the file is unreadable.
/// Resolution is one clock tick (10 ms): measure runs that use at least a second of CPU.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat)
}

/// `utime + stime` of a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces
/// and parentheses, so fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / CLOCK_TICKS_PER_SEC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime() {
        let line = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat(line), Some(Duration::from_millis(3000)));
    }

    #[test]
    fn reads_own_stat() {
        assert!(cfg!(not(target_os = "linux")) || process_cpu().is_some());
    }
}
