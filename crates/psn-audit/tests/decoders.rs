//! The decoders and the verifier take hostile bytes: arbitrary input never panics, and any byte
//! changed in a closed segment is reported as a break. (The same decoders run under cargo-fuzz
//! in `fuzz/`, unbounded.)

mod common;

use proptest::prelude::*;
use psn_audit::format::{decode_entry, frames, MAGIC};
use psn_audit::{verify_segment_bytes, Durability, LogOptions, Trust};
use std::sync::OnceLock;

/// A closed segment of a real log and the trust to check it with.
fn sample() -> &'static (Vec<u8>, Trust) {
    static SAMPLE: OnceLock<(Vec<u8>, Trust)> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let fx = common::Fixture::new();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let (log, _) = fx.open(LogOptions {
                seal_every_records: 3,
                max_segment_bytes: 12 * 1024,
                ..LogOptions::default()
            });
            for record in fx.exchanges("p", 8, 4) {
                log.append(&record, Some(fx.peer.der()), Durability::Durable)
                    .await
                    .expect("append");
            }
            log.close().await.expect("close");
        });
        let segment = std::fs::read(&fx.segments()[0]).expect("segment");
        let configs = [(
            1,
            std::fs::read_to_string(fx.path().join("config/v1.json")).expect("v1"),
        )];
        let trust = Trust::new(fx.ca().certificate_pem(), configs).expect("trust");
        let report = verify_segment_bytes(&segment, Some(&trust));
        assert!(report.is_intact(), "{:?}", report.first_break);
        assert!(report.seals >= 2, "a closed segment with periodic seals");
        (segment, trust)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_entry(&bytes);
        let mut with_magic = MAGIC.to_vec();
        with_magic.extend_from_slice(&bytes);
        for data in [&bytes, &with_magic] {
            if let Some(frames) = frames(data) {
                for frame in frames.flatten() {
                    let _ = decode_entry(frame.payload);
                }
            }
            let report = verify_segment_bytes(data, None);
            prop_assert!(!report.is_intact() || data.len() <= MAGIC.len());
        }
    }

    #[test]
    fn any_changed_byte_of_a_closed_segment_is_a_break(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let (segment, trust) = sample();
        let mut data = segment.clone();
        let i = at.index(data.len());
        data[i] ^= flip;
        let report = verify_segment_bytes(&data, Some(trust));
        prop_assert!(report.first_break.is_some(), "byte {} changed unnoticed", i);
    }

    #[test]
    fn cut_spliced_or_extended_segments_never_panic(
        cut in any::<prop::sample::Index>(),
        insert_at in any::<prop::sample::Index>(),
        inserted in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let (segment, trust) = sample();
        let cut = cut.index(segment.len());
        let _ = verify_segment_bytes(&segment[..cut], Some(trust));
        let mut spliced = segment.clone();
        let at = insert_at.index(segment.len() + 1);
        spliced.splice(at..at, inserted.iter().copied());
        let report = verify_segment_bytes(&spliced, Some(trust));
        prop_assert!(report.first_break.is_some(), "{} bytes inserted at {} unnoticed", inserted.len(), at);
    }
}
