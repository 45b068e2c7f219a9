//! A configuration delta as a gateway receives it, on arbitrary bytes: parsing never panics, and
//! a delta that parses is checked against a held version without panicking. A head is taken as
//! already verified (its signature is psn-pki's to check), so what is exercised is the delta's
//! own checks: format, network, versions, order, the tree's root. Whatever the held version
//! takes, it still writes as a document that parses back to it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_core::config::{
    AuthorityInfo, ConfigDocument, GatewayEntry, GlobalConfig, MemberEntry, MemberStatus,
    ServiceEntry, CONFIG_FORMAT,
};
use psn_core::config_delta::{head_to_sign, ConfigDelta, HeldConfig};
use psn_core::shared_list::SharedList;
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// A small version 1 and the head its entries give.
fn held() -> &'static HeldConfig {
    static HELD: OnceLock<HeldConfig> = OnceLock::new();
    HELD.get_or_init(|| {
        let issued_at = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let members: SharedList<MemberEntry> = ["GB/LA/E10000014", "GB/LA/E10000016"]
            .iter()
            .map(|id| {
                Arc::new(MemberEntry {
                    id: id.parse().expect("member"),
                    name: "Council".into(),
                    status: MemberStatus::Active,
                    sector: None,
                    region: None,
                })
            })
            .collect();
        let config = GlobalConfig {
            format: CONFIG_FORMAT.into(),
            network: "GB".parse().expect("network"),
            version: 1,
            issued_at,
            expires_at: issued_at + time::Duration::days(7),
            authority: AuthorityInfo {
                endpoints: vec!["https://authority.example:8443".into()],
                ca_certificate: "PEM".into(),
            },
            classes: Vec::new(),
            members,
            subsystems: SharedList::from(vec![Arc::new(
                "GB/LA/E10000016/app".parse().expect("subsystem"),
            )]),
            gateways: SharedList::from(vec![Arc::new(GatewayEntry {
                id: "GB/LA/E10000016@gw1".parse().expect("gateway"),
                address: Some("gw.example:8443".into()),
            })]),
            services: SharedList::from(vec![Arc::new(ServiceEntry {
                id: "GB/LA/E10000016/app/check".parse().expect("service"),
                title: "check".into(),
                processes: Vec::new(),
            })]),
            federation: Vec::new(),
            revoked_serials: vec!["0a".into()],
        };
        let head = head_to_sign(&config).expect("head");
        HeldConfig::new("head-v1".into(), &head, config).expect("held")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(delta) = serde_json::from_slice::<ConfigDelta>(data) else {
        return;
    };
    let mut held = held().clone();
    // The head a delta claims is taken as signed: the version it names, the root its changes
    // would need to give (which arbitrary changes almost never do), the validity the held
    // version has.
    let mut head = head_to_sign(held.config()).expect("head");
    head.version = delta.version;
    if held.apply(&delta, &head).is_ok() {
        let document = held.document().expect("document");
        let parsed: ConfigDocument = serde_json::from_str(&document).expect("parses back");
        assert_eq!(&parsed.config, held.config());
    }
});
