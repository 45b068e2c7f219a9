//! Gateways as real `psn gateway serve` processes, for tests that kill, stop and restart them.

use super::Net;
use psn_gateway::GatewayDir;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// `psn gateway serve` for `member`, logging errors only; returns once it says it is serving.
pub fn spawn_gateway(net: &Net, member: &str) -> GatewayProcess {
    spawn_gateway_with(net, member, &[], &[("PSN_LOG", "error")])
}

/// `psn gateway serve` for `member` as a real process, with extra arguments and environment
/// variables (e.g. `OTEL_*`); returns once it says it is serving. Its standard output is drained
/// from then on; standard error is the test's, so its warnings show in a failing test's output.
/// The process is killed when the returned value is dropped, so a failing test leaves none behind.
pub fn spawn_gateway_with(
    net: &Net,
    member: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> GatewayProcess {
    let dir = net.members[member].dir.root().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_psn"))
        .args(["gateway", "serve", "--data-dir", &dir])
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn gateway");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("serving") => break,
            Some(Ok(_)) => continue,
            _ => panic!(
                "{member}'s gateway exited before serving: {:?}",
                child.wait()
            ),
        }
    }
    // Keep draining so the gateway never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    GatewayProcess(Some(child))
}

/// `psn gateway serve` for the gateway in `dir`, run in `part`'s namespace of `lan`, logging
/// errors only; returns once it says it is serving.
pub fn spawn_gateway_in(lan: &super::netns::Lan, part: &str, dir: &GatewayDir) -> GatewayProcess {
    let mut command = lan.command(part, env!("CARGO_BIN_EXE_psn"));
    command
        .args(["gateway", "serve", "--data-dir"])
        .arg(dir.root())
        .env("PSN_LOG", "error");
    spawn_until(command, "serving").0
}

/// A gateway process started by [`spawn_gateway_with`].
pub struct GatewayProcess(Option<Child>);

impl GatewayProcess {
    /// Stops the gateway as an operator would (SIGINT) and waits for it to exit cleanly.
    pub fn interrupt(mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
        assert!(
            child.wait().expect("wait").success(),
            "clean stop on SIGINT"
        );
    }

    /// SIGKILL: no chance to flush, seal or deliver anything.
    pub fn kill(mut self) {
        if let Some(mut child) = self.0.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Any long-running `psn` command (`authority serve`, `gateway serve`, `demo`) as a real process:
/// returns once a line of its standard output contains `ready`, with everything it printed up to
/// and including that line. As with [`spawn_gateway_with`], standard output is drained from then
/// on, standard error is the test's, and the process is killed if the returned value is dropped.
pub fn spawn_until(mut command: Command, ready: &str) -> (GatewayProcess, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().expect("spawn psn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = String::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                printed.push_str(&line);
                printed.push('\n');
                if line.contains(ready) {
                    break;
                }
            }
            _ => panic!(
                "{command:?} exited before printing {ready:?}: {:?}\n{printed}",
                child.wait()
            ),
        }
    }
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (GatewayProcess(Some(child)), printed)
}
