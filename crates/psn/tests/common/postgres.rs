//! A PostgreSQL server of the test's own (`initdb` into a temporary directory, `pg_ctl` on a
//! reserved port), so a test can stop, crash and restart the authority's database without
//! touching the shared server other tests use.
//!
//! It needs PostgreSQL's server programs (`/usr/lib/postgresql/<version>/bin`, as Debian installs
//! them). Where they are missing, [`PrivatePostgres::start`] says why and returns `None` so the
//! test can skip, unless `PSN_TEST_DATABASE_URL` is set (CI, where PostgreSQL is installed), where
//! it fails instead. PostgreSQL refuses to run as root, so as root the server runs as the
//! `postgres` user the package creates.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running (or stopped) private PostgreSQL server; stopped at once when dropped.
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres_user: bool,
    _tmp: tempfile::TempDir,
    _port_lock: std::fs::File,
}

impl PrivatePostgres {
    /// A fresh cluster, started, with trust authentication on 127.0.0.1 for the user
    /// `postgres`.
    pub fn start() -> Option<PrivatePostgres> {
        let Some(bin) = server_programs() else {
            assert!(
                std::env::var("PSN_TEST_DATABASE_URL").is_err(),
                "PSN_TEST_DATABASE_URL is set but PostgreSQL's server programs are not installed"
            );
            eprintln!("skipped: PostgreSQL's server programs (initdb, pg_ctl) are not installed");
            return None;
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let as_postgres_user = is_root();
        let data = tmp.path().join("data");
        if as_postgres_user {
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(tmp.path())
                .status()
                .expect("chown");
            assert!(chown.success(), "chown the cluster's directory");
        }
        let (port, port_lock) = super::free_port();
        let server = PrivatePostgres {
            bin,
            data,
            port,
            as_postgres_user,
            _tmp: tmp,
            _port_lock: port_lock,
        };
        server.run(
            "initdb",
            &[
                "--pgdata",
                &server.data.display().to_string(),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--no-sync",
            ],
        );
        server.start_again();
        Some(server)
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way a crash or power cut would: no shutdown checkpoint, every
    /// connection cut; the next start recovers from the write-ahead log.
    pub fn crash(&self) {
        self.pg_ctl(&["stop", "--mode", "immediate"]);
    }

    /// Starts the stopped server and returns once it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={}",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log").display().to_string();
        self.pg_ctl(&["start", "--wait", "--log", &log, "-o", &options]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data.display().to_string();
        let mut all = vec!["--pgdata", &data, "--silent"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    /// `program` of PostgreSQL's, run as the user the cluster belongs to.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = self
            .command(program)
            .args(args)
            .output()
            .expect("run a PostgreSQL program");
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["--pgdata", &data, "--silent", "stop", "--mode", "immediate"])
            .output();
    }
}

/// The newest installed PostgreSQL's server programs.
fn server_programs() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_programs(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn has_programs(bin: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|program| bin.join(program).is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
