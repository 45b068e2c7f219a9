//! A log that cannot be shortened unnoticed (issue 14), end to end with real `psn gateway serve`
//! processes and a real authority: exchanges flow, the consumer gateway's latest seal reaches the
//! authority with its aggregates and the provider gateway over their connection; the gateway is
//! stopped and its log's tail cut off (the records and the seal that covered them). Plain
//! `psn audit verify` still passes, as it must (the cut log is intact in itself), but
//! `--against-authority` and `--against-peer` fail, saying where the log ends and where the
//! checkpoint is. A forged, backwards or equivocating checkpoint is refused by the authority and
//! changes nothing.

mod common;

use common::process::spawn_gateway;
use common::{client, Net, CONSUMER, PROVIDER};
use psn_api::AuthorityClient;
use psn_audit::format::{decode_entry, frames, Entry};
use psn_core::checkpoint::Checkpoint;
use psn_core::encoding::{b64url, hex};
use psn_core::names::GatewayId;
use psn_core::problem::ProblemType;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

const CLIENT: &str = "GB/LA/E10000016/revenues";

/// Calls the service through the consumer gateway `n` times, expecting 200 each time.
async fn call(net: &Net, n: usize) {
    let http = client();
    for _ in 0..n {
        let response = http
            .get(net.url(CONSUMER, "/echo"))
            .header("PSN-Client", CLIENT)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("the consumer gateway answers");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body");
    }
}

/// Short seal and push intervals, no probes (so the logs change only with the test's calls).
async fn configure(net: &Net) {
    for member in [CONSUMER, PROVIDER] {
        let dir = &net.members[member].dir;
        let mut settings = dir.load_settings().expect("settings");
        settings.monitoring.probes = false;
        settings.monitoring.push_interval = Duration::from_millis(100);
        settings.audit.seal_interval = Duration::from_millis(100);
        dir.save_settings(&settings).expect("save");
        psn_gateway::sync_config(dir, None).await.expect("sync");
    }
}

/// Polls `check` until it gives a value; fails after 30 s.
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn gateway_id(member: &str) -> GatewayId {
    format!("{member}@gw1").parse().expect("gateway id")
}

/// The checkpoint the authority holds for `member`'s gateway once it covers `records` records.
async fn authority_holds(net: &Net, member: &str, records: u64) -> Checkpoint {
    let id = gateway_id(member);
    until("the authority's checkpoint", || async {
        let held = net.operator.gateway_checkpoint(&id).await.ok()?;
        (held.records >= records).then_some(held)
    })
    .await
}

