//! README.md, run. Every command line of the README's ```sh blocks is run in the README's order,
//! by the real `psn` binary in its own process, against the network the earlier commands built on
//! loopback. The commands run in a temporary directory that stands for the reader's working
//! directory, so `./gb`, `./kent-gw1` and `evidence.json` are the README's own paths. Example
//! values the test cannot use as they are (fixed ports, example hosts, ids known only at run
//! time) are replaced through [`Reader::substitute`]; commands it does not run are listed in
//! [`NOT_RUN`] with where they are covered. A README command that is neither run nor listed fails
//! the test, and so does a `psn` command without an entry in [`PROMISES`]: README and test cannot
//! drift apart.

mod common;

use common::process::{spawn_until, GatewayProcess};
use psn_gateway::GatewayDir;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const README: &str = include_str!("../../../README.md");

/// README commands this test does not run, and why, or where they are covered instead.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "cargo nextest run --workspace",
        "the test suite itself, this test included",
    ),
    (
        "bench/run",
        "a benchmark run of minutes; .ci/run checks the harness with `bench/run --smoke`",
    ),
    (
        "bench/run authority-scale",
        "a benchmark run of minutes; .ci/run checks the harness with `bench/run --smoke`",
    ),
    (
        "cargo bench -p psn-authority --bench config_build",
        "a criterion benchmark; `cargo clippy --all-targets` in .ci/run builds it",
    ),
    (
        "cargo bench -p psn-audit",
        "criterion benchmarks; `cargo clippy --all-targets` in .ci/run builds them",
    ),
    (
        "cargo bench -p psn-catalogue --bench search",
        "a benchmark of 100,000 listings in release; `cargo clippy --all-targets` in .ci/run builds it",
    ),
];

/// What each `psn` command (by the start of its README line) promises to print on standard
/// output; checked after it exits 0.
const PROMISES: &[(&str, &str)] = &[
    ("psn demo", "Ctrl-C stops the demo"),
    ("psn authority init", "initialised authority for network GB"),
    ("psn authority serve", "listening on https://127.0.0.1:"),
    (
        "psn authority member add GB/LA/E10000016",
        "registered GB/LA/E10000016 Kent County Council",
    ),
    ("psn authority member import", "1 already registered"),
    ("psn authority member list --class POL", "GB/POL/"),
    (
        "psn authority member show GB/LA/E10000016",
        "Kent County Council",
    ),
    (
        "psn authority subsystem add GB/LA/E10000016/revenues",
        "added subsystem GB/LA/E10000016/revenues",
    ),
    ("psn authority token create", "psn-enrol-1."),
    ("psn gateway enrol", "enrolled GB/LA/E10000016@gw1"),
    ("psn config verify", "valid: network GB"),
    ("psn gateway sync", "verified and stored"),
    ("psn gateway renew", "renewed: certificate"),
    ("psn authority member suspend", "suspended GB/LA/E10000016"),
    (
        "psn authority member reinstate",
        "reinstated GB/LA/E10000016",
    ),
    ("psn authority events", "GB/LA/E10000016"),
    ("psn federation export --file gb.anchor", "fingerprint "),
    ("psn federation export --file kent.anchor", "fingerprint "),
    ("psn federation import kent.anchor", "network      GB-KENT"),
    ("psn federation import gb.anchor", "network      GB\n"),
    ("psn federation list", "GB-KENT"),
    ("psn federation show GB-KENT", "fingerprint"),
    ("psn federation policy GB-KENT", "GB/LA/E10000016"),
    ("psn federation remove GB-KENT", "removed GB-KENT"),
    ("psn authority person add", "added kent-admin@kent.gov.uk"),
    ("psn authority person list", "kent-admin@kent.gov.uk"),
    ("psn gateway serve", "serving"),
    ("psn catalogue processes", "lgsl:4"),
    (
        "psn gateway service add",
        "published GB/GOV/D6/eligibility/fsm-check",
    ),
    ("psn gateway access grant", "/check*"),
    ("psn gateway access list", "/check*"),
    ("psn gateway access revoke", "GRANTEE"),
    ("psn gateway sla set", "99.9% per month, p95 under 500 ms"),
    ("psn gateway sla list", "GB/GOV/D6/eligibility/fsm-check"),
    (
        "psn sla report --service",
        "GB/GOV/D6/eligibility/fsm-check",
    ),
    ("psn sla report --provider", "service,"),
    ("psn sla report --consumer", "\"services\""),
    ("psn catalogue show", "Free school meals eligibility"),
    ("psn catalogue search", "GB/GOV/D6/eligibility/fsm-check"),
    ("psn catalogue partners", "Free school meals (lgsl:4)"),
    (
        "psn authority benchmark load-synthetic",
        "synthetic benchmark returns",
    ),
    ("psn benchmark metrics", "psn:4004"),
    ("psn benchmark peers", "Peers of Kent County Council"),
    (
        "psn benchmark report --process psn:4004 --member",
        "Kent County Council",
    ),
    ("psn benchmark submit", "3 accepted"),
    (
        "psn benchmark report --process psn:4004 --output csv",
        "section,",
    ),
    ("psn compliance framework list", "psn-coco"),
    (
        "psn compliance framework show psn-coco",
        "Boundary firewalls and internet gateways",
    ),
    ("psn compliance submit", "submitted, 9 answers"),
    ("psn compliance submissions", "sub-1"),
    ("psn compliance review", "issued cert-1 (connection 2026.1)"),
    ("psn compliance status", "Kent County Council"),
    ("psn compliance check", "holds changed"),
    ("psn audit verify", "INTACT"),
    ("psn audit show", "GB/LA/E10000016/revenues"),
    ("psn audit export", "to evidence.json"),
    ("psn audit archive", "archived segments"),
    (
        "psn authority gateway revoke",
        "revoked GB/LA/E10000016@gw1",
    ),
];

