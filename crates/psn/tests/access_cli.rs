//! Access requests end to end: real gateway processes, the real `psn access` binary, the
//! authority in this process. A member that asks for access is still refused while its request
//! is declined, and is served once a request is approved, within the configuration's
//! propagation time.

mod common;

use common::process::spawn_gateway;
use common::{client, Net, OUTSIDER, PROVIDER, SERVICE};
use std::process::{Command, Output};
use std::time::Duration;

fn psn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_psn"))
        .args(args)
        .env("PSN_LOG", "error")
        .output()
        .expect("run psn")
}

fn stdout_of(args: &[&str]) -> String {
    let out = psn(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The id in the first row of a request table.
fn id_in(table: &str) -> String {
    let row = table.lines().nth(1).unwrap_or_default();
    let id = row.split_whitespace().next().unwrap_or_default();
    assert!(id.starts_with("ar-"), "{table}");
    id.to_owned()
}

/// The status of Devon's call of the service through its own gateway.
async fn call(net: &Net) -> u16 {
    client()
        .get(net.url(OUTSIDER, "/check"))
        .header("PSN-Client", format!("{OUTSIDER}/revenues"))
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

// The authority runs in this process; the binary's blocking calls need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_request_grants_nothing_and_an_approved_one_is_served() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    for member in [PROVIDER, OUTSIDER] {
        psn_gateway::sync_config(&net.members[member].dir, None)
            .await
            .expect("sync");
    }
    let _provider = spawn_gateway(&net, PROVIDER);
    let _outsider = spawn_gateway(&net, OUTSIDER);
    let devon = net.members[OUTSIDER].dir.root().display().to_string();
    let dfe = net.members[PROVIDER].dir.root().display().to_string();
    assert_eq!(call(&net).await, 403, "Devon has no grant yet");

    let ask = |purpose: &str| {
        id_in(&stdout_of(&[
            "access",
            "request",
            SERVICE,
            "--subsystem",
            "revenues",
            "--purpose",
            purpose,
            "--method",
            "GET",
            "--path",
            "/check*",
            "--data-dir",
            &devon,
        ]))
    };
    let first = ask("Free school meals eligibility checks");
    let incoming = stdout_of(&[
        "access",
        "list",
        "--incoming",
        "--state",
        "pending",
        "--data-dir",
        &dfe,
    ]);
    assert!(incoming.contains(&first), "{incoming}");
    let declined = stdout_of(&[
        "access",
        "decline",
        &first,
        "--reason",
        "no data sharing agreement yet",
        "--data-dir",
        &dfe,
    ]);
    assert!(
        declined.contains("declined") && declined.contains("no data sharing agreement"),
        "{declined}"
    );
    let mine: psn_api::AccessRequestList = serde_json::from_str(&stdout_of(&[
        "access",
        "list",
        "--outgoing",
        "--output",
        "json",
        "--data-dir",
        &devon,
    ]))
    .expect("json");
    assert_eq!(mine.items[0].state, psn_api::AccessRequestState::Declined);
    // A decline changes no configuration: still refused.
    assert_eq!(call(&net).await, 403);
    // Deciding again is refused by the authority, and the binary says so.
    let again = psn(&["access", "approve", &first, "--data-dir", &dfe]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already declined"));

    let second = ask("Free school meals eligibility checks, with the agreement signed");
    let approved = stdout_of(&[
        "access",
        "approve",
        &second,
        "--method",
        "GET",
        "--path",
        "/check",
        "--data-dir",
        &dfe,
    ]);
    assert!(
        approved.contains("approved") && approved.contains(" g-"),
        "{approved}"
    );
    // Gateways learn of the new configuration by long poll: served within seconds.
    tokio::time::timeout(Duration::from_secs(10), async {
        while call(&net).await != 200 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the approved call was not served within 10 s");
    // Narrowed to GET /check: another path is still refused.
    let other = client()
        .get(net.url(OUTSIDER, "/echo"))
        .header("PSN-Client", format!("{OUTSIDER}/revenues"))
        .send()
        .await
        .expect("send");
    assert_eq!(other.status(), 403);
    net.stop().await;
}
