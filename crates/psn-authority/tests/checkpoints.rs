//! Audit-log checkpoints at the authority over real mutual TLS, on SQLite and (when configured)
//! PostgreSQL: the latest per gateway is kept and served, it only moves forward, and every
//! refusal (behind, beside, forged, malformed) leaves it as it was.

mod common;

use common::{backends, TestAuthority};
use psn_api::*;
use psn_audit::format::{ChainHash, Seal};
use psn_core::checkpoint::Checkpoint;
use psn_core::encoding::b64url;
use psn_core::names::GatewayId;
use psn_core::problem::ProblemType;
use psn_gateway::GatewayDir;

const KENT: &str = "GB/LA/E10000016";

/// Enrols Kent's gateway `gw1`; returns its directory and its own client.
async fn enrol(a: &TestAuthority) -> (GatewayDir, AuthorityClient) {
    let gateway = common::enrol_member(a, KENT, "Kent County Council", "revenues").await;
    (gateway.dir, gateway.client)
}

/// A seal at (`segment`, `entry`) signed with the gateway's key, exported as a checkpoint.
fn sealed(dir: &GatewayDir, segment: u64, entry: u64, head: u8) -> Checkpoint {
    let (identity, pem) = dir.load_identity().expect("identity");
    let der = identity.chain[0].to_vec();
    let serial = psn_pki::CertificateInfo::from_der(&der)
        .expect("certificate")
        .serial;
    let mut seal = Seal {
        chain_head: ChainHash([head; 32]),
        records: entry,
        at_ms: time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
        signer_serial: serial,
        signature: String::new(),
        last: false,
    };
    let log = format!("{KENT}@gw1");
    let signer = psn_pki::StatementSigner::from_pem(&pem).expect("key");
    seal.signature = b64url(&signer.sign(&seal.signed_bytes(&log, segment, entry)));
    psn_audit::checkpoint_of(&log, segment, entry, &seal, &der)
}

fn kind(e: &ClientError) -> ProblemType {
    e.problem_type()
        .unwrap_or_else(|| panic!("expected a problem, got {e}"))
}

#[tokio::test]
async fn the_latest_checkpoint_is_kept_and_never_moves_back() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let (dir, gw) = enrol(&a).await;
        let op = a.operator();
        let id: GatewayId = format!("{KENT}@gw1").parse().expect("id");
        assert_eq!(
            kind(&gw.own_checkpoint().await.expect_err("none yet")),
            ProblemType::NotFound
        );
        assert_eq!(
            kind(&op.gateway_checkpoint(&id).await.expect_err("none yet")),
            ProblemType::NotFound
        );

        let first = sealed(&dir, 1, 5, 1);
        assert_eq!(gw.push_checkpoint(&first).await.expect("first"), first);
        let later = sealed(&dir, 1, 9, 2);
        assert_eq!(gw.push_checkpoint(&later).await.expect("later"), later);
        assert_eq!(gw.push_checkpoint(&later).await.expect("again"), later);
        let next_segment = sealed(&dir, 2, 1, 3);
        gw.push_checkpoint(&next_segment)
            .await
            .expect("next segment");

        let behind = gw.push_checkpoint(&later).await.expect_err("behind");
        assert_eq!(kind(&behind), ProblemType::Conflict);
        assert!(
            behind.to_string().contains("segment 2 entry 1"),
            "names the held one: {behind}"
        );
        let beside = sealed(&dir, 2, 1, 4);
        let e = gw.push_checkpoint(&beside).await.expect_err("beside");
        assert_eq!(kind(&e), ProblemType::Conflict);
        let mut forged = sealed(&dir, 3, 1, 5);
        forged.records += 1;
        let e = gw.push_checkpoint(&forged).await.expect_err("forged");
        assert_eq!(kind(&e), ProblemType::InvalidRequest);

        let raw = {
            let (identity, _) = dir.load_identity().expect("identity");
            let tls = psn_pki::client_config(&a.ca_der, Some(identity)).expect("tls");
            reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .build()
                .expect("client")
        };
        let url = format!("{}/v1/gateway/checkpoint", a.url);
        let mut extra = serde_json::to_value(sealed(&dir, 3, 1, 6)).expect("json");
        extra["also"] = serde_json::json!(1);
        for (body, content_type, status) in [
            (extra.to_string(), "application/json", 400),
            ("{".to_owned(), "application/json", 400),
            ("null".to_owned(), "application/json", 400),
            ("[]".to_owned(), "text/plain", 415),
            (
                format!("\"{}\"", "x".repeat(40_000)),
                "application/json",
                413,
            ),
        ] {
            let response = raw
                .put(&url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("answered");
            assert_eq!(response.status().as_u16(), status);
            let problem: serde_json::Value = response.json().await.expect("a problem document");
            assert!(problem["type"].is_string(), "{problem}");
        }
        let e = op
            .gateway_checkpoint(&"GB/LA/E10000099@gw1".parse().expect("id"))
            .await
            .expect_err("no such gateway");
        assert_eq!(kind(&e), ProblemType::NotFound);
        a.assert_invalid_queries("/v1/members/GB/LA/E10000016/gateways/GW!/checkpoint", &[""])
            .await;

        assert_eq!(
            op.gateway_checkpoint(&id).await.expect("held"),
            next_segment,
            "no refusal changed what is held ({backend:?})"
        );
        assert_eq!(gw.own_checkpoint().await.expect("own"), next_segment);
        a.stop().await;
    }
}