const KENT: &str = "GB/LA/E10000016";
const SERVICE: &str = "GB/GOV/D6/eligibility/fsm-check";

// The fake backend runs on this test's runtime while the binary's calls block a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_readme_command_runs_in_order_and_does_what_it_says() {
    let mut reader = Reader::new().await;
    let mut not_run = BTreeSet::new();
    for line in readme_commands(README) {
        let key = normalised(&line);
        match NOT_RUN.iter().find(|(listed, _)| *listed == key) {
            Some((listed, _)) => {
                not_run.insert(*listed);
            }
            None => reader.run(&line).await,
        }
    }
    let stale: Vec<_> = PROMISES
        .iter()
        .map(|(start, _)| *start)
        .filter(|start| !reader.promised.contains(start))
        .chain(
            NOT_RUN
                .iter()
                .map(|(listed, _)| *listed)
                .filter(|listed| !not_run.contains(listed)),
        )
        .collect();
    assert!(
        stale.is_empty(),
        "PROMISES or NOT_RUN name commands the README no longer has: {stale:?}"
    );
    reader.stop();
}

/// The command lines of the README's ```sh blocks: comments stripped, `\` continuations joined.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    // Some(whether it is a sh block) inside a fenced block.
    let mut fence: Option<bool> = None;
    let mut pending = String::new();
    for line in readme.lines() {
        if let Some(lang) = line.trim().strip_prefix("```") {
            fence = match fence {
                None => Some(lang == "sh"),
                Some(_) => None,
            };
            continue;
        }
        if fence != Some(true) {
            continue;
        }
        let code = strip_comment(line).trim();
        let (code, continued) = match code.strip_suffix('\\') {
            Some(code) => (code.trim_end(), true),
            None => (code, false),
        };
        pending.push_str(code);
        pending.push(' ');
        if !continued {
            if !pending.trim().is_empty() {
                commands.push(pending.trim().to_owned());
            }
            pending.clear();
        }
    }
    assert!(
        fence.is_none() && pending.is_empty(),
        "README ends inside a code block or a continued line"
    );
    commands
}

/// The line without a shell comment (a `#` at the start or after a space, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if q == c => quote = None,
            (None, '#') if previous.is_whitespace() => return &line[..at],
            _ => {}
        }
        previous = c;
    }
    line
}

/// The shell words of a line: split at spaces, with '…' and "…" quoting (the README uses no
/// escapes or expansions; a line that does is refused rather than misread).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (Some(q), _) if q == c => quote = None,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '$' | '`' | '\\' | '|' | '>' | '<' | ';' | '&') => {
                panic!("README line {line:?} needs a shell; this test runs commands directly")
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quote in README line {line:?}");
    words.extend(word);
    words
}

