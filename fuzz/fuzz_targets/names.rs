//! Every identifier parser on arbitrary text: none panics, and whatever one accepts is in its
//! one written form (it prints back as the text given) and parses again to the same identifier.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_core::names::{GatewayId, MemberId, NetworkId, ServiceCode, ServiceId, SubsystemId};
use std::fmt::Display;
use std::str::FromStr;

fn canonical<T: FromStr + Display + PartialEq + std::fmt::Debug>(text: &str) {
    if let Ok(id) = text.parse::<T>() {
        assert_eq!(id.to_string(), text);
        assert_eq!(id.to_string().parse::<T>().ok(), Some(id));
    }
}

fuzz_target!(|text: &str| {
    canonical::<NetworkId>(text);
    canonical::<MemberId>(text);
    canonical::<SubsystemId>(text);
    canonical::<ServiceId>(text);
    canonical::<ServiceCode>(text);
    canonical::<GatewayId>(text);
});
