//! Tampering with a real log, each way the issue lists, is detected and located: the segment, the
//! entry, and what is wrong.

mod common;

use common::{Fixture, ME};
use psn_audit::format::{
    decode_entry, encode_entry, encode_frame, frames, ChainHash, Entry, MAGIC,
};
use psn_audit::{Break, BreakKind, Durability, LogOptions, VerifyOptions};
use std::path::Path;

/// A log of four segments (three closed by final seals, the fourth active) with periodic seals.
async fn build(fx: &Fixture) {
    let (log, _) = fx.open(LogOptions {
        seal_every_records: 4,
        max_segment_bytes: 12 * 1024,
        ..LogOptions::default()
    });
    let peer = fx.peer.der();
    for record in fx.exchanges("t", 40, 8) {
        log.append(&record, Some(peer.clone()), Durability::Durable)
            .await
            .expect("append");
    }
    log.close().await.expect("close");
    assert!(fx.segments().len() >= 4, "{} segments", fx.segments().len());
    let report = verify(fx.path());
    assert!(
        report.is_intact(),
        "untouched log: {:?}",
        report.first_break
    );
}

fn verify(path: &Path) -> psn_audit::Report {
    psn_audit::verify(path, &VerifyOptions::default(), &mut |_| {}).expect("verify")
}

fn first_break(fx: &Fixture) -> Break {
    verify(fx.path())
        .first_break
        .expect("tampering is detected")
}

/// One frame of a segment file.
#[derive(Clone)]
struct Frame {
    offset: usize,
    end: usize,
    index: u64,
    payload: Vec<u8>,
    entry: Entry,
}

fn parse(data: &[u8]) -> Vec<Frame> {
    frames(data)
        .expect("segment")
        .map(|f| {
            let f = f.expect("frame");
            Frame {
                offset: f.offset as usize,
                end: f.end() as usize,
                index: f.index,
                payload: f.payload.to_vec(),
                entry: decode_entry(f.payload).expect("entry"),
            }
        })
        .collect()
}

fn is_record(f: &Frame) -> bool {
    matches!(f.entry, Entry::Record(_))
}

fn message_id(f: &Frame) -> String {
    match &f.entry {
        Entry::Record(r) => r.message_id.clone(),
        _ => panic!("not a record"),
    }
}

/// Re-encodes `frames` as a segment, chaining from the header's previous head: what an attacker
/// who understands the format would write.
fn rechain(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let mut head = ChainHash::ZERO;
    for (i, (index, payload)) in frames.iter().enumerate() {
        if i == 0 {
            if let Ok(Entry::Header(h)) = decode_entry(payload) {
                head = h.previous_head;
            }
        }
        head = encode_frame(&mut out, &head, *index, payload);
    }
    out
}

fn assert_at(b: &Break, kind: BreakKind, segment: u64, entry: u64) {
    assert_eq!(
        (b.kind, b.segment, b.entry),
        (kind, Some(segment), Some(entry)),
        "{b}"
    );
}

#[tokio::test]
async fn a_flipped_byte_in_a_record_is_located() {
    let fx = Fixture::new();
    build(&fx).await;
    let path = &fx.segments()[1];
    let mut data = std::fs::read(path).expect("read");
    let frames = parse(&data);
    let target = frames
        .iter()
        .filter(|f| is_record(f))
        .nth(2)
        .expect("record")
        .clone();
    let purpose = b"free school meals";
    let at = target.offset
        + 12
        + target
            .payload
            .windows(purpose.len())
            .position(|w| w == purpose)
            .expect("purpose");
    data[at] ^= 0x20; // "free" becomes "Free": still valid JSON, different content
    std::fs::write(path, &data).expect("write");
    let b = first_break(&fx);
    assert_at(&b, BreakKind::Altered, 2, target.index);
    assert_eq!(b.message_id, Some(message_id(&target)));
    assert_eq!(b.offset, Some(target.offset as u64));
    assert!(b.file.ends_with("0000000000000002.psnlog"), "{}", b.file);
}

