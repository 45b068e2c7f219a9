//! The `psn` processes the benchmark runs (one authority, many gateways): spawned with their
//! output in log files, killed and reaped when dropped so that no error path leaves one
//! behind, and measured through `/proc` (CPU time) and their JSON logs.

use anyhow::{bail, Context};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// Kernel clock ticks per second for `/proc/<pid>/stat` times (`USER_HZ`): 100 on every Linux
/// architecture psn runs on; it is part of the kernel's user ABI, not a tunable.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// One running `psn` process.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `psn args…` with JSON logs (standard error) and standard output in `log`.
    pub fn spawn(
        name: &str,
        psn: &Path,
        args: &[&str],
        log: PathBuf,
        log_filter: &str,
    ) -> anyhow::Result<Self> {
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(psn)
            .args(args)
            .env("PSN_LOG_FORMAT", "json")
            .env("PSN_LOG", log_filter)
            // Traces stay off whatever the caller's environment says: exporting them would
            // add work the benchmark does not mean to measure.
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(file.try_clone().context("log file handle")?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {} ({})", name, psn.display()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails, with the end of its log, if the process has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited ({status}); the end of its log:\n{}",
                self.name,
                log_tail(&self.log, 20)
            ),
            Err(e) => bail!("{}: cannot check the process: {e}", self.name),
        }
    }

    /// Bytes the process has caused to be written to storage so far (`write_bytes` of
    /// `/proc/<pid>/io`).
    pub fn written_bytes(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/io", self.pid());
        let io = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        written_bytes_from_io(&io).with_context(|| format!("{path} has no write_bytes"))
    }

    /// CPU time (user + system) the process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let path = format!("/proc/{}/stat", self.pid());
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        cpu_seconds_from_stat(&stat).with_context(|| format!("{path} is not in the known format"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGKILL, then reap, so the data directories can be removed right after: a benchmark's
        // processes hold nothing worth a graceful stop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds this benchmark process has used so far.
pub fn own_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    cpu_seconds_from_stat(&stat).context("/proc/self/stat is not in the known format")
}

/// CPU seconds the whole machine has been busy (all CPUs together, anything but idle and I/O
/// wait) since boot.
pub fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    busy_seconds_from_proc_stat(&stat).context("/proc/stat is not in the known format")
}

/// Busy CPU seconds from the text of `/proc/stat`: the first (`cpu`) line's user, nice, system,
/// irq, softirq and steal times; idle (4th) and iowait (5th) are left out.
pub fn busy_seconds_from_proc_stat(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let times: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| times.get(i).copied())
        .sum::<Option<u64>>()?;
    Some(busy as f64 / CLOCK_TICKS_PER_SECOND)
}

/// User + system CPU seconds from the text of `/proc/<pid>/stat`. The command name (field 2)
/// is in parentheses and may contain spaces, so fields are counted after its closing one:
/// there, state is the first and utime and stime are the 12th and 13th.
pub fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / CLOCK_TICKS_PER_SECOND)
}

/// `write_bytes` from the text of `/proc/<pid>/io`.
pub fn written_bytes_from_io(io: &str) -> Option<u64> {
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// The last `lines` lines of a log, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// Loopback ports for listeners that are bound later by another process (a gateway's address is
/// announced at enrolment, before it runs). Chosen below Linux's ephemeral range (32768 and up),
/// where outgoing connections take their local ports, as the tests do; never the same one twice.
pub struct Ports {
    taken: Mutex<HashSet<u16>>,
}

impl Ports {
    /// No port handed out yet.
    pub fn new() -> Self {
        Self {
            taken: Mutex::new(HashSet::new()),
        }
    }

    /// A port nothing listens on now and this run has not handed out before.
    pub fn free(&self) -> anyhow::Result<u16> {
        use std::hash::{BuildHasher, RandomState};
        let random = RandomState::new();
        let mut taken = match self.taken.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for attempt in 0u64..10_000 {
            let port = 20_000 + (random.hash_one(attempt) % 12_000) as u16;
            if !taken.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                taken.insert(port);
                return Ok(port);
            }
        }
        bail!("no free loopback port between 20000 and 32000")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        // A command name with spaces and a parenthesis, as /proc shows it.
        let stat = "4242 (psn (gw) 1) S 1 4242 4242 0 -1 4194304 1200 0 0 0 250 130 0 0 20 0 9 0";
        assert_eq!(cpu_seconds_from_stat(stat), Some(3.8));
        assert_eq!(cpu_seconds_from_stat("4242 (psn) S 1 2"), None);
        assert_eq!(cpu_seconds_from_stat("no parenthesis"), None);
    }

    #[test]
    fn written_bytes_are_the_storage_writes_not_the_syscall_ones() {
        let io =
            "rchar: 10\nwchar: 99999\nread_bytes: 0\nwrite_bytes: 4096\ncancelled_write_bytes: 0\n";
        assert_eq!(written_bytes_from_io(io), Some(4096));
        assert_eq!(written_bytes_from_io("rchar: 1\n"), None);
    }

    #[test]
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 9000 300 7 8 9 0 0\ncpu0 50 2 25 4500 150 3 4 4 0 0\n";
        assert_eq!(busy_seconds_from_proc_stat(stat), Some(1.79));
        assert_eq!(busy_seconds_from_proc_stat("cpu  1 2\n"), None);
        assert_eq!(busy_seconds_from_proc_stat("intr 1\n"), None);
    }

    #[test]
    fn ports_are_never_handed_out_twice() {
        let ports = Ports::new();
        let a = ports.free().expect("port");
        let b = ports.free().expect("port");
        assert_ne!(a, b);
        assert!((20_000..32_000).contains(&a));
    }
}
