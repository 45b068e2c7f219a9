//! The peer listener's checkpoint exchange (`/.psn/checkpoint`) under hostile input from a
//! trusted peer: wrong method, malformed, oversized, forged or foreign checkpoints, and ones
//! behind or beside the one kept, are refused with problems and leave the kept copy as it was;
//! a good one is kept and answered with the provider's own.

mod common;

use common::tls::AcceptAnyServer;
use common::{Net, CONSUMER, OUTSIDER, PROVIDER};
use http_body_util::BodyExt;
use psn_audit::format::{ChainHash, Seal};
use psn_core::checkpoint::Checkpoint;
use psn_core::encoding::b64url;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;

type Sender = hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// An HTTP/2 connection to `addr`'s peer listener presenting the gateway identity `pem`.
async fn connect(addr: std::net::SocketAddr, pem: &str) -> Sender {
    let id = psn_pki::TlsIdentity::from_pem(pem, pem).expect("identity");
    let mut config = rustls::ClientConfig::builder_with_provider(psn_pki::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer))
        .with_client_auth_cert(id.chain, id.key)
        .expect("client cert");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("gateway.psn.invalid").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls");
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .expect("h2");
    tokio::spawn(conn);
    sender
}

/// Sends `method /.psn/checkpoint` with `body`; the status and the body.
async fn send(sender: &mut Sender, method: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let request = http::Request::builder()
        .method(method)
        .uri("https://peer/.psn/checkpoint")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("in time")
        .expect("answered");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&body).expect("JSON"))
}

/// A seal at (1, `entry`) of `member`'s log signed with its gateway's key, as a checkpoint.
fn sealed(net: &Net, member: &str, entry: u64, head: u8) -> Checkpoint {
    let (identity, pem) = net.members[member].dir.load_identity().expect("identity");
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
    let log = format!("{member}@gw1");
    let signer = psn_pki::StatementSigner::from_pem(&pem).expect("key");
    seal.signature = b64url(&signer.sign(&seal.signed_bytes(&log, 1, entry)));
    psn_audit::checkpoint_of(&log, 1, entry, &seal, &der)
}

fn json(checkpoint: &Checkpoint) -> Vec<u8> {
    serde_json::to_vec(checkpoint).expect("json")
}

fn problem_type(body: &serde_json::Value) -> &str {
    body["type"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_plant_a_false_checkpoint_or_move_the_kept_one_back() {
    let net = Net::start(Duration::from_secs(10)).await;
    let provider = net.members[PROVIDER].external;
    let (_, consumer_pem) = net.members[CONSUMER].dir.load_identity().expect("identity");
    let mut peer = connect(provider, &consumer_pem).await;
    let kept_path = psn_audit::peer_checkpoint_path(
        net.members[PROVIDER].dir.root(),
        &format!("{CONSUMER}@gw1").parse().expect("id"),
    );

    let (status, body) = send(&mut peer, "GET", Vec::new()).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(problem_type(&body), "urn:psn:problem:method-not-allowed");
    for (bad, status, kind) in [
        (b"{".to_vec(), 400, "invalid-request"),
        (b"{\"log\":1}".to_vec(), 400, "invalid-request"),
        (vec![b' '; 20_000], 413, "body-too-large"),
    ] {
        let (got, body) = send(&mut peer, "POST", bad).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(problem_type(&body), format!("urn:psn:problem:{kind}"));
    }
    let mut forged = sealed(&net, CONSUMER, 5, 1);
    forged.entry = 6;
    let (status, body) = send(&mut peer, "POST", json(&forged)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("does not verify"));
    let foreign = sealed(&net, OUTSIDER, 5, 1);
    let (status, body) = send(&mut peer, "POST", json(&foreign)).await;
    assert_eq!(
        status, 400,
        "another gateway's checkpoint over this connection: {body}"
    );
    assert!(!kept_path.exists(), "nothing refused was kept");

    // Nothing to offer is fine; a good checkpoint is kept and answered with the provider's.
    let (status, _) = send(&mut peer, "POST", b"null".to_vec()).await;
    assert_eq!(status, 200);
    let good = sealed(&net, CONSUMER, 5, 1);
    let (status, answer) = send(&mut peer, "POST", json(&good)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.is_null() || answer["log"] == format!("{PROVIDER}@gw1"),
        "the provider's own checkpoint: {answer}"
    );
    assert_eq!(
        psn_audit::read_checkpoint_file(&kept_path).expect("kept"),
        good
    );

    for (offered, why) in [
        (sealed(&net, CONSUMER, 3, 2), "behind"),
        (
            sealed(&net, CONSUMER, 5, 2),
            "another seal at the same position as",
        ),
    ] {
        let (status, body) = send(&mut peer, "POST", json(&offered)).await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(why),
            "{body}"
        );
    }
    assert_eq!(
        psn_audit::read_checkpoint_file(&kept_path).expect("kept"),
        good,
        "the kept checkpoint did not move back"
    );
    let later = sealed(&net, CONSUMER, 9, 3);
    assert_eq!(send(&mut peer, "POST", json(&later)).await.0, 200);
    assert_eq!(
        psn_audit::read_checkpoint_file(&kept_path).expect("kept"),
        later
    );
    net.stop().await;
}
