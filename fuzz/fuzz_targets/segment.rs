//! The frame reader and the whole segment verifier on arbitrary bytes, with and without the
//! segment magic in front: never a panic, and never an intact report for garbage.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_audit::format::{decode_entry, frames, MAGIC};
use psn_audit::verify_segment_bytes;

fuzz_target!(|data: &[u8]| {
    let mut segment = MAGIC.to_vec();
    segment.extend_from_slice(data);
    for input in [data, segment.as_slice()] {
        if let Some(frames) = frames(input) {
            for frame in frames.flatten() {
                let _ = decode_entry(frame.payload);
            }
        }
        let report = verify_segment_bytes(input, None);
        // A segment must start with a header whose chain hash checks out; random bytes do not.
        if report.is_intact() {
            assert!(report.entries > 0, "an intact segment has its header");
        }
    }
});
