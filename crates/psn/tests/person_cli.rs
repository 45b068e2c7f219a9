//! `psn authority person ...` through the real binary against a real `psn authority serve`:
//! every subcommand, its refusals, and the audit trail they leave.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn psn() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_psn"));
    cmd.env_remove("PSN_DATA_DIR")
        .env_remove("PSN_AUTHORITY")
        .env("PSN_LOG", "warn");
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    psn()
        .args(args)
        .args(["--data-dir", &dir.display().to_string()])
        .output()
        .expect("run psn")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "psn {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(!out.status.success(), "psn {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `psn authority serve`, killed on drop; ready once it printed its address.
struct Server(Child);

impl Server {
    fn start(dir: &Path) -> Self {
        let mut child = psn()
            .args([
                "authority",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("readiness line");
        assert!(line.contains("listening on https://"), "{line}");
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn people_are_added_listed_changed_disabled_and_reset_from_the_cli() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("gb");
    let init = psn()
        .args(["authority", "init", "--network", "GB", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("init");
    assert!(init.status.success());
    let _server = Server::start(&dir);
    ok(
        &dir,
        &[
            "authority",
            "member",
            "add",
            "GB/LA/E10000016",
            "--name",
            "Kent County Council",
        ],
    );

    let added = ok(
        &dir,
        &[
            "authority",
            "person",
            "add",
            "kent@kent.gov.uk",
            "--role",
            "member-admin",
            "--member",
            "GB/LA/E10000016",
        ],
    );
    assert!(
        added.contains("added kent@kent.gov.uk (member-admin for GB/LA/E10000016)"),
        "{added}"
    );
    let password = added.lines().last().expect("password line");
    assert_eq!(password.len(), 20, "{added}");
    let json: Value = serde_json::from_str(&ok(
        &dir,
        &[
            "authority",
            "person",
            "add",
            "ops",
            "--role",
            "operator",
            "--output",
            "json",
        ],
    ))
    .expect("json");
    assert_eq!(json["person"]["role"], "operator");
    assert_eq!(json["password"].as_str().map(str::len), Some(20));

    let listed: Value = serde_json::from_str(&ok(
        &dir,
        &["authority", "person", "list", "--output", "json"],
    ))
    .expect("json");
    let names: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["username"].as_str())
        .collect();
    assert_eq!(names, ["kent@kent.gov.uk", "ops"]);

    let changed = ok(
        &dir,
        &[
            "authority",
            "person",
            "set-role",
            "kent@kent.gov.uk",
            "--role",
            "member-viewer",
            "--member",
            "GB/LA/E10000016",
        ],
    );
    assert!(
        changed.contains("kent@kent.gov.uk (member-viewer for GB/LA/E10000016) now"),
        "{changed}"
    );
    let disabled = ok(&dir, &["authority", "person", "disable", "ops"]);
    assert!(disabled.contains("disabled ops (operator)"), "{disabled}");
    let reset = ok(
        &dir,
        &["authority", "person", "reset-password", "kent@kent.gov.uk"],
    );
    let fresh = reset.lines().last().expect("password line");
    assert_eq!(fresh.len(), 20);
    assert_ne!(fresh, password);

    for (args, says) in [
        (
            vec!["authority", "person", "add", "x", "--role", "king"],
            "unknown role",
        ),
        (
            vec!["authority", "person", "add", "x", "--role", "member-viewer"],
            "must belong to a member",
        ),
        (
            vec![
                "authority",
                "person",
                "add",
                "Not Valid",
                "--role",
                "assessor",
            ],
            "lower-case letters",
        ),
        (
            vec!["authority", "person", "add", "ops", "--role", "assessor"],
            "already exists",
        ),
        (
            vec!["authority", "person", "disable", "ops"],
            "already disabled",
        ),
        (
            vec!["authority", "person", "disable", "nobody"],
            "no person nobody",
        ),
        (
            vec![
                "authority",
                "person",
                "set-role",
                "ops",
                "--role",
                "operator",
                "--member",
                "GB/LA/E10000016",
            ],
            "belongs to the network operator",
        ),
    ] {
        let stderr = fails(&dir, &args);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }

    let events = ok(&dir, &["authority", "events"]);
    for action in [
        "person.add",
        "person.set-role",
        "person.disable",
        "person.reset-password",
    ] {
        assert!(events.contains(action), "{action} in {events}");
    }
}
