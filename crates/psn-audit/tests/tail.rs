//! Reading the log from a cursor (`read_after`), as a gateway does to derive its aggregates:
//! every record exactly once, in order, across segments, archives, concurrent appends and torn
//! tails; gaps from retention and replaced logs are reported; damage is an error naming where.

mod common;

use common::Fixture;
use psn_audit::format::{decode_entry, encode_frame, frames, record_payload, Entry};
use psn_audit::{
    archive, read_after, ArchiveOptions, AuditError, AuditRecord, LogOptions, Tail, TailGap,
};
use psn_core::aggregate::LogCursor;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

fn cursor(segment: u64, position: u64) -> LogCursor {
    LogCursor { segment, position }
}

fn small_segments() -> LogOptions {
    LogOptions {
        max_segment_bytes: 6 * 1024,
        ..LogOptions::default()
    }
}

fn read(dir: &Path, from: Option<LogCursor>, max: usize) -> Tail {
    read_after(dir, from, max).expect("read_after")
}

fn ids(records: &[AuditRecord]) -> Vec<String> {
    records.iter().map(|r| r.message_id.clone()).collect()
}

/// Reads in chunks of `max` until a read returns nothing; every chunk is gap-free and at most
/// `max` long. Returns the message ids in order and the final cursor.
fn drain(dir: &Path, mut from: Option<LogCursor>, max: usize) -> (Vec<String>, Option<LogCursor>) {
    let mut out = Vec::new();
    loop {
        let tail = read(dir, from, max);
        assert_eq!(tail.gap, None, "from {from:?}");
        assert!(tail.records.len() <= max);
        if let (Some(from), Some(to)) = (from, tail.to) {
            assert!(to >= from, "the cursor never goes back: {from} -> {to}");
        }
        from = tail.to;
        if tail.records.is_empty() {
            return (out, from);
        }
        out.extend(ids(&tail.records));
    }
}

/// Sequence numbers present, live or archived, in order, and whether each is archived.
fn present(dir: &Path) -> Vec<(u64, PathBuf, bool)> {
    let mut out = Vec::new();
    for (sub, archived) in [("audit/segments", false), ("audit/archive", true)] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            if let Some((seq, a)) = psn_audit::format::parse_file_name(&name) {
                assert_eq!(a, archived);
                out.push((seq, path, archived));
            }
        }
    }
    out.sort();
    out
}

fn segment_data(path: &Path, archived: bool) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read segment");
    if !archived {
        return bytes;
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// Entries of a segment, and the message ids of its records.
fn contents(path: &Path, archived: bool) -> (u64, Vec<String>) {
    let data = segment_data(path, archived);
    let mut entries = 0;
    let mut records = Vec::new();
    for frame in frames(&data).expect("magic") {
        let frame = frame.expect("frame");
        entries += 1;
        if let Ok(Entry::Record(record)) = decode_entry(frame.payload) {
            records.push(record.message_id);
        }
    }
    (entries, records)
}

/// A log of `n` records spread over several small segments, closed.
async fn several_segments(fx: &Fixture, tag: &str, n: usize) -> Vec<String> {
    let (log, _) = fx.open(small_segments());
    let records = fx.exchanges(tag, n, 4);
    let expected = ids(&records);
    common::append_each(&log, records, fx.peer.der()).await;
    log.close().await.expect("close");
    assert!(
        present(fx.path()).len() >= 4,
        "the test needs several segments"
    );
    expected
}

#[tokio::test]
async fn an_empty_log_reads_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nothing = read(dir.path(), None, 10);
    assert_eq!(
        (nothing.records.len(), nothing.to, nothing.gap),
        (0, None, None)
    );
    let replaced = read(dir.path(), Some(cursor(3, 4)), 10);
    assert_eq!(replaced.to, None);
    assert_eq!(replaced.gap, Some(TailGap::Replaced { from: cursor(3, 4) }));

    // A new log holds only its first segment's header.
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions::default());
    let fresh = read(fx.path(), None, 10);
    assert_eq!(
        (fresh.records.len(), fresh.to, fresh.gap),
        (0, Some(cursor(1, 1)), None)
    );
    assert_eq!(read(fx.path(), None, 0).to, Some(cursor(1, 0)));
    let again = read(fx.path(), fresh.to, 10);
    assert_eq!((again.records.len(), again.to), (0, Some(cursor(1, 1))));
    log.close().await.expect("close");
}