/// Runs of white space as one space, so listed commands match however the README aligns them.
fn normalised(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The reader following the README: the working directory, what earlier commands printed that
/// later ones need, and the processes still running.
struct Reader {
    cwd: tempfile::TempDir,
    /// README example text and what stands for it in this run, in the order applied.
    values: Vec<(String, String)>,
    /// Running `serve` and `demo` processes by their README line's data directory (or "demo").
    running: HashMap<String, GatewayProcess>,
    /// Each gateway's internal listener, by data directory as the README names it.
    internal: HashMap<String, SocketAddr>,
    /// The [`PROMISES`] entries used, so entries for commands the README dropped are found.
    promised: BTreeSet<&'static str>,
    /// Held so no other test takes the reserved ports.
    port_locks: Vec<std::fs::File>,
}

impl Reader {
    async fn new() -> Reader {
        let (backend, _) = common::backend().await;
        let (kent_port, lock) = common::free_port();
        let values = [
            // `cargo run --release -p psn --` builds and runs the binary this test was built with
            // (a debug build here: --release changes only its speed).
            ("cargo run --release -p psn -- ", "psn ".to_owned()),
            // A fixed port would collide with tests running in parallel; the server says which
            // port it took.
            ("127.0.0.1:7800", "127.0.0.1:0".to_owned()),
            ("127.0.0.1:7900", "127.0.0.1:0".to_owned()),
            // The example peer address: a loopback port reserved for this test.
            ("gw1.kent.example:8443", format!("127.0.0.1:{kent_port}")),
            // The example backend: the fake one (a member's own system, outside psn).
            ("http://10.0.0.5:9000/fsm", format!("{backend}/fsm")),
            // The README's paths into the repository, from the reader's working directory.
            (
                "docs/examples/",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/").to_owned(),
            ),
        ];
        Reader {
            cwd: tempfile::tempdir().expect("tempdir"),
            values: values.map(|(a, b)| (a.to_owned(), b)).to_vec(),
            running: HashMap::new(),
            internal: HashMap::new(),
            promised: BTreeSet::new(),
            port_locks: vec![lock],
        }
    }

    /// The README line with its example values replaced by this run's.
    fn substitute(&self, line: &str) -> String {
        self.values
            .iter()
            .fold(line.to_owned(), |line, (example, real)| {
                line.replace(example, real)
            })
    }

    fn learn(&mut self, example: &str, real: String) {
        self.values.push((example.to_owned(), real));
    }

    /// The `psn` binary in the reader's directory, with no operator settings from this
    /// environment (a README command must say everything it needs).
    fn psn(&self, args: &[String]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_psn"));
        command
            .args(args)
            .current_dir(self.cwd.path())
            .env("PSN_LOG", "warn");
        for name in [
            "PSN_DATA_DIR",
            "PSN_AUTHORITY",
            "PSN_OPERATOR_TOKEN",
            "PSN_CA_FILE",
            "PSN_ENROL_TOKEN",
            "PSN_DATABASE_URL",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ] {
            command.env_remove(name);
        }
        command
    }

    /// Runs one README line.
    async fn run(&mut self, line: &str) {
        if self
            .values
            .iter()
            .all(|(example, _)| example != "--message-id ID")
            && line.starts_with("psn audit")
        {
            self.make_an_exchange().await;
        }
        let args = words(&self.substitute(line));
        match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["curl", ..] => self.curl(line, &args[1..]).await,
            ["psn", "demo", ..] => self.start(line, "demo", &args[1..]),
            ["psn", "authority", "serve", "--data-dir", dir, ..] => {
                self.start(line, dir, &args[1..])
            }
            ["psn", "gateway", "serve", "--data-dir", dir] => {
                self.listen_on_loopback(dir);
                self.start(line, dir, &args[1..]);
            }
            ["psn", "gateway", "sync", "--data-dir", "./kent-gw1", "--wait", _] => {
                self.sync_while_a_provider_enrols(line, &args[1..])
            }
            ["psn", ..] => {
                let out = self.ok(&args[1..]);
                self.check(line, &out);
            }
            _ => {
                panic!("README command {line:?} is neither run by this test nor listed in NOT_RUN")
            }
        }
    }

    /// Runs `psn ARGS` to completion; it must exit 0. Returns its standard output.
    fn ok(&self, args: &[String]) -> String {
        let out = self.psn(args).output().expect("run psn");
        succeeded(args, &out)
    }

    /// What the command promises to print (its first entry in [`PROMISES`]).
    fn promise(&mut self, line: &str) -> &'static str {
        let key = normalised(&self.substitute(line));
        let (start, promise) = PROMISES
            .iter()
            .find(|(start, _)| key.starts_with(start))
            .unwrap_or_else(|| {
                panic!("README command {line:?} has no entry in PROMISES: say what it promises")
            });
        self.promised.insert(start);
        promise
    }

    /// Checks what the command printed against its promise and learns the values later README
    /// lines stand in for.
    fn check(&mut self, line: &str, stdout: &str) {
        let promise = self.promise(line);
        let key = normalised(line);
        assert!(
            stdout.contains(promise),
            "README command {line:?} did not print {promise:?}:\n{stdout}"
        );
        if key.starts_with("psn authority token create") {
            self.learn("psn-enrol-1.…", stdout.trim().to_owned());
        } else if let Some(dir) = key
            .strip_prefix("psn federation export --file ")
            .and_then(|rest| rest.split_once(" --data-dir ./"))
            .map(|(_, dir)| dir.to_uppercase())
        {
            // The fingerprint the exporting operator reads out, for the partner's import.
            let fingerprint = stdout
                .lines()
                .find_map(|l| l.strip_prefix("fingerprint "))
                .and_then(|rest| rest.split(':').next())
                .expect("the export prints the fingerprint");
            self.learn(&format!("{dir}-FINGERPRINT"), fingerprint.to_owned());
        } else if key.starts_with("psn gateway access grant") {
            self.learn("g-…", grant_id(stdout));
        } else if key.starts_with("psn gateway access revoke") {
            let revoked = self.substitute("g-…");
            assert!(!stdout.contains(&revoked), "{revoked} still listed");
        } else if key.starts_with("psn sla report") && key.contains("--output json") {
            serde_json::from_str::<serde_json::Value>(stdout).expect("the report is JSON");
        }
    }

    /// Starts a long-running README command, waits for its promise, and keeps it running under
    /// `name` until the test ends or a later step stops it.
    fn start(&mut self, line: &str, name: &str, args: &[String]) {
        let promise = self.promise(line);
        let (process, _) = spawn_until(self.psn(args), promise);
        self.running.insert(name.to_owned(), process);
        if name == "demo" {
            self.learn("PORT", demo_port(&self.cwd.path().join("psn-demo")));
        }
    }

    /// The README's `sync --wait` waits for a newer configuration. While it waits, the provider
    /// the README's later `./dfe-gw1` commands use is set up, which publishes one, so the command
    /// shows what it promises without sitting out its whole wait.
    fn sync_while_a_provider_enrols(&mut self, line: &str, args: &[String]) {
        let sync = self
            .psn(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sync");
        self.enrol_the_provider();
        let out = Child::wait_with_output(sync).expect("sync");
        let stdout = succeeded(args, &out);
        self.check(line, &stdout);
    }

    /// DfE's gateway in `./dfe-gw1`, which the README's provider commands assume: enrolled
    /// as the README enrols Kent's, with its `eligibility` subsystem.
    fn enrol_the_provider(&mut self) {
        let (port, lock) = common::free_port();
        self.port_locks.push(lock);
        let token = self.ok(&args(
            "authority token create --member GB/GOV/D6 --gateway gw1 --data-dir ./gb",
        ));
        for command in [
            "authority subsystem add GB/GOV/D6/eligibility --data-dir ./gb".to_owned(),
            format!(
                "gateway enrol --data-dir ./dfe-gw1 --token {} --address 127.0.0.1:{port}",
                token.trim()
            ),
        ] {
            self.ok(&args(&command));
        }
    }

    /// The README's gateways listen on 127.0.0.1:8080 and 0.0.0.0:8443 by default, fixed ports
    /// (one on every interface) that tests running in parallel would share; this one's listen on
    /// loopback ports reserved for it (the peer port stays the one announced at enrolment).
    fn listen_on_loopback(&mut self, dir: &str) {
        let gateway = GatewayDir::new(self.cwd.path().join(dir));
        let mut settings = gateway.load_settings().expect("gateway.toml");
        if !self.internal.contains_key(dir) {
            let (port, lock) = common::free_port();
            self.port_locks.push(lock);
            self.internal
                .insert(dir.to_owned(), SocketAddr::from(([127, 0, 0, 1], port)));
        }
        settings.internal_listen = self.internal[dir];
        settings.external_listen.set_ip([127, 0, 0, 1].into());
        gateway.save_settings(&settings).expect("save gateway.toml");
    }

    /// The README's curl line against the demo, sent as curl would (only the options the README
    /// uses are understood); then the demo is stopped with Ctrl-C, as the README says.
    async fn curl(&mut self, line: &str, args: &[String]) {
        let mut headers = Vec::new();
        let mut url = None;
        let mut options = args.iter();
        while let Some(arg) = options.next() {
            match arg.as_str() {
                "-s" => {}
                "-H" => {
                    let header = options.next().expect("-H takes a header");
                    let (name, value) = header.split_once(": ").expect("Name: value");
                    headers.push((name.to_owned(), value.to_owned()));
                }
                option if option.starts_with('-') => {
                    panic!("README line {line:?}: curl option {option} is not understood here")
                }
                _ => url = Some(arg.clone()),
            }
        }
        let url = url.unwrap_or_else(|| panic!("README line {line:?} names no URL"));
        let request = headers
            .into_iter()
            .fold(common::client().get(url), |request, (name, value)| {
                request.header(name, value)
            });
        let response = request.send().await.expect("call");
        assert_eq!(response.status(), 200, "README line {line:?}");
        let body = response.text().await.expect("response body");
        assert!(body.contains("eligible"), "README line {line:?}: {body}");
        self.running
            .remove("demo")
            .expect("demo running")
            .interrupt();
    }

    /// The README's audit commands need an exchange in Kent's log, which no README command
    /// makes (the README's grant was revoked, and Kent's gateway may be behind the latest
    /// configuration): grant again, bring both gateways to the latest configuration, and call.
    /// Then Kent's gateway stops with Ctrl-C, which seals its log: the README's operators use
    /// the log offline, and `export` takes only sealed records.
    async fn make_an_exchange(&mut self) {
        self.ok(&args(&format!(
            "gateway access grant --service {SERVICE} --to {KENT}/revenues --data-dir ./dfe-gw1"
        )));
        if let Some(kent) = self.running.remove("./kent-gw1") {
            kent.interrupt();
        }
        for dir in ["./kent-gw1", "./dfe-gw1"] {
            self.ok(&args(&format!("gateway sync --data-dir {dir}")));
            self.listen_on_loopback(dir);
            let serve = args(&format!("gateway serve --data-dir {dir}"));
            self.start(&format!("psn gateway serve --data-dir {dir}"), dir, &serve);
        }
        let response = common::client()
            .get(format!(
                "http://{}/r1/{SERVICE}/check?nino=QQ123456C",
                self.internal["./kent-gw1"]
            ))
            .header("PSN-Client", format!("{KENT}/revenues"))
            .send()
            .await
            .expect("call through Kent's gateway");
        assert_eq!(response.status(), 200);
        let id = response.headers()["psn-message-id"]
            .to_str()
            .expect("message id")
            .to_owned();
        // The whole body: its last chunk is released only once the record is on disk.
        let body = response.text().await.expect("response body");
        assert!(body.contains("QQ123456C"), "the backend answered: {body}");
        self.learn("--message-id ID", format!("--message-id {id}"));
        self.running
            .remove("./kent-gw1")
            .expect("Kent's gateway running")
            .interrupt();
    }

    /// Stops what is still running with Ctrl-C, as the README says, each cleanly.
    fn stop(mut self) {
        for (_, process) in self.running.drain() {
            process.interrupt();
        }
    }
}

