//! `psn federation` with hostile and mistaken input, as an operator runs it: every refusal says
//! why, exits non-zero and changes nothing. (The README's own federation commands are run in
//! order by `readme.rs`; the data path across two networks is `federation.rs`.)

use psn_authority::datadir::DataDir;
use std::path::Path;
use std::process::{Command, Output};

async fn authority(tmp: &Path, network: &str) -> psn_authority::Running {
    let data = DataDir::new(tmp.join(network.to_lowercase()));
    psn_authority::init(&data, network.parse().expect("network"), None)
        .await
        .expect("init");
    psn_authority::start(
        &data,
        psn_authority::ServeOptions {
            listen: "127.0.0.1:0".parse().expect("addr"),
            public_url: None,
        },
    )
    .await
    .expect("start")
}

async fn psn(cwd: &Path, args: &[&str]) -> Output {
    let (cwd, args): (std::path::PathBuf, Vec<String>) = (
        cwd.to_path_buf(),
        args.iter().map(|a| (*a).to_owned()).collect(),
    );
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_psn"))
            .args(&args)
            .current_dir(cwd)
            .env("PSN_LOG", "error")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run psn")
    })
    .await
    .expect("psn ran")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn refused(out: &Output, why: &str) {
    assert!(!out.status.success(), "expected a refusal: {}", text(out));
    assert!(
        text(out).contains(why),
        "expected {why:?} in: {}",
        text(out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistaken_and_hostile_federation_commands_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gb = authority(tmp.path(), "GB").await;
    let kent = authority(tmp.path(), "GB-KENT").await;
    let cwd = tmp.path();

    let out = psn(
        cwd,
        &[
            "federation",
            "export",
            "--file",
            "kent.anchor",
            "--data-dir",
            "gb-kent",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let fingerprint = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint "))
        .and_then(|rest| rest.split(':').next())
        .map(str::to_owned)
        .expect("fingerprint printed");
    let out = psn(
        cwd,
        &[
            "federation",
            "export",
            "--file",
            "gb.anchor",
            "--data-dir",
            "gb",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = psn(
        cwd,
        &[
            "federation",
            "export",
            "--valid-days",
            "0",
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "valid_days must be between 1 and 365");

    // No fingerprint and nobody at a terminal to confirm it: refused, saying which to confirm.
    let out = psn(
        cwd,
        &["federation", "import", "kent.anchor", "--data-dir", "gb"],
    )
    .await;
    refused(&out, &format!("--fingerprint {fingerprint}"));
    let out = psn(
        cwd,
        &[
            "federation",
            "import",
            "kent.anchor",
            "--fingerprint",
            "AAAA",
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "not the \"AAAA\" confirmed");
    // This network's own anchor, a damaged one, a missing file, garbage.
    let own = std::fs::read_to_string(cwd.join("gb.anchor")).expect("gb anchor");
    let out = psn(
        cwd,
        &[
            "federation",
            "import",
            "gb.anchor",
            "--fingerprint",
            &gb.authority.ca_pin,
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "this network's own");
    let mut damaged = own.trim().to_owned();
    let last = damaged.pop().expect("a character");
    damaged.push(if last == 'A' { 'B' } else { 'A' });
    std::fs::write(cwd.join("damaged.anchor"), damaged).expect("write");
    let out = psn(
        cwd,
        &[
            "federation",
            "import",
            "damaged.anchor",
            "--fingerprint",
            &fingerprint,
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "is not an anchor that may be imported");
    let out = psn(
        cwd,
        &[
            "federation",
            "import",
            "missing.anchor",
            "--fingerprint",
            &fingerprint,
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "reading missing.anchor");
    std::fs::write(cwd.join("garbage.anchor"), vec![b'x'; 100_000]).expect("write");
    let out = psn(
        cwd,
        &[
            "federation",
            "import",
            "garbage.anchor",
            "--fingerprint",
            &fingerprint,
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "is not an anchor that may be imported");
    // Renewing: an oversized file, and an anchor of a network that is not a partner yet.
    let out = psn(
        cwd,
        &[
            "federation",
            "renew",
            "garbage.anchor",
            "--fingerprint",
            &fingerprint,
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "is not an anchor that may be imported");
    let out = psn(
        cwd,
        &[
            "federation",
            "renew",
            "kent.anchor",
            "--fingerprint",
            &fingerprint,
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "not a federated partner; import its anchor instead");
    // A policy exporting another network's member.
    let out = psn(
        cwd,
        &[
            "federation",
            "import",
            "kent.anchor",
            "--fingerprint",
            &fingerprint,
            "--export-member",
            "GB-KENT/LA/E10000016",
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "neither of network GB");
    // Nothing was imported by any of that.
    let out = psn(
        cwd,
        &["federation", "list", "--output", "json", "--data-dir", "gb"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list["items"], serde_json::json!([]), "{list}");

    let out = psn(
        cwd,
        &[
            "federation",
            "import",
            "kent.anchor",
            "--fingerprint",
            &fingerprint,
            "--data-dir",
            "gb",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("exporting    classes -; members -; services -"),
        "{}",
        text(&out)
    );
    let out = psn(
        cwd,
        &[
            "federation",
            "import",
            "kent.anchor",
            "--fingerprint",
            &fingerprint,
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "already a federated partner");

    // Names the CLI refuses before asking, and a partner that does not exist.
    let out = psn(cwd, &["federation", "show", "gb-kent", "--data-dir", "gb"]).await;
    refused(&out, "network");
    let out = psn(cwd, &["federation", "show", "GB-YORKS", "--data-dir", "gb"]).await;
    refused(&out, "GB-YORKS is not a federated partner");
    let out = psn(
        cwd,
        &[
            "federation",
            "policy",
            "GB-KENT",
            "--export-service",
            "GB-KENT/LA/E10000016/app/x",
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "neither of network GB");
    let out = psn(
        cwd,
        &[
            "federation",
            "policy",
            "GB-KENT",
            "--export-class",
            "la",
            "--data-dir",
            "gb",
        ],
    )
    .await;
    refused(&out, "class");
    let out = psn(
        cwd,
        &["federation", "remove", "GB-YORKS", "--data-dir", "gb"],
    )
    .await;
    refused(&out, "GB-YORKS is not a federated partner");
    let out = psn(
        cwd,
        &["federation", "remove", "GB-KENT", "--data-dir", "gb"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = psn(
        cwd,
        &["federation", "remove", "GB-KENT", "--data-dir", "gb"],
    )
    .await;
    refused(&out, "GB-KENT is not a federated partner");

    kent.stop().await;
    gb.stop().await;
}
