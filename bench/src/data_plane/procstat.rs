//! CPU time of process trees from `/proc`, so each run reports what every process role (backend,
//! each proxy, the load generator) spent per request. Throughput alone hides a proxy that is fast
//! only because it takes more of the machine than its anchor.

use anyhow::{bail, Context};
use std::collections::HashMap;

/// The fields of `/proc/PID/stat` the harness uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Field 4: the parent's process id.
    pub ppid: u32,
    /// Field 14: user-mode CPU time, in clock ticks.
    pub utime: u64,
    /// Field 15: kernel-mode CPU time, in clock ticks.
    pub stime: u64,
    /// Fields 16 and 17: CPU time of waited-for children, in clock ticks.
    pub children_time: u64,
}

impl Stat {
    /// User plus kernel time, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.utime + self.stime
    }
}

/// Parses the text of `/proc/PID/stat`. The command name (field 2) is in parentheses and may
/// itself contain spaces and parentheses, so the fields are counted from the *last* `)`.
pub fn parse_stat(text: &str) -> anyhow::Result<Stat> {
    let close = text
        .rfind(')')
        .with_context(|| format!("no ')' closing the command name in {text:?}"))?;
    // Fields from 3 (state) onwards.
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        let raw = rest
            .get(n - 3)
            .with_context(|| format!("field {n} missing in {text:?}"))?;
        raw.parse()
            .with_context(|| format!("field {n} ({raw:?}) is not a number in {text:?}"))
    };
    let ppid = u32::try_from(field(4)?).context("parent process id out of range")?;
    Ok(Stat {
        ppid,
        utime: field(14)?,
        stime: field(15)?,
        children_time: field(16)? + field(17)?,
    })
}

/// Reads and parses `/proc/PID/stat`; `None` once the process is gone.
pub fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text).ok()
}

/// This process's own stat: its `children_time` grows by the CPU time of each child it reaps,
/// which is how the load generator (a short-lived child) is measured.
pub fn read_self() -> anyhow::Result<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    parse_stat(&text)
}

/// Every live process's parent, from `/proc/*/stat`.
fn parents() -> HashMap<u32, u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?.ppid)))
        .collect()
}

/// `roots` and all their descendants (nginx masters fork their workers).
pub fn with_descendants(roots: &[u32]) -> Vec<u32> {
    let parents = parents();
    let mut all: Vec<u32> = roots.to_vec();
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        all.extend(
            parents
                .iter()
                .filter(|(pid, ppid)| **ppid == parent && !all.contains(pid))
                .map(|(pid, _)| *pid)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    all
}

/// CPU ticks spent so far by the process trees under `roots` (processes that already exited are
/// not counted, which is why every measured server stays up for the whole benchmark).
pub fn tree_ticks(roots: &[u32]) -> u64 {
    with_descendants(roots)
        .into_iter()
        .filter_map(read_stat)
        .map(|s| s.cpu_ticks())
        .sum()
}

/// Clock ticks per second (`getconf CLK_TCK`), the unit of `/proc/PID/stat` times.
pub fn clock_ticks_per_second() -> anyhow::Result<u64> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("running getconf CLK_TCK")?;
    if !out.status.success() {
        bail!("getconf CLK_TCK failed: {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let ticks: u64 = text
        .trim()
        .parse()
        .with_context(|| format!("getconf CLK_TCK printed {text:?}"))?;
    if ticks == 0 {
        bail!("getconf CLK_TCK printed 0");
    }
    Ok(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "1234 (nginx) S 1200 1234 1234 0 -1 4194560 1016 0 0 0 57 31 4 6 20 0 1 0 \
                         1234567 10805248 1456 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 \
                         1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn parses_a_plain_stat_line() {
        let s = parse_stat(PLAIN).expect("parse");
        assert_eq!(s.ppid, 1200);
        assert_eq!(s.utime, 57);
        assert_eq!(s.stime, 31);
        assert_eq!(s.children_time, 10);
        assert_eq!(s.cpu_ticks(), 88);
    }

    #[test]
    fn command_names_with_spaces_and_parentheses() {
        let line = PLAIN.replace("(nginx)", "(nginx: worker (x) ) 1 2)");
        let s = parse_stat(&line).expect("parse");
        assert_eq!((s.ppid, s.utime, s.stime), (1200, 57, 31));
        let line = PLAIN.replace("(nginx)", "())");
        assert_eq!(parse_stat(&line).expect("parse").ppid, 1200);
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse_stat("").is_err());
        assert!(parse_stat("1234 nginx S 1 2 3").is_err());
        assert!(parse_stat("1234 (nginx) S 1200 1234").is_err());
        let bad = PLAIN.replace(" 57 31 ", " 5x 31 ");
        let err = parse_stat(&bad).expect_err("not a number");
        assert!(err.to_string().contains("field 14"), "{err}");
    }

    #[test]
    fn reads_this_process() {
        let me = read_self().expect("self");
        assert!(me.ppid > 0);
        let pid = std::process::id();
        assert!(with_descendants(&[pid]).contains(&pid));
        assert!(read_stat(pid).is_some());
    }
}
