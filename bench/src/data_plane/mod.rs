//! `psn-bench data-plane`: psn's gateway pair against its anchors on this machine, in one run.
//!
//! Four paths to the same backend process are measured with wrk, interleaved repetition by
//! repetition so that drift on a shared machine touches them alike: `direct` (wrk to the backend),
//! `nginx` (two nginx with mutual TLS 1.3 between them, the design's anchor), `psn` (consumer
//! gateway, mutual TLS, provider gateway, every feature on) and `psn-buffered` (the same pair, a
//! service whose audit records are buffered). Every process is pinned to the same CPUs and its
//! CPU time is reported per request; psn's ratios to the anchors are paired within each
//! repetition. The goals these figures answer are in `docs/design.md` ("Performance").

pub mod backend;
mod nginx;
mod probe;
mod process;
mod procstat;
mod psn_pair;
mod report;
mod wrk;

use anyhow::{bail, Context};
use bytes::Bytes;
use process::{Ports, Server, Servers, Spec};
use report::Run;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `psn-bench data-plane`.
#[derive(clap::Args)]
pub struct Args {
    /// Repetitions of the whole interleaved sequence [default: 5; --smoke: 1].
    #[arg(long)]
    reps: Option<u32>,
    /// Seconds of load per run [default: 10; --smoke: 1].
    #[arg(long)]
    duration: Option<u64>,
    /// wrk connection counts, comma-separated [default: 64,1; --smoke: 8].
    #[arg(long, value_delimiter = ',')]
    connections: Option<Vec<u32>>,
    /// Request shapes: `get` (GET /data) and `post` (POST /data with a 1 KiB body).
    #[arg(long, value_delimiter = ',', default_value = "get,post")]
    scenarios: Vec<Scenario>,
    /// Paths measured.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "direct,nginx,psn,psn-buffered"
    )]
    topologies: Vec<Topology>,
    /// CPUs every process runs on (`taskset -c` list, e.g. `0-1` or `0,2`) [default: all online].
    #[arg(long)]
    cpus: Option<String>,
    /// The psn binary [default: `psn` next to this program].
    #[arg(long)]
    psn: Option<PathBuf>,
    /// Where the JSON and Markdown reports are written.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// A few seconds' check that every path works (1 rep, 1 s runs, 8 connections); fails if
    /// any run fails.
    #[arg(long)]
    smoke: bool,
}

/// A request shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `GET /data`, about 100 bytes back.
    Get,
    /// `POST /data` with a 1 KiB body, about 100 bytes back.
    Post,
}

impl Scenario {
    /// The HTTP method.
    pub fn method(self) -> &'static str {
        match self {
            Scenario::Get => "GET",
            Scenario::Post => "POST",
        }
    }

    fn body_bytes(self) -> usize {
        match self {
            Scenario::Get => 0,
            Scenario::Post => backend::POST_BYTES,
        }
    }

    /// The body the backend answers with.
    fn expected_body(self) -> String {
        match self {
            Scenario::Get => backend::GET_BODY.to_owned(),
            Scenario::Post => backend::post_body(backend::POST_BYTES),
        }
    }
}

/// A path from wrk to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// wrk → backend.
    Direct,
    /// wrk → nginx A → mutual TLS 1.3 → nginx B → backend.
    Nginx,
    /// wrk → consumer gateway → mutual TLS 1.3 → provider gateway → backend, durable audit.
    Psn,
    /// The same pair, a service whose audit records are buffered.
    PsnBuffered,
}

impl Topology {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Direct => "direct",
            Topology::Nginx => "nginx",
            Topology::Psn => "psn",
            Topology::PsnBuffered => "psn-buffered",
        }
    }

    fn is_psn(self) -> bool {
        matches!(self, Topology::Psn | Topology::PsnBuffered)
    }
}

/// The settings a run used (recorded in the JSON report).
#[derive(Debug, Clone, Serialize)]
struct Settings {
    reps: u32,
    duration_s: u64,
    connections: Vec<u32>,
    scenarios: Vec<Scenario>,
    topologies: Vec<Topology>,
    cpus: String,
    psn: PathBuf,
    out: PathBuf,
    smoke: bool,
    wrk_threads: &'static str,
    post_body_bytes: usize,
    buffered_max_delay_ms: u64,
}

