//! `psn gateway service openapi`, `psn catalogue openapi` and `psn catalogue export` through
//! the real binary against a real authority: upload from the provider's gateway directory,
//! refusals that say why, fetch byte for byte, removal, and both export formats.

mod common;

use common::Net;
use std::process::{Command, Output};
use std::time::Duration;

fn psn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_psn"))
        .args(args)
        .env_remove("PSN_DATA_DIR")
        .env_remove("PSN_AUTHORITY")
        .env("PSN_LOG", "error")
        .output()
        .expect("run psn")
}

fn ok(args: &[&str]) -> String {
    let out = psn(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(args: &[&str]) -> String {
    let out = psn(args);
    assert!(!out.status.success(), "{args:?} should be refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const DOCUMENT: &str = r##"{
  "openapi": "3.0.3",
  "info": {"title": "Free school meals check", "version": "1.0"},
  "paths": {"/check": {"get": {"responses": {"200": {"description": "the answer"}}}}}
}
"##;

// The authority runs in this process; the binary's blocking calls need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_uploads_and_removes_its_document_and_readers_export_the_catalogue() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let authority = net.tmp.path().join("authority").display().to_string();
    let dfe = net.members[common::PROVIDER]
        .dir
        .root()
        .display()
        .to_string();
    let kent = net.members[common::CONSUMER]
        .dir
        .root()
        .display()
        .to_string();
    let file = net.tmp.path().join("openapi.json");
    std::fs::write(&file, DOCUMENT).expect("write");
    let file = file.display().to_string();
    let service = common::SERVICE;

    let said = ok(&[
        "gateway",
        "service",
        "openapi",
        service,
        "--file",
        &file,
        "--data-dir",
        &dfe,
    ]);
    assert!(said.contains("kept the OpenAPI document"), "{said}");
    let fetched = ok(&["catalogue", "openapi", service, "--data-dir", &authority]);
    assert_eq!(fetched, DOCUMENT, "byte for byte");
    let out = net.tmp.path().join("fetched.json");
    ok(&[
        "catalogue",
        "openapi",
        service,
        "--out",
        &out.display().to_string(),
        "--data-dir",
        &authority,
    ]);
    assert_eq!(std::fs::read_to_string(&out).expect("read"), DOCUMENT);

    // Refusals: another member's gateway, a broken document, YAML, neither --file nor --remove.
    let stderr = refused(&[
        "gateway",
        "service",
        "openapi",
        service,
        "--file",
        &file,
        "--data-dir",
        &kent,
    ]);
    assert!(stderr.contains("belongs to GB/GOV/D6"), "{stderr}");
    let broken = net.tmp.path().join("broken.json");
    std::fs::write(&broken, DOCUMENT.replace("\"info\"", "\"infos\"")).expect("write");
    let stderr = refused(&[
        "gateway",
        "service",
        "openapi",
        service,
        "--file",
        &broken.display().to_string(),
        "--data-dir",
        &dfe,
    ]);
    assert!(stderr.contains("/info: is required"), "{stderr}");
    let yaml = net.tmp.path().join("openapi.yaml");
    std::fs::write(&yaml, "openapi: 3.0.3\n").expect("write");
    let stderr = refused(&[
        "gateway",
        "service",
        "openapi",
        service,
        "--file",
        &yaml.display().to_string(),
        "--data-dir",
        &dfe,
    ]);
    assert!(stderr.contains("yq -o=json"), "{stderr}");
    refused(&["gateway", "service", "openapi", service, "--data-dir", &dfe]);
    assert_eq!(
        ok(&["catalogue", "openapi", service, "--data-dir", &authority]),
        DOCUMENT
    );

    // Both exports name the document.
    let dcat = ok(&["catalogue", "export", "--data-dir", &authority]);
    let catalogue: serde_json::Value = serde_json::from_str(&dcat).expect("JSON-LD");
    assert_eq!(catalogue["@type"], "dcat:Catalog");
    assert_eq!(catalogue["dcat:service"][0]["dct:identifier"], service);
    let described = catalogue["dcat:service"][0]["dcat:endpointDescription"]["@id"]
        .as_str()
        .unwrap_or_default();
    assert!(described.ends_with("/fsm-check/openapi.json"), "{dcat}");
    let csv_file = net.tmp.path().join("catalogue.csv");
    ok(&[
        "catalogue",
        "export",
        "--format",
        "csv",
        "--out",
        &csv_file.display().to_string(),
        "--data-dir",
        &authority,
    ]);
    let mut reader = csv::Reader::from_path(&csv_file).expect("csv");
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][0], service);
    assert!(rows[0]
        .iter()
        .any(|c| c.ends_with("/fsm-check/openapi.json")));

    let said = ok(&[
        "gateway",
        "service",
        "openapi",
        service,
        "--remove",
        "--data-dir",
        &dfe,
    ]);
    assert!(said.contains("removed"), "{said}");
    let stderr = refused(&["catalogue", "openapi", service, "--data-dir", &authority]);
    assert!(stderr.contains("has no OpenAPI document"), "{stderr}");
    net.stop().await;
}