async fn psn(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_psn"))
            .args(&args)
            .env("PSN_LOG", "error")
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

/// Cuts the active segment of the log in `dir` back behind the seal at `position`: to the end of
/// the seal before it, or before the first record if there is none, so the records the seal
/// covered go with it and what is left is intact. Returns the last entry left.
fn cut_behind(dir: &Path, position: (u64, u64)) -> u64 {
    let path = dir
        .join("audit/segments")
        .join(psn_audit::format::segment_file_name(position.0));
    let data = std::fs::read(&path).expect("segment");
    let entries: Vec<_> = frames(&data)
        .expect("a segment")
        .map(|f| f.expect("frame"))
        .filter(|f| f.index < position.1)
        .map(|f| {
            (
                f.index,
                f.offset,
                f.end(),
                decode_entry(f.payload).expect("entry"),
            )
        })
        .collect();
    let seal = entries
        .iter()
        .rev()
        .find(|(_, _, _, e)| matches!(e, Entry::Seal(_)));
    let (last, len) = match seal {
        Some((index, _, end, _)) => (*index, *end),
        None => {
            let (index, offset, _, _) = entries
                .iter()
                .find(|(_, _, _, e)| matches!(e, Entry::Record(_)))
                .expect("a record");
            (index - 1, *offset)
        }
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(len)
        .expect("truncate");
    last
}

/// A checkpoint at another position or with another head, signed with the gateway's own key: a
/// seal the gateway could have made, so only its place in the log can betray it.
fn resigned(held: &Checkpoint, identity_pem: &str, entry: u64, head: u8) -> Checkpoint {
    let mut forged = held.clone();
    forged.entry = entry;
    forged.chain_head = hex(&[head; 32]);
    let signer = psn_pki::StatementSigner::from_pem(identity_pem).expect("key");
    forged.signature = b64url(&signer.sign(&forged.signed_bytes().expect("bytes")));
    forged
}

/// The consumer gateway's own authority client (its certificate), as its pusher uses.
fn as_gateway(net: &Net, member: &str) -> (AuthorityClient, String) {
    let dir = &net.members[member].dir;
    let (identity, pem) = dir.load_identity().expect("identity");
    let url = &net.authority.as_ref().expect("authority").url;
    let client = AuthorityClient::gateway(url, &net.ca_der, identity).expect("client");
    (client, pem)
}

async fn refused(client: &AuthorityClient, checkpoint: &Checkpoint) -> (ProblemType, String) {
    let e = client
        .push_checkpoint(checkpoint)
        .await
        .expect_err("the authority refuses it");
    (e.problem_type().expect("a problem"), e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_cut_back_behind_a_checkpoint_fails_verification_against_authority_and_peer() {
    let net = Net::prepare(Duration::from_secs(10)).await;
    configure(&net).await;
    let provider = spawn_gateway(&net, PROVIDER);
    let consumer = spawn_gateway(&net, CONSUMER);
    call(&net, 5).await;
    let first = authority_holds(&net, CONSUMER, 5).await;
    // The next exchange offers the provider the consumer's moved-on checkpoint.
    call(&net, 3).await;
    let consumer_dir = net.members[CONSUMER].dir.root().to_path_buf();
    let provider_dir = net.members[PROVIDER].dir.root().to_path_buf();
    let kept_path = psn_audit::peer_checkpoint_path(&provider_dir, &gateway_id(CONSUMER));
    let kept = until("the provider's copy", || async {
        psn_audit::read_checkpoint_file(&kept_path).ok()
    })
    .await;
    assert!(kept.records >= first.records, "{kept:?}");
    // And the consumer keeps the provider's.
    let theirs = psn_audit::peer_checkpoint_path(&consumer_dir, &gateway_id(PROVIDER));
    until("the consumer's copy", || async {
        psn_audit::read_checkpoint_file(&theirs).ok()
    })
    .await;
    let held = authority_holds(&net, CONSUMER, 8).await;
    consumer.interrupt();
    provider.interrupt();
    // Both stopped: what the authority and the provider hold now stays put.
    let held = net
        .operator
        .gateway_checkpoint(&gateway_id(CONSUMER))
        .await
        .unwrap_or(held);
    let kept = psn_audit::read_checkpoint_file(&kept_path).expect("the provider's copy");

    let dir = consumer_dir.display().to_string();
    let verify = |extra: &[&str]| {
        let mut args: Vec<String> = ["audit", "verify", &dir].map(String::from).to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        psn(args)
    };
    let provider_arg = provider_dir.display().to_string();
    let out = verify(&["--against-authority", "--against-peer", &provider_arg]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "the log holds the seal the authority holds, at {}",
            held.describe()
        )),
        "{}",
        text(&out)
    );

    // Cut the tail: behind the earlier of the two checkpoints, so both are past the end.
    let earliest = held.position().min(kept.position());
    let last = cut_behind(&consumer_dir, earliest);
    let out = verify(&[]).await;
    assert!(out.status.success(), "plain verify passes: {}", text(&out));

    let out = verify(&["--against-authority"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let expected = format!(
        "the log ends at segment {} entry {last} but the authority holds a checkpoint at {}",
        earliest.0,
        held.describe()
    );
    assert!(text(&out).contains(&expected), "{expected}\n{}", text(&out));

    let out = verify(&["--against-peer", &provider_arg]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let expected = format!(
        "the log ends at segment {} entry {last} but the peer ({provider_arg}) holds a checkpoint at {}",
        earliest.0,
        kept.describe()
    );
    assert!(text(&out).contains(&expected), "{expected}\n{}", text(&out));

    // An operator asking the authority by URL and token gets the same answer.
    let authority = net.authority.as_ref().expect("authority");
    let token = std::fs::read_to_string(net.tmp.path().join("authority/operator.token"))
        .expect("operator token");
    let url = authority.url.clone();
    let out = verify(&[
        "--against-authority",
        "--authority",
        &url,
        "--token",
        token.trim(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("but the authority holds a checkpoint at"));

    // The cut gateway cannot talk the authority back: behind, beside or forged is refused.
    let (gateway, pem) = as_gateway(&net, CONSUMER);
    let behind = resigned(&held, &pem, held.entry - 1, 7);
    let (kind, detail) = refused(&gateway, &behind).await;
    assert_eq!(kind, ProblemType::Conflict, "{detail}");
    assert!(
        detail.contains("is behind the one the authority holds"),
        "{detail}"
    );
    let beside = resigned(&held, &pem, held.entry, 9);
    let (kind, detail) = refused(&gateway, &beside).await;
    assert_eq!(kind, ProblemType::Conflict, "{detail}");
    assert!(
        detail.contains("another seal at the same position"),
        "{detail}"
    );
    let mut forged = held.clone();
    forged.entry += 100;
    let (kind, detail) = refused(&gateway, &forged).await;
    assert_eq!(kind, ProblemType::InvalidRequest, "{detail}");
    assert!(detail.contains("signature does not verify"), "{detail}");
    let (provider_gateway, provider_pem) = as_gateway(&net, PROVIDER);
    let (kind, detail) = refused(&provider_gateway, &held).await;
    assert_eq!(
        kind,
        ProblemType::InvalidRequest,
        "another gateway's checkpoint: {detail}"
    );
    let mut foreign = resigned(&held, &provider_pem, held.entry + 1, 3);
    foreign.signer_serial = held.signer_serial.clone();
    let (kind, _) = refused(&gateway, &foreign).await;
    assert_eq!(kind, ProblemType::InvalidRequest, "signed with another key");
    let mut oversized = held.clone();
    oversized.certificate = "A".repeat(20_000);
    let (kind, _) = refused(&gateway, &oversized).await;
    assert_eq!(kind, ProblemType::BodyTooLarge);
    let mut ahead = held.clone();
    ahead.at_ms += 3_600_000;
    let ahead = resigned(&ahead, &pem, held.entry + 1, 5);
    let (kind, _) = refused(&gateway, &ahead).await;
    assert_eq!(kind, ProblemType::InvalidRequest, "signed an hour ahead");
    assert_eq!(
        net.operator
            .gateway_checkpoint(&gateway_id(CONSUMER))
            .await
            .expect("still held"),
        held,
        "nothing refused changed the held checkpoint"
    );
    assert_eq!(
        gateway.own_checkpoint().await.expect("own checkpoint"),
        held
    );
    // Pushing the held one again is accepted and changes nothing.
    assert_eq!(gateway.push_checkpoint(&held).await.expect("same"), held);
    net.stop().await;
}