fn dedup<T: PartialEq + Clone>(values: &[T]) -> Vec<T> {
    let mut seen = Vec::new();
    for v in values {
        if !seen.contains(v) {
            seen.push(v.clone());
        }
    }
    seen
}

/// Checks a `taskset -c` CPU list: comma-separated CPUs or ascending ranges.
fn check_cpu_list(list: &str) -> anyhow::Result<()> {
    let number = |s: &str| -> anyhow::Result<u32> {
        s.parse()
            .with_context(|| format!("{s:?} in the CPU list {list:?} is not a CPU number"))
    };
    if list.is_empty() {
        bail!("the CPU list is empty");
    }
    for item in list.split(',') {
        match item.split_once('-') {
            Some((a, b)) if number(a)? > number(b)? => {
                bail!("the range {item:?} in the CPU list {list:?} runs backwards")
            }
            Some(_) => {}
            None => {
                number(item)?;
            }
        }
    }
    Ok(())
}

impl Settings {
    fn from_args(args: Args) -> anyhow::Result<Settings> {
        let smoke = args.smoke;
        let reps = args.reps.unwrap_or(if smoke { 1 } else { 5 });
        let duration_s = args.duration.unwrap_or(if smoke { 1 } else { 10 });
        let connections =
            dedup(
                &args
                    .connections
                    .unwrap_or_else(|| if smoke { vec![8] } else { vec![64, 1] }),
            );
        if reps == 0 || duration_s == 0 {
            bail!("--reps and --duration must be at least 1");
        }
        if connections.is_empty() || connections.contains(&0) {
            bail!("--connections must list counts of at least 1");
        }
        let cpus = match args.cpus {
            Some(cpus) => cpus,
            None => std::fs::read_to_string("/sys/devices/system/cpu/online")
                .context("reading the online CPUs")?
                .trim()
                .to_owned(),
        };
        check_cpu_list(&cpus)?;
        let psn = match args.psn {
            Some(psn) => psn,
            None => std::env::current_exe()
                .context("locating this program")?
                .with_file_name("psn"),
        };
        if !psn.is_file() {
            bail!(
                "no psn binary at {} (build it with `cargo build --release -p psn`, or give --psn)",
                psn.display()
            );
        }
        Ok(Settings {
            reps,
            duration_s,
            connections,
            scenarios: dedup(&args.scenarios),
            topologies: dedup(&args.topologies),
            cpus,
            psn: std::path::absolute(psn)?,
            out: args.out,
            smoke,
            wrk_threads: "1 for 1 connection, else 2",
            post_body_bytes: backend::POST_BYTES,
            buffered_max_delay_ms: psn_pair::BUFFERED_MAX_DELAY.as_millis() as u64,
        })
    }
}

/// What the machine is (recorded in the reports: figures from different machines do not
/// compare).
#[derive(Debug, Serialize)]
struct Machine {
    nproc: usize,
    online_cpus: String,
    cpu_model: String,
    kernel: String,
    date: String,
    revision: String,
    versions: BTreeMap<&'static str, String>,
}

/// The first line of a command's output (standard output, else standard error), or `unknown`.
fn first_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            let out = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            out.lines()
                .find(|l| !l.trim().is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Machine {
    fn describe(settings: &Settings, date: String) -> Machine {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned())
        };
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let mut versions = BTreeMap::new();
        versions.insert("wrk", first_line("wrk", &["-v"]));
        versions.insert(
            "psn",
            first_line(&settings.psn.display().to_string(), &["--version"]),
        );
        if settings.topologies.contains(&Topology::Nginx) {
            versions.insert("nginx", first_line("nginx", &["-v"]));
        }
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            online_cpus: read("/sys/devices/system/cpu/online"),
            cpu_model,
            kernel: read("/proc/sys/kernel/osrelease"),
            date,
            revision: crate::provenance::revision()
                .unwrap_or_else(|| "not a git checkout".to_owned()),
            versions,
        }
    }
}