/// Command words from text (the test's own commands, which need no quoting).
fn args(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_owned).collect()
}

/// Standard output of a finished command that must have exited 0.
fn succeeded(args: &[String], out: &Output) -> String {
    assert!(
        out.status.success(),
        "psn {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The id of the grant in `access grant`'s table (the row with the README's path).
fn grant_id(table: &str) -> String {
    table
        .lines()
        .find(|row| row.contains("/check*"))
        .and_then(|row| row.split_whitespace().next())
        .filter(|id| id.starts_with("g-"))
        .unwrap_or_else(|| panic!("no grant id in:\n{table}"))
        .to_owned()
}

/// Kent's internal port in the running demo's `demo.json`, which the README's `PORT` stands for.
fn demo_port(demo_dir: &Path) -> String {
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(demo_dir.join("demo.json")).expect("demo.json"))
            .expect("demo.json is JSON");
    let kent = info["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"] == KENT)
        .expect("Kent in the demo");
    kent["internal"]
        .as_str()
        .and_then(|url| url.rsplit(':').next())
        .expect("internal URL with a port")
        .to_owned()
}

#[test]
fn commands_are_extracted_joined_and_without_comments() {
    let readme = "text\n```sh\npsn a --x 'y # z'   # comment\n# only a comment\npsn b \\\n    --c d\n```\n```toml\nnot = \"a command\"\n```\n```\nGET /r1\n```\n";
    assert_eq!(
        readme_commands(readme),
        ["psn a --x 'y # z'", "psn b --c d"]
    );
    assert_eq!(
        words("psn a --x 'y # z' --support-hours \"mon-fri 08:00-18:00\""),
        [
            "psn",
            "a",
            "--x",
            "y # z",
            "--support-hours",
            "mon-fri 08:00-18:00"
        ]
    );
}
