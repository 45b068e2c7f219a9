//! The load generator: one bounded `wrk` run, and the parsing of what it prints. wrk is the
//! common tool for this comparison (nginx and X-Road figures are usually wrk figures), and its
//! `--latency` distribution gives the percentiles the goals are stated in.

use anyhow::{bail, Context};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What one wrk run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WrkResult {
    /// Completed requests (any status).
    pub requests: u64,
    /// `Requests/sec`.
    pub requests_per_sec: f64,
    /// Latency percentiles from `--latency`, in microseconds.
    pub latency_us: Percentiles,
    /// Responses with a status of 400 or more (`Non-2xx or 3xx responses`).
    pub non_2xx: u64,
    /// Socket errors: connect, read, write, timeout.
    pub socket_errors: SocketErrors,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// wrk's `Socket errors:` line (all zero when it prints none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SocketErrors {
    /// Failed connects.
    pub connect: u64,
    /// Failed reads (e.g. a connection closed mid-response).
    pub read: u64,
    /// Failed writes.
    pub write: u64,
    /// Requests without an answer within wrk's timeout.
    pub timeout: u64,
}

impl SocketErrors {
    /// All socket errors.
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }
}

impl WrkResult {
    /// Why this run cannot be trusted, if it cannot: no requests, error statuses or socket
    /// errors all mean a topology did not carry the load it was given.
    pub fn failure(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.requests == 0 {
            why.push("no requests completed".to_owned());
        }
        if self.non_2xx > 0 {
            why.push(format!("{} non-2xx responses", self.non_2xx));
        }
        let e = self.socket_errors;
        if e.total() > 0 {
            why.push(format!(
                "socket errors: connect {}, read {}, write {}, timeout {}",
                e.connect, e.read, e.write, e.timeout
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// A duration as wrk prints it (`774.12us`, `1.20ms`, `2.00s`, `1.00m`, `1.00h`), in µs.
pub fn parse_duration_us(text: &str) -> anyhow::Result<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .with_context(|| format!("no unit in the duration {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .with_context(|| format!("no number in the duration {text:?}"))?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => bail!("unknown unit {unit:?} in the duration {text:?}"),
    };
    Ok(value * scale)
}

/// A count as wrk prints it in `Socket errors:` (plain integer).
fn parse_count(text: &str, what: &str) -> anyhow::Result<u64> {
    text.trim_end_matches(',')
        .parse()
        .with_context(|| format!("{what}: {text:?} is not a count"))
}

/// Parses wrk's standard output (run with `--latency`). Fails, quoting the output, when a figure
/// the report needs is missing or unreadable, rather than reporting a zero.
pub fn parse_output(text: &str) -> anyhow::Result<WrkResult> {
    let context = || format!("in wrk's output:\n{text}");
    let mut requests = None;
    let mut rps = None;
    let mut percentiles: [Option<f64>; 4] = [None; 4];
    let mut non_2xx = 0;
    let mut socket_errors = SocketErrors::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", value] => {
                rps = Some(
                    value
                        .parse::<f64>()
                        .with_context(|| format!("Requests/sec {value:?}"))
                        .with_context(context)?,
                );
            }
            [count, "requests", "in", ..] => {
                requests = Some(parse_count(count, "requests").with_context(context)?);
            }
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                non_2xx = parse_count(count, "non-2xx responses").with_context(context)?;
            }
            ["Socket", "errors:", "connect", c, "read", r, "write", w, "timeout", t] => {
                socket_errors = SocketErrors {
                    connect: parse_count(c, "connect errors").with_context(context)?,
                    read: parse_count(r, "read errors").with_context(context)?,
                    write: parse_count(w, "write errors").with_context(context)?,
                    timeout: parse_count(t, "timeouts").with_context(context)?,
                };
            }
            [percent, value] if percent.ends_with('%') => {
                let slot = match *percent {
                    "50%" => 0,
                    "75%" => 1,
                    "90%" => 2,
                    "99%" => 3,
                    _ => continue,
                };
                percentiles[slot] = Some(
                    parse_duration_us(value)
                        .with_context(|| format!("the {percent} latency"))
                        .with_context(context)?,
                );
            }
            _ => {}
        }
    }
    let requests = requests
        .context("no \"N requests in\" line")
        .with_context(context)?;
    let requests_per_sec = rps
        .context("no \"Requests/sec:\" line")
        .with_context(context)?;
    let [p50, p75, p90, p99] = percentiles;
    let latency_us = if requests == 0 {
        // wrk prints no distribution when nothing completed; the run is reported as failed.
        Percentiles::default()
    } else {
        let need = |p: Option<f64>, name: &str| {
            p.with_context(|| format!("no {name} line in the latency distribution (--latency)"))
                .with_context(context)
        };
        Percentiles {
            p50: need(p50, "50%")?,
            p75: need(p75, "75%")?,
            p90: need(p90, "90%")?,
            p99: need(p99, "99%")?,
        }
    };
    Ok(WrkResult {
        requests,
        requests_per_sec,
        latency_us,
        non_2xx,
        socket_errors,
    })
}

/// One request shape: the method, a body for POST, and headers (the psn topologies add
/// `PSN-Client`).
pub struct Request<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The body's size (0 for none).
    pub body_bytes: usize,
    /// Extra headers.
    pub headers: Vec<(&'a str, &'a str)>,
}