#[tokio::test]
async fn everything_is_read_once_in_order_whole_or_in_chunks() {
    let fx = Fixture::new();
    let expected = several_segments(&fx, "all", 24).await;
    let (newest, newest_path, _) = present(fx.path()).pop().expect("segments");
    let (newest_entries, _) = contents(&newest_path, false);

    let all = read(fx.path(), None, usize::MAX);
    assert_eq!(ids(&all.records), expected);
    assert_eq!(all.gap, None);
    assert_eq!(all.to, Some(cursor(newest, newest_entries)));
    let after = read(fx.path(), all.to, usize::MAX);
    assert!(after.records.is_empty());
    assert_eq!(after.to, all.to, "nothing new: the cursor stays");

    for max in [1, 3, 5] {
        let (chunked, to) = drain(fx.path(), None, max);
        assert_eq!(chunked, expected, "in chunks of {max}");
        assert_eq!(to, all.to);
    }
    // Nothing asked, nothing read, nowhere moved.
    let none = read(fx.path(), Some(cursor(2, 3)), 0);
    assert_eq!((none.records.len(), none.to), (0, Some(cursor(2, 3))));
}

#[tokio::test]
async fn both_forms_of_a_finished_segments_end_read_the_same() {
    let fx = Fixture::new();
    let expected = several_segments(&fx, "forms", 20).await;
    let segments = present(fx.path());
    let mut before = 0;
    for pair in segments.windows(2) {
        let (seq, path, archived) = &pair[0];
        let (entries, records) = contents(path, *archived);
        before += records.len();
        let at_end = read(fx.path(), Some(cursor(*seq, entries)), usize::MAX);
        let at_next = read(fx.path(), Some(cursor(pair[1].0, 0)), usize::MAX);
        assert_eq!(at_end, at_next, "segment {seq}");
        assert_eq!(ids(&at_end.records), expected[before..].to_vec());
    }
    // A chunk that ends at a closed segment's last record leaves its final seal to the next.
    let (seq, path, archived) = &segments[0];
    let (entries, records) = contents(path, *archived);
    let first = read(fx.path(), None, records.len());
    assert_eq!(ids(&first.records), records);
    let to = first.to.expect("cursor");
    assert!(to.segment == *seq && to.position < entries, "{to}");
    let rest = read(fx.path(), first.to, usize::MAX);
    assert_eq!(ids(&rest.records), expected[records.len()..].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_while_appending_and_archiving_returns_each_record_once() {
    let fx = Fixture::new();
    let (log, _) = fx.open(small_segments());
    let records = fx.exchanges("live", 60, 4);
    let expected = ids(&records);
    let appender = {
        let (log, peer) = (log.clone(), fx.peer.der());
        tokio::spawn(async move { common::append_each(&log, records, peer).await })
    };
    let mut seen = Vec::new();
    let mut from = None;
    let mut reads = 0u64;
    loop {
        let finished = appender.is_finished();
        let tail = read(fx.path(), from, 7);
        assert_eq!(tail.gap, None);
        seen.extend(ids(&tail.records));
        from = tail.to;
        reads += 1;
        // Archival moves closed segments away under the reader's feet.
        archive(
            fx.path(),
            &ArchiveOptions::default(),
            OffsetDateTime::now_utc(),
        )
        .expect("archive");
        if finished && tail.records.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    appender.await.expect("appender");
    assert_eq!(seen, expected, "after {reads} reads");
    log.close().await.expect("close");
    let (rest, _) = drain(fx.path(), from, 100);
    assert!(rest.is_empty());
    assert!(present(fx.path()).iter().any(|(_, _, archived)| *archived));
}

#[tokio::test]
async fn a_torn_tail_ends_the_read_until_its_frame_is_complete() {
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions::default());
    let records = fx.exchanges("torn", 2, 2);
    let mut expected = ids(&records);
    common::append_each(&log, records, fx.peer.der()).await;
    log.close().await.expect("close");

    // The writer's next frame, half written.
    let path = fx.segments().pop().expect("segment");
    let data = std::fs::read(&path).expect("read");
    let all: Vec<_> = frames(&data)
        .expect("magic")
        .map(|f| f.expect("frame"))
        .collect();
    let (entries, head) = (all.len() as u64, all.last().expect("frames").hash);
    let record = fx.exchange("torn-late");
    let payload = record_payload(&serde_json::to_vec(&record).expect("json"));
    let mut frame = Vec::new();
    encode_frame(&mut frame, &head, entries, &payload);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    file.write_all(&frame[..frame.len() / 2]).expect("write");

    let before = read(fx.path(), None, usize::MAX);
    assert_eq!(ids(&before.records), expected);
    assert_eq!(before.to, Some(cursor(1, entries)));
    // Torn at any length, the frame is the end for now.
    for cut in (1..frame.len()).step_by(7).chain([frame.len() - 1]) {
        file.set_len(data.len() as u64).expect("cut");
        file.write_all(&frame[..cut]).expect("write");
        let torn = read(fx.path(), before.to, usize::MAX);
        assert!(torn.records.is_empty(), "cut at {cut}");
        assert_eq!(torn.to, before.to);
    }
    // Whole, it is read once.
    file.set_len(data.len() as u64).expect("cut");
    file.write_all(&frame).expect("write");
    let after = read(fx.path(), before.to, usize::MAX);
    assert_eq!(ids(&after.records), ["torn-late"]);
    assert_eq!(after.to, Some(cursor(1, entries + 1)));
    assert!(read(fx.path(), after.to, usize::MAX).records.is_empty());
    expected.push("torn-late".into());
    let (everything, _) = drain(fx.path(), None, 1);
    assert_eq!(everything, expected);
}

#[tokio::test]
async fn archived_segments_are_read_like_live_ones() {
    let fx = Fixture::new();
    let expected = several_segments(&fx, "arch", 20).await;
    let part = read(fx.path(), None, 2);
    assert_eq!(part.to.map(|c| c.segment), Some(1));

    let summary = archive(
        fx.path(),
        &ArchiveOptions::default(),
        OffsetDateTime::now_utc(),
    )
    .expect("archive");
    assert!(summary.archived.contains(&1) && summary.archived.len() >= 3);

    let (rest, _) = drain(fx.path(), part.to, 3);
    assert_eq!([ids(&part.records), rest].concat(), expected);
    assert_eq!(ids(&read(fx.path(), None, usize::MAX).records), expected);
    let (ones, _) = drain(fx.path(), None, 1);
    assert_eq!(ones, expected);
}

#[tokio::test]
async fn segments_deleted_by_retention_are_reported_as_a_gap() {
    let fx = Fixture::new();
    several_segments(&fx, "ret", 20).await;
    let early = read(fx.path(), None, 1);
    let everything = read(fx.path(), None, usize::MAX);

    // Retention a day in the future deletes every archive: only the newest segment is left.
    let summary = archive(
        fx.path(),
        &ArchiveOptions {
            retention: Some(Duration::from_secs(3600)),
        },
        OffsetDateTime::now_utc() + time::Duration::days(1),
    )
    .expect("archive");
    assert!(summary.deleted.contains(&1));
    let (log, _) = fx.open(small_segments());
    log.append(
        &fx.exchange("after-retention"),
        Some(fx.peer.der()),
        psn_audit::Durability::Durable,
    )
    .await
    .expect("append");
    log.close().await.expect("close");
    let remaining = present(fx.path());
    assert_eq!(remaining.len(), 1);
    let (newest, path, _) = &remaining[0];
    let (_, newest_records) = contents(path, false);

    let from = early.to.expect("cursor");
    let gapped = read(fx.path(), Some(from), usize::MAX);
    assert_eq!(
        gapped.gap,
        Some(TailGap::Deleted {
            from,
            resumed: cursor(*newest, 0)
        })
    );
    assert_eq!(ids(&gapped.records), newest_records);
    // A reader that had read everything before retention misses nothing.
    let caught_up = read(fx.path(), everything.to, usize::MAX);
    assert_eq!(caught_up.gap, None);
    assert_eq!(ids(&caught_up.records), ["after-retention"]);
}

#[tokio::test]
async fn a_segment_missing_from_the_middle_is_a_gap_at_the_next_read() {
    let fx = Fixture::new();
    let expected = several_segments(&fx, "mid", 20).await;
    archive(
        fx.path(),
        &ArchiveOptions::default(),
        OffsetDateTime::now_utc(),
    )
    .expect("archive");
    let segments = present(fx.path());
    let (_, first_records) = contents(&segments[0].1, segments[0].2);
    let (_, second_records) = contents(&segments[1].1, segments[1].2);
    std::fs::remove_file(&segments[1].1).expect("remove segment 2");

    let head = read(fx.path(), None, usize::MAX);
    assert_eq!(ids(&head.records), first_records);
    assert_eq!((head.to, head.gap), (Some(cursor(2, 0)), None));
    let rest = read(fx.path(), head.to, usize::MAX);
    assert_eq!(
        rest.gap,
        Some(TailGap::Deleted {
            from: cursor(2, 0),
            resumed: cursor(3, 0)
        })
    );
    let skipped = first_records.len() + second_records.len();
    assert_eq!(ids(&rest.records), expected[skipped..].to_vec());
}

#[tokio::test]
async fn a_cursor_beyond_the_log_means_it_was_replaced() {
    let fx = Fixture::new();
    let expected = several_segments(&fx, "repl", 16).await;
    let segments = present(fx.path());
    let (newest, newest_path, _) = segments.last().expect("segments").clone();
    let (newest_entries, _) = contents(&newest_path, false);

    for from in [
        cursor(newest + 1, 0),
        cursor(newest + 40, 7),
        cursor(1, 1000),
    ] {
        let tail = read(fx.path(), Some(from), usize::MAX);
        assert_eq!(tail.gap, Some(TailGap::Replaced { from }), "{from}");
        assert_eq!(ids(&tail.records), expected, "{from}");
        assert_eq!(tail.to, Some(cursor(newest, newest_entries)));
        let chunk = read(fx.path(), Some(from), 2);
        assert_eq!(ids(&chunk.records), expected[..2].to_vec());
    }
    // Past the end of the newest segment: nothing yet (entries cut off after a failed write
    // were never acknowledged), until it grows past the cursor.
    let beyond = cursor(newest, newest_entries + 5);
    let tail = read(fx.path(), Some(beyond), usize::MAX);
    assert_eq!(
        (tail.records.len(), tail.to, tail.gap),
        (0, Some(beyond), None)
    );

    // Another log in the same directory: the old cursor is beyond it.
    let other = Fixture::new();
    let (log, _) = other.open(LogOptions::default());
    common::append_each(&log, other.exchanges("new", 3, 3), other.peer.der()).await;
    log.close().await.expect("close");
    let from = cursor(newest, 2);
    let tail = read(other.path(), Some(from), usize::MAX);
    assert_eq!(tail.gap, Some(TailGap::Replaced { from }));
    assert_eq!(tail.records.len(), 3);
}

#[tokio::test]
async fn a_tampered_segment_is_an_error_naming_the_entry() {
    let fx = Fixture::new();
    several_segments(&fx, "tamper", 16).await;
    let segments = present(fx.path());
    let (seq, path, _) = &segments[0];
    let mut data = std::fs::read(path).expect("read");
    let (position, offset) = frames(&data)
        .expect("magic")
        .map(|f| f.expect("frame"))
        .enumerate()
        .find(|(_, f)| matches!(decode_entry(f.payload), Ok(Entry::Record(_))))
        .map(|(i, f)| (i as u64, f.offset as usize))
        .expect("a record");
    data[offset + 12 + 20] ^= 1;
    std::fs::write(path, &data).expect("write");

    for from in [None, Some(cursor(*seq, 0)), Some(cursor(*seq, position))] {
        match read_after(fx.path(), from, usize::MAX) {
            Err(AuditError::Input(message)) => {
                assert!(
                    message.contains(&format!("segment {seq}, entry {position}")),
                    "{message}"
                );
            }
            other => panic!("from {from:?}: {other:?}"),
        }
    }
    // Past the damage, what follows still reads.
    let after = read(fx.path(), Some(cursor(*seq, position + 1)), usize::MAX);
    assert!(!after.records.is_empty());

    // A closed segment cut short (its final seal gone) is damage too, not the end.
    let (seq, path, _) = &segments[1];
    let data = std::fs::read(path).expect("read");
    let last = frames(&data)
        .expect("magic")
        .map(|f| f.expect("frame"))
        .last()
        .expect("frames");
    std::fs::write(path, &data[..last.offset as usize]).expect("truncate");
    let err = read_after(fx.path(), Some(cursor(*seq, 0)), usize::MAX).expect_err("truncated");
    assert!(err.to_string().contains("final seal"), "{err}");
    // And a frame torn in the middle of a closed segment is not a torn tail.
    std::fs::write(path, &data[..last.offset as usize + 10]).expect("tear");
    let err = read_after(fx.path(), Some(cursor(*seq, 0)), usize::MAX).expect_err("torn");
    assert!(err.to_string().contains(&format!("segment {seq}")), "{err}");
}

#[tokio::test]
async fn hostile_cursors_do_not_panic() {
    let fx = Fixture::new();
    let expected = several_segments(&fx, "hostile", 16).await;
    let newest = present(fx.path()).last().expect("segments").0;
    for from in [
        cursor(u64::MAX, u64::MAX),
        cursor(u64::MAX, 0),
        cursor(0, u64::MAX),
        cursor(0, 0),
        cursor(1, u64::MAX),
        cursor(newest, u64::MAX),
    ] {
        for max in [0, 1, usize::MAX] {
            let tail = read(fx.path(), Some(from), max);
            assert!(tail.records.len() <= max);
            if max == 0 {
                assert_eq!(tail.to, Some(from));
            }
        }
    }
    // Before the first segment is the log's start, with nothing missing.
    let start = read(fx.path(), Some(cursor(0, 0)), usize::MAX);
    assert_eq!((ids(&start.records), start.gap), (expected.clone(), None));
    let far = read(fx.path(), Some(cursor(u64::MAX, u64::MAX)), usize::MAX);
    assert_eq!(ids(&far.records), expected);
    let past = read(fx.path(), Some(cursor(newest, u64::MAX)), usize::MAX);
    assert_eq!(
        (past.records.len(), past.to),
        (0, Some(cursor(newest, u64::MAX)))
    );
}