/// Fails unless `program` is on the `PATH`.
fn require_tool(program: &str, hint: &str) -> anyhow::Result<()> {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    if !found {
        bail!("{program} is not installed ({hint}); bench/run installs it");
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
fn interrupted() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Runs the benchmark and writes its reports; fails (after reporting) if any run failed.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let settings = Settings::from_args(args)?;
    require_tool("taskset", "util-linux")?;
    require_tool("wrk", "apt-get install wrk")?;
    if settings.topologies.contains(&Topology::Nginx) {
        require_tool("nginx", "apt-get install nginx-light")?;
    }
    let stop = interrupted()?;
    // Dropping `measure` on interruption stops every server it started.
    tokio::select! {
        result = measure(&settings) => result,
        _ = stop => bail!("interrupted; every server the benchmark started was stopped"),
    }
}

/// Where each path is reached, and the process trees whose CPU time it costs.
struct Paths {
    urls: BTreeMap<Topology, String>,
    /// Role name and root process id, per topology (wrk is measured apart).
    roles: BTreeMap<Topology, Vec<(&'static str, u32)>>,
}

async fn measure(settings: &Settings) -> anyhow::Result<()> {
    let clock_ticks = procstat::clock_ticks_per_second()?;
    let work = tempfile::Builder::new()
        .prefix("psn-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    // Declared after `work`, so dropped (every server stopped) before it is removed.
    let mut servers = Servers::default();
    let mut ports = Ports::default();
    let started = std::time::Instant::now();
    eprintln!("starting the servers on CPUs {}", settings.cpus);
    let paths = start_servers(settings, &mut servers, &mut ports, work.path()).await?;
    warm_up(settings, &paths).await?;
    eprintln!(
        "servers ready in {:.1} s; {} runs of {} s each",
        started.elapsed().as_secs_f64(),
        settings.reps as usize
            * settings.scenarios.len()
            * settings.connections.len()
            * settings.topologies.len(),
        settings.duration_s
    );

    let scripts = work.path().join("scripts");
    std::fs::create_dir_all(&scripts)?;
    let client = psn_pair::client_header();
    let mut runs = Vec::new();
    for rep in 1..=settings.reps {
        for &scenario in &settings.scenarios {
            for &connections in &settings.connections {
                for &topology in &settings.topologies {
                    servers.check_alive()?;
                    let headers = if topology.is_psn() {
                        vec![("PSN-Client", client.as_str())]
                    } else {
                        vec![]
                    };
                    let script = wrk::write_script(
                        &scripts,
                        &format!("{}-{}", scenario.method(), topology.name()),
                        &wrk::Request {
                            method: scenario.method(),
                            body_bytes: scenario.body_bytes(),
                            headers,
                        },
                    )?;
                    let run = measure_one(
                        settings,
                        &paths,
                        clock_ticks,
                        (rep, scenario, connections, topology),
                        &script,
                    )
                    .await?;
                    eprintln!("{}", progress_line(&run, settings.reps));
                    runs.push(run);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
    }
    servers.check_alive()?;
    drop(servers);
    write_reports(settings, &runs)
}

/// Starts the backend, then the nginx pair and the psn pair in front of it, as selected.
async fn start_servers(
    settings: &Settings,
    servers: &mut Servers,
    ports: &mut Ports,
    work: &Path,
) -> anyhow::Result<Paths> {
    let me = std::env::current_exe().context("locating this program")?;
    let (backend, line) = Server::start(
        Spec {
            role: "backend",
            program: &me,
            args: vec!["backend".into(), "--listen".into(), "127.0.0.1:0".into()],
            env: vec![],
            log: work.join("backend.log"),
        },
        &settings.cpus,
        Some(backend::READY),
        Duration::from_secs(10),
    )
    .await?;
    let backend_pid = backend.pid();
    servers.add(backend);
    let backend_url = line
        .as_deref()
        .and_then(|l| l.split_once(backend::READY))
        .map(|(_, url)| url.trim().to_owned())
        .context("the backend did not say where it listens")?;
    let mut urls = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for &topology in &settings.topologies {
        roles.insert(topology, vec![("backend", backend_pid)]);
    }
    urls.insert(Topology::Direct, format!("{backend_url}/data"));
    if settings.topologies.contains(&Topology::Nginx) {
        let host_port = backend_url.trim_start_matches("http://");
        let pair = tokio::time::timeout(
            Duration::from_secs(60),
            nginx::start(servers, ports, work, &settings.cpus, host_port),
        )
        .await
        .context("the nginx pair did not start within 60 s")??;
        urls.insert(Topology::Nginx, format!("{}/data", pair.url));
        roles.entry(Topology::Nginx).or_default().extend([
            ("nginx-front", pair.front_pid),
            ("nginx-back", pair.back_pid),
        ]);
    }
    if settings.topologies.iter().any(|t| t.is_psn()) {
        let pair = tokio::time::timeout(
            Duration::from_secs(120),
            psn_pair::start(
                servers,
                ports,
                work,
                &settings.cpus,
                &settings.psn,
                &backend_url,
            ),
        )
        .await
        .context("the psn pair did not start within 120 s")??;
        for (topology, service) in [
            (Topology::Psn, psn_pair::SERVICE),
            (Topology::PsnBuffered, psn_pair::SERVICE_BUFFERED),
        ] {
            urls.insert(topology, pair.url(service, "/data"));
            if let Some(r) = roles.get_mut(&topology) {
                r.extend([
                    ("consumer-gw", pair.consumer_pid),
                    ("provider-gw", pair.provider_pid),
                    ("authority", pair.authority_pid),
                ]);
            }
        }
    }
    Ok(Paths { urls, roles })
}

/// A few requests of each shape through each path, each checked for a 200 and the backend's
/// exact body: connection pools fill, caches warm, and a broken path fails here, before
/// anything is measured.
async fn warm_up(settings: &Settings, paths: &Paths) -> anyhow::Result<()> {
    let client = psn_pair::client_header();
    for &topology in &settings.topologies {
        let url = paths
            .urls
            .get(&topology)
            .with_context(|| format!("no URL for {}", topology.name()))?;
        let headers: Vec<(&str, &str)> = if topology.is_psn() {
            vec![("PSN-Client", client.as_str())]
        } else {
            vec![]
        };
        for &scenario in &settings.scenarios {
            let body = Bytes::from(vec![b'x'; scenario.body_bytes()]);
            for _ in 0..20 {
                let answer = probe::send(
                    scenario.method(),
                    url,
                    &headers,
                    body.clone(),
                    Duration::from_secs(10),
                )
                .await
                .with_context(|| format!("warming up {}", topology.name()))?;
                if answer.status != 200 || answer.body != scenario.expected_body() {
                    bail!(
                        "{} {url} through {} answered {} {:?}, not 200 with the backend's body",
                        scenario.method(),
                        topology.name(),
                        answer.status,
                        answer.body
                    );
                }
            }
        }
    }
    Ok(())
}

/// One wrk run, with the CPU time of every process of the path around it.
async fn measure_one(
    settings: &Settings,
    paths: &Paths,
    clock_ticks: u64,
    (rep, scenario, connections, topology): (u32, Scenario, u32, Topology),
    script: &Path,
) -> anyhow::Result<Run> {
    let url = paths
        .urls
        .get(&topology)
        .with_context(|| format!("no URL for {}", topology.name()))?;
    let roles = paths.roles.get(&topology).cloned().unwrap_or_default();
    let ticks = || -> anyhow::Result<(Vec<u64>, u64)> {
        let servers = roles
            .iter()
            .map(|(_, pid)| procstat::tree_ticks(&[*pid]))
            .collect();
        // wrk is this process's child: its time is added to ours when it is reaped.
        Ok((servers, procstat::read_self()?.children_time))
    };
    let (before, wrk_before) = ticks()?;
    let result = wrk::run(&wrk::Load {
        url,
        script,
        connections,
        duration: Duration::from_secs(settings.duration_s),
        cpus: &settings.cpus,
    })
    .await;
    let (after, wrk_after) = ticks()?;
    let mut cpu_ticks: BTreeMap<String, u64> = roles
        .iter()
        .zip(before.iter().zip(&after))
        .map(|((role, _), (b, a))| ((*role).to_owned(), a.saturating_sub(*b)))
        .collect();
    cpu_ticks.insert("wrk".into(), wrk_after.saturating_sub(wrk_before));
    let (wrk, failure) = match result {
        Ok(w) => {
            let failure = w.failure();
            (Some(w), failure)
        }
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let requests = wrk.as_ref().map_or(0, |w| w.requests);
    let mut cpu_us_per_request: BTreeMap<String, f64> = BTreeMap::new();
    if requests > 0 {
        let per_request = |t: u64| t as f64 * 1e6 / clock_ticks as f64 / requests as f64;
        for (role, t) in &cpu_ticks {
            cpu_us_per_request.insert(role.clone(), per_request(*t));
        }
        cpu_us_per_request.insert("all".into(), per_request(cpu_ticks.values().sum()));
    }
    Ok(Run {
        rep,
        scenario,
        connections,
        topology,
        url: url.clone(),
        wrk,
        cpu_us_per_request,
        cpu_ticks,
        failure,
    })
}

fn progress_line(run: &Run, reps: u32) -> String {
    let figures = match &run.wrk {
        Some(w) => format!(
            "{:>9} req/s  p50 {:>9}  p99 {:>9}",
            report::thousands(w.requests_per_sec),
            report::latency(w.latency_us.p50),
            report::latency(w.latency_us.p99)
        ),
        None => "no result".to_owned(),
    };
    let failure = run
        .failure
        .as_deref()
        .map(|f| format!("  FAILED: {f}"))
        .unwrap_or_default();
    format!(
        "[rep {}/{reps}] {:<4} {:>3} conns {:<12} {figures}{failure}",
        run.rep,
        run.scenario.method(),
        run.connections,
        run.topology.name()
    )
}

/// Writes `OUT/data-plane-<timestamp>.{json,md}`, prints the Markdown, and fails if any run did.
fn write_reports(settings: &Settings, runs: &[Run]) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .context("formatting the timestamp")?;
    let date = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .context("formatting the date")?;
    let machine = Machine::describe(settings, date);
    let groups = report::summarise(
        runs,
        &settings.scenarios,
        &settings.connections,
        &settings.topologies,
    );
    let heading = format!(
        "## psn-bench data-plane{}, {}\n\n{} CPUs ({}), Linux {}, {}; all processes on CPUs {}; \
         {} rep(s) x {} s per run, interleaved.",
        if settings.smoke { " (smoke)" } else { "" },
        machine.date,
        machine.nproc,
        machine.cpu_model,
        machine.kernel,
        machine.revision,
        settings.cpus,
        settings.reps,
        settings.duration_s
    );
    let md = report::markdown(&heading, &groups, runs);
    let json = serde_json::json!({
        "machine": machine,
        "settings": settings,
        "runs": runs,
        "summary": groups,
    });
    std::fs::create_dir_all(&settings.out)
        .with_context(|| format!("creating {}", settings.out.display()))?;
    let base = settings.out.join(format!("data-plane-{stamp}"));
    let (json_path, md_path) = (base.with_extension("json"), base.with_extension("md"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    println!("{md}");
    eprintln!("reports: {} and {}", json_path.display(), md_path.display());
    let failed = runs.iter().filter(|r| r.failure.is_some()).count();
    if failed > 0 {
        bail!(
            "{failed} of {} runs failed (listed in the report)",
            runs.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        for ok in ["0", "0-1", "0,2-3", "1,3"] {
            check_cpu_list(ok).expect(ok);
        }
        for bad in ["", "a", "0-", "3-1", "0,,1", "0;1"] {
            assert!(check_cpu_list(bad).is_err(), "{bad}");
        }
    }
}