/// The Lua script that makes wrk send `request`. Only `wrk.method`, `wrk.body` and
/// `wrk.headers` are set, with no per-request or per-response callbacks, which keep wrk on its
/// fast path (one prebuilt request, statuses counted in C).
pub fn script(request: &Request<'_>) -> String {
    let mut lua = format!(
        "-- psn-bench data-plane: {} with a {}-byte body\nwrk.method = {:?}\n",
        request.method, request.body_bytes, request.method
    );
    if request.body_bytes > 0 {
        lua.push_str(&format!(
            "wrk.body = string.rep(\"x\", {})\nwrk.headers[\"Content-Type\"] = \"application/octet-stream\"\n",
            request.body_bytes
        ));
    }
    for (name, value) in &request.headers {
        lua.push_str(&format!("wrk.headers[{name:?}] = {value:?}\n"));
    }
    lua
}

/// Writes `request`'s script into `dir` under `name` and returns its path.
pub fn write_script(dir: &Path, name: &str, request: &Request<'_>) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, script(request))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// One wrk load.
pub struct Load<'a> {
    /// The URL.
    pub url: &'a str,
    /// The Lua script.
    pub script: &'a Path,
    /// Open connections.
    pub connections: u32,
    /// How long.
    pub duration: Duration,
    /// `taskset -c` CPU list.
    pub cpus: &'a str,
}

