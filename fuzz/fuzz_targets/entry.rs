//! The entry decoder on arbitrary bytes: it never panics, and whatever it accepts re-encodes to
//! something that decodes to the same entry.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_audit::format::{decode_entry, encode_entry};

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = decode_entry(data) {
        let again = decode_entry(&encode_entry(&entry));
        assert_eq!(again.ok(), Some(entry));
    }
});