#[tokio::test]
async fn a_deleted_record_is_located() {
    let fx = Fixture::new();
    build(&fx).await;
    let path = &fx.segments()[0];
    let mut data = std::fs::read(path).expect("read");
    let frames = parse(&data);
    let target = frames
        .iter()
        .filter(|f| is_record(f))
        .nth(1)
        .expect("record")
        .clone();
    data.drain(target.offset..target.end);
    std::fs::write(path, &data).expect("write");
    let b = first_break(&fx);
    assert_at(&b, BreakKind::Missing, 1, target.index);
    assert!(b.detail.contains("removed"), "{b}");
}

#[tokio::test]
async fn swapped_records_are_located() {
    let fx = Fixture::new();
    build(&fx).await;
    let path = &fx.segments()[0];
    let data = std::fs::read(path).expect("read");
    let frames = parse(&data);
    let i = frames
        .windows(2)
        .position(|w| is_record(&w[0]) && is_record(&w[1]))
        .expect("two adjacent records");
    let (a, b) = (&frames[i], &frames[i + 1]);
    let mut swapped = data[..a.offset].to_vec();
    swapped.extend_from_slice(&data[b.offset..b.end]);
    swapped.extend_from_slice(&data[a.offset..a.end]);
    swapped.extend_from_slice(&data[b.end..]);
    std::fs::write(path, &swapped).expect("write");
    let brk = first_break(&fx);
    assert_at(&brk, BreakKind::OutOfOrder, 1, a.index);
    assert!(brk.detail.contains("reordered"), "{brk}");
}

#[tokio::test]
async fn a_truncated_sealed_segment_is_located() {
    let fx = Fixture::new();
    build(&fx).await;
    let path = fx.segments()[1].clone();
    let data = std::fs::read(&path).expect("read");
    let frames = parse(&data);
    // Inside a frame: the cut frame is reported.
    let cut = &frames[frames.len() - 3];
    std::fs::write(&path, &data[..cut.offset + 20]).expect("write");
    let b = first_break(&fx);
    assert_at(&b, BreakKind::Truncated, 2, cut.index);

    // At a frame boundary, dropping the final seal: the segment's end is reported.
    let seal = frames.last().expect("final seal");
    assert!(matches!(&seal.entry, Entry::Seal(s) if s.last));
    std::fs::write(&path, &data[..seal.offset]).expect("write");
    let b = first_break(&fx);
    assert_at(&b, BreakKind::Truncated, 2, seal.index);
    assert!(b.detail.contains("final seal"), "{b}");
}

#[tokio::test]
async fn a_segment_spliced_from_another_log_is_located() {
    let fx = Fixture::new();
    build(&fx).await;
    let other = Fixture::new();
    build(&other).await;
    std::fs::copy(&other.segments()[2], &fx.segments()[2]).expect("splice");
    let b = first_break(&fx);
    assert_at(&b, BreakKind::Discontinuity, 3, 0);
    assert!(b.detail.contains("does not continue"), "{b}");

    // A record frame spliced into the middle of a segment breaks its chain there.
    let fx = Fixture::new();
    build(&fx).await;
    let ours = std::fs::read(&fx.segments()[0]).expect("read");
    let theirs = std::fs::read(&other.segments()[0]).expect("read");
    let (our_frames, their_frames) = (parse(&ours), parse(&theirs));
    let target = our_frames
        .iter()
        .filter(|f| is_record(f))
        .nth(3)
        .expect("record");
    let donor = their_frames
        .iter()
        .find(|f| f.index == target.index)
        .expect("same position");
    let mut spliced = ours[..target.offset].to_vec();
    spliced.extend_from_slice(&theirs[donor.offset..donor.end]);
    spliced.extend_from_slice(&ours[target.end..]);
    std::fs::write(&fx.segments()[0], &spliced).expect("write");
    assert_at(&first_break(&fx), BreakKind::Altered, 1, target.index);
}

