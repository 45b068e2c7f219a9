//! The authority's PostgreSQL stopping and crashing under a real `psn authority serve` (issue 20;
//! docs/faults.md), on a private server the test owns (`common/postgres.rs`):
//!
//! - while the database is down, a change is refused with `503 unavailable` (within the pool's
//!   5 s wait) and nothing of it is kept; a command that only reads (`psn authority member
//!   list`) says it is trying again and succeeds once the database is back;
//! - every change acknowledged before the database crashed is there after it restarts;
//! - the publisher carries on from the version it had reached: no version is skipped and none
//!   published twice.

mod common;

use common::postgres::PrivatePostgres;
use common::process::spawn_until;
use psn_api::{AuthorityClient, NewMember};
use psn_authority::datadir::DataDir;
use psn_core::problem::ProblemType;
use sqlx::Connection;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn psn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_psn"));
    command
        .env_remove("PSN_DATA_DIR")
        .env_remove("PSN_AUTHORITY")
        .env("PSN_LOG", "warn");
    command
}

fn member(id: &str, name: &str) -> NewMember {
    NewMember {
        id: id.parse().expect("member id"),
        name: name.into(),
        sector: None,
        region: None,
    }
}

/// The operator's client for the authority in `dir`, at `url`, retrying nothing (the test wants
/// to see each refusal).
fn operator(dir: &DataDir, url: &str) -> AuthorityClient {
    let token = std::fs::read_to_string(dir.operator_token()).expect("operator token");
    let ca = std::fs::read_to_string(dir.ca_cert()).expect("CA certificate");
    let ca = psn_pki::parse_pem_certificates(&ca)
        .expect("CA PEM")
        .remove(0);
    AuthorityClient::operator(url, &ca, token.trim()).expect("client")
}

/// The configuration versions stored in the database, in order.
async fn stored_versions(url: &str) -> Vec<i64> {
    let mut db = sqlx::PgConnection::connect(url).await.expect("connect");
    let versions: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM config_versions ORDER BY version")
            .fetch_all(&mut db)
            .await
            .expect("versions");
    versions.into_iter().map(|(v,)| v).collect()
}

/// `psn authority member list --output json` against `dir`: its exit status and output, after
/// `when_retrying` has run on the first "trying again" it logs (or never, if it logs none).
fn list_members(dir: &Path, when_retrying: impl FnOnce()) -> (bool, String) {
    let mut child = psn()
        .args([
            "authority",
            "member",
            "list",
            "--output",
            "json",
            "--data-dir",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn psn");
    let stderr = child.stderr.take().expect("stderr");
    let mut when_retrying = Some(when_retrying);
    let mut logged = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("stderr line");
        if line.contains("trying again") {
            if let Some(act) = when_retrying.take() {
                act();
            }
        }
        logged.push_str(&line);
        logged.push('\n');
    }
    let output = child.wait_with_output().expect("psn ran");
    assert!(when_retrying.is_none(), "no retry was logged:\n{logged}");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authority_rides_out_its_database_stopping_and_crashing() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("authority");
    let init = psn()
        .args([
            "authority",
            "init",
            "--network",
            "GB",
            "--database-url",
            &pg.url(),
        ])
        .arg("--data-dir")
        .arg(&root)
        .output()
        .expect("init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut serve = psn();
    serve
        .args([
            "authority",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&root);
    let (_server, printed) = spawn_until(serve, "https://");
    let url = printed
        .split_whitespace()
        .find(|word| word.starts_with("https://"))
        .expect("the authority's URL")
        .to_owned();
    let dir = DataDir::new(&root);
    let op = operator(&dir, &url);

    let kent = op
        .add_member(&member("GB/LA/E10000016", "Kent County Council"))
        .await
        .expect("acknowledged");
    let before = kent.config_version;

    // The database stops: a change is refused, clearly, and leaves nothing behind.
    pg.crash();
    let refused = op
        .add_member(&member("GB/LA/E10000008", "Devon County Council"))
        .await
        .expect_err("no database, no change");
    assert_eq!(
        refused.problem_type(),
        Some(ProblemType::Unavailable),
        "{refused}"
    );
    assert!(refused.to_string().contains("database"), "{refused}");

    // A read from the command line waits for it: it says it is trying again, the database
    // comes back, and the read succeeds.
    let (listed, members) = list_members(&root, || pg.start_again());
    assert!(listed, "{members}");
    assert!(members.contains("GB/LA/E10000016"), "{members}");
    assert!(!members.contains("GB/LA/E10000008"), "{members}");

    // The publisher carries on from where it was.
    let devon = op
        .add_member(&member("GB/LA/E10000008", "Devon County Council"))
        .await
        .expect("the database is back");
    assert_eq!(devon.config_version, before + 1);

    // A crash right after an acknowledged change loses nothing.
    let essex = op
        .add_member(&member("GB/LA/E10000012", "Essex County Council"))
        .await
        .expect("acknowledged");
    assert_eq!(essex.config_version, before + 2);
    pg.crash();
    pg.start_again();
    let after = op
        .list_members(&psn_api::MemberQuery::default())
        .await
        .expect("members after the crash");
    let ids: Vec<String> = after.items.iter().map(|m| m.id.to_string()).collect();
    for id in ["GB/LA/E10000016", "GB/LA/E10000008", "GB/LA/E10000012"] {
        assert!(ids.contains(&id.to_owned()), "{id} lost: {ids:?}");
    }
    let herts = op
        .add_member(&member("GB/LA/E10000015", "Hertfordshire County Council"))
        .await
        .expect("a change after the crash");
    assert_eq!(herts.config_version, before + 3);
    // Every version from the first, each once.
    let versions = stored_versions(&pg.url()).await;
    let expected: Vec<i64> = (1..=(before as i64 + 3)).collect();
    assert_eq!(versions, expected);
}
