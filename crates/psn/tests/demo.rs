//! `psn demo`, the README's first command, as a user runs it: the real binary, its example calls
//! answered as it says, and a clean stop on Ctrl-C.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn the_demo_runs_and_its_example_calls_return_what_it_says() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_psn"))
        .args([
            "demo",
            "--data-dir",
            &dir.display().to_string(),
            "--members",
            "2",
        ])
        .env("PSN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn demo");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("read") == 0 {
            panic!("demo exited before it was ready:\n{printed}");
        }
        printed.push_str(&line);
        if line.contains("Ctrl-C stops the demo") {
            break;
        }
    }
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("demo.json")).expect("demo.json"))
            .expect("json");
    assert!(
        info["members"].as_array().expect("members").len() >= 7,
        "five planned members plus two extra"
    );
    let people = info["people"].as_array().expect("people");
    assert_eq!(
        people.len(),
        3,
        "an operator, Kent's member-admin, an assessor"
    );
    for person in people {
        let username = person["username"].as_str().expect("username");
        let password = person["password"].as_str().expect("password");
        assert!(
            printed.contains(username) && printed.contains(password),
            "{username} printed"
        );
    }
    let ui = info["ui"].as_str().expect("ui");
    assert!(printed.contains(ui), "the UI address is printed");
    for person in people {
        signs_in(&dir, ui, person).await;
    }
    let examples = info["examples"].as_array().expect("examples");
    assert!(examples.len() >= 4);
    for example in examples {
        let curl = example["curl"].as_str().expect("curl");
        assert!(
            printed.contains(curl),
            "the printed calls and demo.json agree"
        );
        let header = curl
            .split('\'')
            .nth(1)
            .expect("header")
            .trim_start_matches("PSN-Client: ");
        let url = curl.split('\'').nth(3).expect("url");
        let resp = common::client()
            .get(url)
            .header("PSN-Client", header)
            .send()
            .await
            .expect("call");
        assert_eq!(
            resp.status().as_u16(),
            example["expect_status"].as_u64().expect("status") as u16,
            "{}",
            example["description"]
        );
    }
    // The sample catalogue: search finds both forces' custody listings, marked as samples, and
    // the partner finder lists both providers of HR shared services.
    let authority_dir = dir.join("authority").display().to_string();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_psn"))
            .args(args)
            .args(["--output", "json", "--data-dir", &authority_dir])
            .env("PSN_LOG", "error")
            .output()
            .expect("psn");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let custody = cli(&["catalogue", "search", "custody", "records"]);
    assert_eq!(custody["total"], 2, "{custody}");
    let samples = cli(&["catalogue", "search", "sample", "data"]);
    assert!(
        samples["total"].as_u64().is_some_and(|n| n >= 13),
        "{samples}"
    );
    let payroll = cli(&["catalogue", "partners", "--process", "psn:4002"]);
    assert!(
        payroll["providers"]
            .as_array()
            .is_some_and(|p| p.len() >= 2),
        "{payroll}"
    );
    // Synthetic returns for every council: Kent's report has its position, its peers and a
    // saving from buying Essex's accounts payable at its listed price.
    let report = cli(&[
        "benchmark",
        "report",
        "--process",
        "psn:4004",
        "--member",
        "GB/LA/E10000016",
    ]);
    assert_eq!(report["synthetic"], true, "{report}");
    assert!(
        report["distribution"]["contributors"]
            .as_u64()
            .is_some_and(|n| n > 300),
        "{report}"
    );
    assert_eq!(report["peers"].as_array().map(Vec::len), Some(15));
    assert!(
        report["savings"].as_array().is_some_and(|s| s
            .iter()
            .any(|s| s["basis"]["service"] == "GB/LA/E10000030/finance/accounts-payable")),
        "{report}"
    );
    // Compliance: every fixed member holds a connection certificate; Lincolnshire's expires
    // within a week, so its 30- and 7-day reminders were sent; Hampshire's service provision
    // is approaching standard.
    let status = cli(&["compliance", "status"]);
    let members = status["members"].as_array().expect("members");
    assert_eq!(members.len(), 5, "{status}");
    let soon = cli(&["compliance", "status", "--expiring", "7d"]);
    let soon = soon["members"].as_array().expect("members");
    assert_eq!(soon.len(), 1, "{soon:?}");
    assert_eq!(soon[0]["member"], "GB/LA/E10000019");
    assert_eq!(soon[0]["reminders"], serde_json::json!(["30d", "7d"]));
    assert!(
        members.iter().any(|m| m["certificates"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["state"] == "approaching-standard"))),
        "{status}"
    );
    // Federation: each authority holds the other as an active partner, and GB trusts exactly
    // the Kent regional member GB-KENT exports (Medway stays unknown to GB).
    let partners = cli(&["federation", "list"]);
    let partner = &partners["items"][0];
    assert_eq!(partner["network"], "GB-KENT", "{partners}");
    assert_eq!(partner["freshness"]["state"], "active", "{partners}");
    assert_eq!(partner["received"]["members"], 1, "{partners}");
    let region_dir = info["region"]["data_dir"]
        .as_str()
        .expect("region data dir");
    let out = Command::new(env!("CARGO_BIN_EXE_psn"))
        .args([
            "federation",
            "show",
            "GB",
            "--output",
            "json",
            "--data-dir",
            region_dir,
        ])
        .env("PSN_LOG", "error")
        .output()
        .expect("psn");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gb: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(gb["freshness"]["state"], "active", "{gb}");
    assert_eq!(gb["received"]["services"], 1, "{gb}");
    // Every example call left records, and the logs verify while the demo runs.
    for member in info["members"].as_array().expect("members") {
        let data_dir = member["data_dir"].as_str().expect("data dir");
        let verified = Command::new(env!("CARGO_BIN_EXE_psn"))
            .args(["audit", "verify", data_dir])
            .output()
            .expect("psn audit verify");
        assert!(
            verified.status.success(),
            "{data_dir}: {}",
            String::from_utf8_lossy(&verified.stdout)
        );
    }
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "demo must stop cleanly on Ctrl-C: {exit:?}");
}

/// Signs in to the demo's web UI as `person` (the sign-in form's token and cookie included) and
/// expects to be sent to the overview with a session.
async fn signs_in(dir: &std::path::Path, ui: &str, person: &serde_json::Value) {
    let ca_pem = std::fs::read_to_string(dir.join("authority").join("ca.pem")).expect("ca.pem");
    let ca = psn_pki::parse_pem_certificates(&ca_pem)
        .expect("ca")
        .remove(0);
    let browser = reqwest::Client::builder()
        .use_preconfigured_tls(psn_pki::client_config(&ca, None).expect("tls"))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client");
    let form = browser
        .get(format!("{ui}sign-in"))
        .send()
        .await
        .expect("form");
    let cookie = form.headers()["set-cookie"].to_str().expect("cookie");
    let cookie = cookie.split(';').next().expect("name=value").to_owned();
    let html = form.text().await.expect("html");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf field");
    let signed_in = browser
        .post(format!("{ui}sign-in"))
        .header("cookie", cookie)
        .form(&[
            ("username", person["username"].as_str().expect("username")),
            ("password", person["password"].as_str().expect("password")),
            ("csrf", csrf),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 303, "{person}");
    assert!(signed_in.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .starts_with("__Host-psn-session="));
}
