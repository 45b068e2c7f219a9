//! The servers a benchmark starts, each pinned to the benchmark's CPUs and in its own process
//! group, and guaranteed to be stopped however the benchmark ends (success, error, Ctrl-C, panic):
//! a stray nginx or gateway left behind would skew the next run on the same machine.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// How to start one server.
pub struct Spec<'a> {
    /// Its role in reports and errors, e.g. `consumer-gw`.
    pub role: &'a str,
    /// The program.
    pub program: &'a Path,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(&'a str, String)>,
    /// Where its output goes (appended), so a failure can show it.
    pub log: PathBuf,
}

/// A started server: killed, with its whole process group, when dropped.
pub struct Server {
    role: String,
    child: Option<tokio::process::Child>,
    pid: u32,
    log: PathBuf,
}

impl Server {
    /// Starts `spec` under `taskset -c cpus` (which execs it, so the process id is the server's)
    /// in a new process group. Standard output and error go to its log; when `ready` is given,
    /// waits up to `timeout` for a line of standard output containing it and returns that line.
    pub async fn start(
        spec: Spec<'_>,
        cpus: &str,
        ready: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<(Server, Option<String>)> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .with_context(|| format!("creating {}", spec.log.display()))?;
        let mut command = tokio::process::Command::new("taskset");
        command
            .arg("-c")
            .arg(cpus)
            .arg(spec.program)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(if ready.is_some() {
                Stdio::piped()
            } else {
                Stdio::from(log.try_clone()?)
            })
            .stderr(Stdio::from(log))
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().with_context(|| {
            format!(
                "starting the {} ({} under taskset)",
                spec.role,
                spec.program.display()
            )
        })?;
        let pid = child
            .id()
            .with_context(|| format!("the {} exited at once", spec.role))?;
        let stdout = child.stdout.take();
        let mut server = Server {
            role: spec.role.to_owned(),
            child: Some(child),
            pid,
            log: spec.log,
        };
        let (Some(stdout), Some(ready)) = (stdout, ready) else {
            return Ok((server, None));
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut copy = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&server.log)
            .await?;
        let wait = async {
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) => {
                        copy.write_all(format!("{line}\n").as_bytes()).await?;
                        if line.contains(ready) {
                            return Ok(line);
                        }
                    }
                    Ok(None) | Err(_) => bail!("exited before it was ready"),
                }
            }
        };
        let line = match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(server.failure(&e.to_string())),
            Err(_) => {
                return Err(server.failure(&format!("not ready within {} s", timeout.as_secs())))
            }
        };
        // Keep draining so the server never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if copy
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok((server, Some(line)))
    }

    /// Its process id (the root of its process tree).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// An error naming this server, with the end of its log.
    pub fn failure(&mut self, what: &str) -> anyhow::Error {
        let status = match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(status))) => format!(" ({status})"),
            _ => String::new(),
        };
        anyhow::anyhow!(
            "the {} {what}{status}; the end of its log:\n{}",
            self.role,
            log_tail(&self.log, 20)
        )
    }

    /// An error if the server has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => Ok(()),
            _ => Err(self.failure("has exited")),
        }
    }
}

/// The last `n` lines of a log file (for error messages).
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Sends `signal` to the process group `pgid` (the `kill` utility, so no unsafe code here).
fn signal_group(signal: &str, pgid: u32) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Every server of a benchmark. Dropping it stops them all at once: SIGTERM to each process
/// group (graceful for the gateways, fast shutdown for nginx), then SIGKILL to whatever is left
/// after a few seconds.
#[derive(Default)]
pub struct Servers(Vec<Server>);

impl Servers {
    /// Adds a started server; it is stopped with the others.
    pub fn add(&mut self, server: Server) -> usize {
        self.0.push(server);
        self.0.len() - 1
    }

    /// The server at `index`.
    pub fn get_mut(&mut self, index: usize) -> &mut Server {
        &mut self.0[index]
    }

    /// Fails naming the first server that has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.0.iter_mut().try_for_each(Server::check_alive)
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let running = |s: &mut Server| {
            s.child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
        };
        let mut stop_now = Vec::new();
        for server in &mut self.0 {
            if running(server) {
                signal_group("TERM", server.pid);
            } else {
                // It died on its own: its group may hold orphans (an nginx master's workers).
                stop_now.push(server.pid);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.0.iter_mut().any(running) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for server in &mut self.0 {
            if running(server) || stop_now.contains(&server.pid) {
                signal_group("KILL", server.pid);
            }
            if let Some(child) = server.child.as_mut() {
                let _ = child.start_kill();
                let _ = child.try_wait();
            }
        }
    }
}

/// Free loopback ports for listeners whose address must be known before they start (nginx's
/// configuration, a gateway's announced address), never the same one twice.
#[derive(Default)]
pub struct Ports(std::collections::HashSet<u16>);

impl Ports {
    /// A port no one listens on now, chosen at random below Linux's ephemeral range (32768 and
    /// up), where the benchmark's many outgoing connections take their local ports, so it is not
    /// taken before the server binds it.
    pub fn pick(&mut self) -> anyhow::Result<u16> {
        use std::hash::{BuildHasher, RandomState};
        let random = RandomState::new();
        let port = (0u64..1000)
            .map(|attempt| 20_000 + (random.hash_one(attempt) % 12_000) as u16)
            .find(|port| {
                !self.0.contains(port) && std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok()
            })
            .context("no free port in 20000-31999 after 1000 tries")?;
        self.0.insert(port);
        Ok(port)
    }
}
