//! Checkpoints from a real log: the log exports its latest durable seal (and finds it again on
//! reopening), the checkpoint verifies against the CA and nothing else, and a log cut back
//! behind it, or rewritten at its position, is told apart from one that holds it, though
//! `verify` alone finds nothing wrong with the cut log.

mod common;

use common::{Fixture, ME, PEER};
use psn_audit::format::{frames, Entry};
use psn_audit::{CheckpointCheck, Durability, Kept, LogOptions, VerifyOptions};
use psn_core::checkpoint::{Checkpoint, Succession};
use psn_core::names::GatewayId;

/// Appends `n` records to a log sealing every 4, closes it (sealing the rest), and returns its
/// last checkpoint as the writer published it.
async fn write(fx: &Fixture, n: usize) -> Checkpoint {
    let (log, _) = fx.open(LogOptions {
        seal_every_records: 4,
        ..LogOptions::default()
    });
    for record in fx.exchanges("c", n, 4) {
        log.append(&record, Some(fx.peer.der()), Durability::Durable)
            .await
            .expect("append");
    }
    log.close().await.expect("close");
    (*log.checkpoint().expect("a checkpoint after a seal")).clone()
}

fn me() -> GatewayId {
    ME.parse().expect("gateway")
}

/// Cuts the active segment back to just after the seal before `checkpoint`'s: the records it
/// covered and the seal itself go, and what is left ends with an intact, sealed tail.
fn cut_behind(fx: &Fixture, checkpoint: &Checkpoint) -> u64 {
    let path = fx.segments().pop().expect("a segment");
    let data = std::fs::read(&path).expect("read");
    let end = frames(&data)
        .expect("segment")
        .map(|f| f.expect("frame"))
        .filter(|f| f.index < checkpoint.entry)
        .filter(|f| {
            matches!(
                psn_audit::format::decode_entry(f.payload),
                Ok(Entry::Seal(_))
            )
        })
        .last()
        .expect("an earlier seal");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(end.end()).expect("truncate");
    end.index
}

#[tokio::test]
async fn a_log_cut_back_behind_its_checkpoint_is_found_though_it_verifies() {
    let fx = Fixture::new();
    let checkpoint = write(&fx, 10).await;
    assert_eq!(checkpoint.log, ME);
    assert_eq!(checkpoint.records, 10, "the close sealed all ten records");
    psn_audit::verify_checkpoint(&checkpoint, &me(), fx.ca().certificate_der())
        .expect("the checkpoint verifies with the CA alone");
    assert_eq!(
        psn_audit::check_checkpoint(fx.path(), &checkpoint).expect("check"),
        CheckpointCheck::Holds
    );

    // Reopening finds the same latest seal in the log.
    let (log, _) = fx.open(LogOptions::default());
    assert_eq!(log.checkpoint().as_deref(), Some(&checkpoint));
    log.close().await.expect("close");

    let last = cut_behind(&fx, &checkpoint);
    let report =
        psn_audit::verify(fx.path(), &VerifyOptions::default(), &mut |_| {}).expect("verify");
    assert!(report.is_intact(), "the cut leaves a log intact in itself");
    assert_eq!(
        psn_audit::check_checkpoint(fx.path(), &checkpoint).expect("check"),
        CheckpointCheck::Short {
            segment: checkpoint.segment,
            entry: last
        }
    );
}

#[tokio::test]
async fn a_rewritten_position_diverges_and_forged_checkpoints_do_not_verify() {
    let fx = Fixture::new();
    let checkpoint = write(&fx, 8).await;
    let ca = fx.ca().certificate_der();

    let mut other_head = checkpoint.clone();
    other_head.chain_head = "0".repeat(64);
    let mut bad_signature = checkpoint.clone();
    bad_signature.entry += 1;
    let mut not_hex = checkpoint.clone();
    not_hex.chain_head = "Z".repeat(64);
    let mut no_certificate = checkpoint.clone();
    no_certificate.certificate = "!".into();
    for (what, forged) in [
        ("another head", &other_head),
        ("another position", &bad_signature),
        ("a malformed head", &not_hex),
        ("no certificate", &no_certificate),
    ] {
        assert!(
            psn_audit::verify_checkpoint(forged, &me(), ca).is_err(),
            "{what} must not verify"
        );
    }
    let peer: GatewayId = PEER.parse().expect("peer");
    let refused = psn_audit::verify_checkpoint(&checkpoint, &peer, ca).expect_err("not the peer's");
    assert!(refused.contains("not of"), "{refused}");
    let stranger = Fixture::new();
    assert!(
        psn_audit::verify_checkpoint(&checkpoint, &me(), stranger.ca().certificate_der()).is_err(),
        "another network's CA does not vouch for it"
    );

    // The same position holding another seal is a rewrite, not a cut.
    match psn_audit::check_checkpoint(fx.path(), &other_head).expect("check") {
        CheckpointCheck::Diverges { found } => assert!(found.contains("another seal"), "{found}"),
        other => panic!("expected a divergence, got {other:?}"),
    }
    let mut not_a_seal = checkpoint.clone();
    not_a_seal.entry -= 1;
    assert!(matches!(
        psn_audit::check_checkpoint(fx.path(), &not_a_seal).expect("check"),
        CheckpointCheck::Diverges { .. }
    ));
    let mut later_segment = checkpoint.clone();
    later_segment.segment += 1;
    assert!(matches!(
        psn_audit::check_checkpoint(fx.path(), &later_segment).expect("check"),
        CheckpointCheck::Short { .. }
    ));
}

#[tokio::test]
async fn a_peer_keeps_only_a_later_checkpoint() {
    let fx = Fixture::new();
    let first = write(&fx, 4).await;
    let later = write(&fx, 4).await;
    assert_eq!(first.succession(&later), Succession::Later);
    let keeper = tempfile::tempdir().expect("tempdir");
    let peer = me();
    let keep = |c: &Checkpoint| psn_audit::keep_peer_checkpoint(keeper.path(), &peer, c);
    assert_eq!(keep(&first).expect("keep"), Kept::Replaced);
    assert_eq!(keep(&first).expect("keep"), Kept::Unchanged);
    assert_eq!(keep(&later).expect("keep"), Kept::Replaced);
    assert_eq!(
        keep(&first).expect("keep"),
        Kept::Refused(Succession::Backwards)
    );
    let mut rewritten = later.clone();
    rewritten.chain_head = "1".repeat(64);
    assert_eq!(
        keep(&rewritten).expect("keep"),
        Kept::Refused(Succession::Equivocation)
    );
    let path = psn_audit::peer_checkpoint_path(keeper.path(), &peer);
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some(format!("{}.json", ME.replace('/', "%2F")).as_str())
    );
    assert_eq!(
        psn_audit::read_checkpoint_file(&path).expect("read"),
        later,
        "refused checkpoints changed nothing"
    );

    std::fs::write(&path, vec![b' '; 20_000]).expect("write");
    let refused = psn_audit::read_checkpoint_file(&path).expect_err("oversized");
    assert!(refused.to_string().contains("limit"), "{refused}");
    std::fs::write(&path, b"{\"log\":1}").expect("write");
    assert!(psn_audit::read_checkpoint_file(&path).is_err(), "malformed");
}