/// Runs `load` under `taskset`, one wrk thread for one connection and two otherwise, bounded in
/// time (wrk is killed if it overruns by 30 s).
pub async fn run(load: &Load<'_>) -> anyhow::Result<WrkResult> {
    let threads = if load.connections <= 1 { 1 } else { 2 };
    let secs = load.duration.as_secs().max(1);
    let mut command = tokio::process::Command::new("taskset");
    command
        .args(["-c", load.cpus, "wrk"])
        .arg(format!("-t{threads}"))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{secs}s"))
        .args(["--timeout", "10s", "--latency", "-s"])
        .arg(load.script)
        .arg(load.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = command.spawn().context("starting wrk under taskset")?;
    let limit = Duration::from_secs(secs + 30);
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("wrk did not finish within {} s", limit.as_secs()))?
        .context("waiting for wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            stdout
        );
    }
    parse_output(&stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Running 10s test @ http://127.0.0.1:20001/data
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   774.12us  200.00us   5.00ms   90.00%
    Req/Sec    29.00k     1.00k   31.00k    70.00%
  Latency Distribution
     50%  774.00us
     75%    1.00ms
     90%    1.20ms
     99%    2.50s 
  578900 requests in 10.00s, 100.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec:  57890.12
Transfer/sec:     10.00MB
";

    #[test]
    fn parses_a_full_run() {
        let r = parse_output(SAMPLE).expect("parse");
        assert_eq!(r.requests, 578_900);
        assert!((r.requests_per_sec - 57_890.12).abs() < 1e-9);
        assert_eq!(r.latency_us.p50, 774.0);
        assert_eq!(r.latency_us.p75, 1_000.0);
        assert_eq!(r.latency_us.p90, 1_200.0);
        assert_eq!(r.latency_us.p99, 2_500_000.0);
        assert_eq!(r.non_2xx, 5);
        assert_eq!(
            r.socket_errors,
            SocketErrors {
                connect: 0,
                read: 2,
                write: 0,
                timeout: 3
            }
        );
        let why = r.failure().expect("a failed run");
        assert!(
            why.contains("5 non-2xx") && why.contains("timeout 3"),
            "{why}"
        );
    }

    #[test]
    fn a_clean_run_has_no_failure() {
        let clean: String = SAMPLE
            .lines()
            .filter(|l| !l.contains("errors") && !l.contains("Non-2xx"))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = parse_output(&clean).expect("parse");
        assert_eq!((r.non_2xx, r.socket_errors.total()), (0, 0));
        assert_eq!(r.failure(), None);
    }

    #[test]
    fn zero_requests_parse_but_fail() {
        let text = "Running 1s test @ http://127.0.0.1:1/data\n  1 threads and 1 connections\n\
                    \x20 0 requests in 1.00s, 0.00B read\n  Socket errors: connect 1, read 0, write 0, timeout 0\n\
                    Requests/sec:      0.00\nTransfer/sec:       0.00B\n";
        let r = parse_output(text).expect("parse");
        assert_eq!(r.requests, 0);
        let why = r.failure().expect("failed");
        assert!(why.contains("no requests"), "{why}");
    }

    #[test]
    fn malformed_output_is_an_error_naming_what_is_missing() {
        let err = parse_output("").expect_err("empty");
        assert!(format!("{err:#}").contains("requests in"), "{err:#}");
        let no_rps: String = SAMPLE
            .lines()
            .filter(|l| !l.starts_with("Requests/sec"))
            .map(|l| format!("{l}\n"))
            .collect();
        let err = parse_output(&no_rps).expect_err("no rps");
        assert!(format!("{err:#}").contains("Requests/sec"), "{err:#}");
        let no_p99 = SAMPLE.replace("     99%    2.50s \n", "");
        let err = parse_output(&no_p99).expect_err("no p99");
        assert!(format!("{err:#}").contains("99%"), "{err:#}");
        let bad_unit = SAMPLE.replace("774.00us", "774.00xs");
        let err = parse_output(&bad_unit).expect_err("bad unit");
        assert!(format!("{err:#}").contains("unknown unit"), "{err:#}");
        let bad_count = SAMPLE.replace("578900 requests", "57x900 requests");
        assert!(parse_output(&bad_count).is_err());
        let bad_rps = SAMPLE.replace("57890.12", "fast");
        assert!(parse_output(&bad_rps).is_err());
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration_us("12us").expect("us"), 12.0);
        assert_eq!(parse_duration_us("1.5ms").expect("ms"), 1_500.0);
        assert_eq!(parse_duration_us("2s").expect("s"), 2e6);
        assert_eq!(parse_duration_us("1.00m").expect("m"), 60e6);
        assert_eq!(parse_duration_us("1h").expect("h"), 3600e6);
        assert!(parse_duration_us("12").is_err());
        assert!(parse_duration_us("ms").is_err());
        assert!(parse_duration_us("1.2.3ms").is_err());
    }

    #[test]
    fn scripts_set_method_body_and_headers() {
        let lua = script(&Request {
            method: "POST",
            body_bytes: 1024,
            headers: vec![("PSN-Client", "GB/LA/E10000016/revenues")],
        });
        assert!(lua.contains("wrk.method = \"POST\""), "{lua}");
        assert!(lua.contains("string.rep(\"x\", 1024)"), "{lua}");
        assert!(
            lua.contains("wrk.headers[\"PSN-Client\"] = \"GB/LA/E10000016/revenues\""),
            "{lua}"
        );
        let lua = script(&Request {
            method: "GET",
            body_bytes: 0,
            headers: vec![],
        });
        assert!(!lua.contains("wrk.body"), "{lua}");
    }
}
