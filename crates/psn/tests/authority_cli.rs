//! The whole of the authority's "done means", through the real `psn` binary in separate
//! processes: init, serve, import the real organisations, add a subsystem, create a token, enrol a
//! gateway from its own data directory, verify the configuration, suspend the member and see a new
//! version without its gateway, and refuse a tampered configuration. On SQLite, and on
//! PostgreSQL when `PSN_TEST_DATABASE_URL` is set.

use serde_json::Value;
use sqlx::Connection;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn psn() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_psn"));
    cmd.env_remove("PSN_DATA_DIR")
        .env_remove("PSN_AUTHORITY")
        .env("PSN_LOG", "warn");
    cmd
}

fn run(args: &[&str]) -> Output {
    psn().args(args).output().expect("run psn")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "psn {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        !out.status.success(),
        "psn {args:?} should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `psn authority serve` process, killed on drop.
struct Server {
    child: Child,
}

impl Server {
    /// Starts the server and waits for its "listening on URL" line (readiness, not a sleep).
    fn start(data_dir: &Path) -> (Self, String) {
        let mut child = psn()
            .args([
                "authority",
                "serve",
                "--data-dir",
                &data_dir.display().to_string(),
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read readiness line");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            url.starts_with("https://127.0.0.1:"),
            "unexpected readiness line {line:?}"
        );
        (Self { child }, url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(rt: &tokio::runtime::Runtime) -> Option<Self> {
        let admin = std::env::var("PSN_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let name = format!(
            "psn_cli_{}_{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
        );
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create db");
        });
        let (base, _) = admin.rsplit_once('/').expect("url path");
        let url = format!("{base}/{name}");
        Some(Self { admin, name, url })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn lifecycle(database_url: Option<&str>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let auth: PathBuf = tmp.path().join("authority");
    let gw: PathBuf = tmp.path().join("kent-gw1");
    let auth_s = auth.display().to_string();
    let gw_s = gw.display().to_string();

    let mut init = vec![
        "authority",
        "init",
        "--data-dir",
        &auth_s,
        "--network",
        "GB",
    ];
    if let Some(url) = database_url {
        init.extend(["--database-url", url]);
    }
    ok(&init);
    let err = fails(&init);
    assert!(err.contains("already holds an authority"), "{err}");
    let (_server, url) = Server::start(&auth);

    // Import the real organisations: about 1,600, idempotent, with skip reasons.
    let report = json(&ok(&[
        "authority",
        "member",
        "import",
        "--data-dir",
        &auth_s,
        "--output",
        "json",
    ]));
    let created = report["report"]["created"]
        .as_array()
        .expect("created")
        .len();
    let expected = psn_orgdata::embedded()
        .expect("embedded data")
        .organisations
        .len();
    assert_eq!(
        created, expected,
        "every current real organisation is registered"
    );
    assert!(created > 1_300);
    assert_eq!(
        report["report"]["rejected"]
            .as_array()
            .expect("rejected")
            .len(),
        0,
        "{}",
        report["report"]["rejected"]
    );
    assert!(!report["skipped_at_source"]
        .as_array()
        .expect("skipped")
        .is_empty());
    let again = json(&ok(&[
        "authority",
        "member",
        "import",
        "--data-dir",
        &auth_s,
        "--output",
        "json",
    ]));
    assert_eq!(
        again["report"]["created"]
            .as_array()
            .expect("created")
            .len(),
        0
    );
    assert_eq!(
        again["report"]["existing"]
            .as_array()
            .expect("existing")
            .len(),
        created
    );

    let kent = json(&ok(&[
        "authority",
        "member",
        "show",
        "GB/LA/E10000016",
        "--data-dir",
        &auth_s,
        "--output",
        "json",
    ]));
    assert_eq!(kent["name"], "Kent County Council");
    assert_eq!(kent["region"], "South East");
    let list = json(&ok(&[
        "authority",
        "member",
        "list",
        "--class",
        "POL",
        "--data-dir",
        &auth_s,
        "--output",
        "json",
        "--limit",
        "1000",
    ]));
    assert!(list["total"].as_u64().expect("total") >= 40);

    ok(&[
        "authority",
        "subsystem",
        "add",
        "GB/LA/E10000016/revenues",
        "--data-dir",
        &auth_s,
    ]);
    let err = fails(&[
        "authority",
        "subsystem",
        "add",
        "GB/LA/E10000016/Revenues",
        "--data-dir",
        &auth_s,
    ]);
    assert!(err.contains("subsystem"), "{err}");

    let token = ok(&[
        "authority",
        "token",
        "create",
        "--member",
        "GB/LA/E10000016",
        "--gateway",
        "gw1",
        "--data-dir",
        &auth_s,
    ]);
    let token = token.trim();
    assert!(token.starts_with("psn-enrol-1."));

    // Enrol from a separate process and data directory, then verify the configuration.
    let out = ok(&[
        "gateway",
        "enrol",
        "--data-dir",
        &gw_s,
        "--token",
        token,
        "--address",
        "127.0.0.1:9443",
    ]);
    assert!(out.contains("enrolled GB/LA/E10000016@gw1"), "{out}");
    let out = ok(&["config", "verify", "--gateway-dir", &gw_s]);
    assert!(out.starts_with("valid: network GB version"), "{out}");
    let shown = json(&ok(&[
        "config",
        "show",
        "--gateway-dir",
        &gw_s,
        "--output",
        "json",
    ]));
    assert!(shown["gateways"]
        .as_array()
        .expect("gateways")
        .iter()
        .any(|g| g["id"] == "GB/LA/E10000016@gw1"));
    assert_eq!(shown["authority"]["endpoints"][0], url.as_str());
    let err = fails(&[
        "gateway",
        "enrol",
        "--data-dir",
        &tmp.path().join("again").display().to_string(),
        "--token",
        token,
    ]);
    assert!(err.contains("already been used"), "{err}");

    // One flipped byte anywhere in the signed document is rejected.
    let whole = std::fs::read_dir(gw.join("config"))
        .expect("config dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".json") && !name.ends_with(".delta.json")
        })
        .expect("the whole document stored at enrolment");
    let current = std::fs::read(whole).expect("read config");
    for position in [10, current.len() / 2, current.len() - 10] {
        let mut tampered = current.clone();
        tampered[position] = if tampered[position] == b'A' {
            b'B'
        } else {
            b'A'
        };
        let path = tmp.path().join(format!("tampered-{position}.json"));
        std::fs::write(&path, &tampered).expect("write");
        let err = fails(&[
            "config",
            "verify",
            &path.display().to_string(),
            "--gateway-dir",
            &gw_s,
        ]);
        assert!(err.contains("INVALID"), "{err}");
    }

    // Suspension: a new version without the gateway.
    let before = shown["version"].as_u64().expect("version");
    ok(&[
        "authority",
        "member",
        "suspend",
        "GB/LA/E10000016",
        "--reason",
        "compliance lapsed",
        "--data-dir",
        &auth_s,
    ]);
    let after = json(&ok(&[
        "config",
        "show",
        "--data-dir",
        &auth_s,
        "--output",
        "json",
    ]));
    assert!(after["version"].as_u64().expect("version") > before);
    assert!(after["gateways"]
        .as_array()
        .expect("gateways")
        .iter()
        .all(|g| g["id"] != "GB/LA/E10000016@gw1"));
    let kent_entry = after["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"] == "GB/LA/E10000016")
        .cloned();
    assert_eq!(kent_entry.expect("kent listed")["status"], "suspended");
    let err = fails(&["gateway", "sync", "--data-dir", &gw_s]);
    assert!(err.contains("suspended"), "{err}");

    ok(&[
        "authority",
        "member",
        "reinstate",
        "GB/LA/E10000016",
        "--data-dir",
        &auth_s,
    ]);
    let out = ok(&["gateway", "sync", "--data-dir", &gw_s]);
    assert!(out.contains("verified and stored"), "{out}");
    let out = ok(&["gateway", "renew", "--data-dir", &gw_s]);
    assert!(out.starts_with("renewed"), "{out}");
    let events = ok(&[
        "authority",
        "events",
        "--data-dir",
        &auth_s,
        "--limit",
        "1000",
    ]);
    for action in [
        "member.import",
        "member.suspended",
        "member.reinstate",
        "gateway.enrol",
        "gateway.renew",
    ] {
        assert!(events.contains(action), "{action} missing:\n{events}");
    }
}

#[test]
fn authority_lifecycle_on_sqlite() {
    lifecycle(None);
}

#[test]
fn authority_lifecycle_on_postgres() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some(db) = PgDatabase::create(&rt) else {
        eprintln!("PSN_TEST_DATABASE_URL not set; PostgreSQL lifecycle not run");
        return;
    };
    lifecycle(Some(&db.url));
}

#[test]
fn every_command_explains_itself() {
    for args in [
        vec!["--help"],
        vec!["authority", "--help"],
        vec!["authority", "init", "--help"],
        vec!["authority", "serve", "--help"],
        vec!["authority", "member", "import", "--help"],
        vec!["gateway", "enrol", "--help"],
        vec!["config", "verify", "--help"],
    ] {
        let out = ok(&args);
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
    let err = fails(&[
        "authority",
        "member",
        "show",
        "GB/la/x",
        "--data-dir",
        "/nonexistent",
    ]);
    assert!(err.contains("class"), "{err}");
    let err = fails(&["authority", "member", "list", "--data-dir", "/nonexistent"]);
    assert!(err.contains("does not seem to be running"), "{err}");
    let err = fails(&[
        "gateway",
        "enrol",
        "--data-dir",
        "/tmp/psn-never",
        "--token",
        "garbage",
    ]);
    assert!(err.contains("enrolment token"), "{err}");
}