#[tokio::test]
async fn a_replaced_seal_is_located() {
    let fx = Fixture::new();
    build(&fx).await;
    let path = fx.segments()[0].clone();
    let data = std::fs::read(&path).expect("read");
    let frames = parse(&data);
    let (position, seal) = frames
        .iter()
        .enumerate()
        .find_map(|(i, f)| match &f.entry {
            Entry::Seal(s) if !s.last => Some((i, s.clone())),
            _ => None,
        })
        .expect("a periodic seal");

    // Replaced naively (new content, the old chain hash kept): the chain breaks at the seal.
    let mut naive = seal.clone();
    naive.records += 1;
    let payload = encode_entry(&Entry::Seal(naive));
    let old = &frames[position];
    let mut tampered = data[..old.offset].to_vec();
    tampered.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    tampered.extend_from_slice(&old.index.to_be_bytes());
    tampered.extend_from_slice(&payload);
    tampered.extend_from_slice(&data[old.end - 32..]); // the old hash, then the rest
    std::fs::write(&path, &tampered).expect("write");
    assert_at(&first_break(&fx), BreakKind::Altered, 1, old.index);

    // Re-signed with another gateway's key and the whole chain recomputed: the seal's signature
    // is what fails.
    let mut entries: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .map(|f| (f.index, f.payload.clone()))
        .collect();
    let mut forged = seal.clone();
    let signed = forged.signed_bytes(ME, 1, frames[position].index);
    forged.signature = psn_core::encoding::b64url(&fx.peer.signer().sign(&signed));
    entries[position].1 = encode_entry(&Entry::Seal(forged));
    std::fs::write(&path, rechain(&entries)).expect("write");
    let b = first_break(&fx);
    assert_at(&b, BreakKind::Seal, 1, frames[position].index);
    assert!(b.detail.contains("signature does not verify"), "{b}");
}

#[tokio::test]
async fn a_record_rewritten_with_a_recomputed_chain_is_caught_by_the_seal() {
    let fx = Fixture::new();
    build(&fx).await;
    let path = fx.segments()[0].clone();
    let data = std::fs::read(&path).expect("read");
    let frames = parse(&data);
    let mut entries: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .map(|f| (f.index, f.payload.clone()))
        .collect();
    let target = frames.iter().position(is_record).expect("record");
    let Entry::Record(mut record) = frames[target].entry.clone() else {
        unreachable!()
    };
    record.purpose = Some("something else".into());
    entries[target].1 = encode_entry(&Entry::Record(record));
    std::fs::write(&path, rechain(&entries)).expect("write");
    let b = first_break(&fx);
    assert_eq!(b.kind, BreakKind::Seal, "{b}");
    assert_eq!(b.segment, Some(1));
    assert!(
        b.entry > Some(frames[target].index),
        "the covering seal: {b}"
    );
}

#[tokio::test]
async fn a_segment_dropped_from_the_middle_is_located() {
    let fx = Fixture::new();
    build(&fx).await;
    let segments = fx.segments();
    std::fs::remove_file(&segments[1]).expect("drop");
    let b = first_break(&fx);
    assert_at(&b, BreakKind::MissingSegment, 3, 0);
    assert!(b.detail.contains("2 to 2 are missing"), "{b}");

    // Renaming the later segments to close the gap does not help.
    for (from, to) in segments[2..].iter().zip(&segments[1..]) {
        std::fs::rename(from, to).expect("rename");
    }
    let b = first_break(&fx);
    assert_eq!(b.kind, BreakKind::Discontinuity, "{b}");
    assert_eq!((b.segment, b.entry), (Some(2), Some(0)), "{b}");
}

#[tokio::test]
async fn a_lone_segment_and_its_archive_verify_with_the_gateway_dir() {
    let fx = Fixture::new();
    build(&fx).await;
    let segment = fx.segments()[0].clone();
    let inside = verify(&segment);
    assert!(inside.is_intact(), "{:?}", inside.first_break);
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let copy = elsewhere.path().join("0000000000000001.psnlog");
    std::fs::copy(&segment, &copy).expect("copy");
    let err =
        psn_audit::verify(&copy, &VerifyOptions::default(), &mut |_| {}).expect_err("no trust");
    assert!(err.to_string().contains("--gateway-dir"), "{err}");
    let options = VerifyOptions {
        trust_dir: Some(fx.path().to_path_buf()),
        ..VerifyOptions::default()
    };
    let report = psn_audit::verify(&copy, &options, &mut |_| {}).expect("verify");
    assert!(report.is_intact(), "{:?}", report.first_break);
    let mut data = std::fs::read(&copy).expect("read");
    let len = data.len();
    data[len - 1] ^= 1;
    std::fs::write(&copy, &data).expect("write");
    let report = psn_audit::verify(&copy, &options, &mut |_| {}).expect("verify");
    let b = report
        .first_break
        .expect("a lone segment has no torn tail to forgive");
    assert_eq!(b.kind, BreakKind::Altered, "{b}");
}
