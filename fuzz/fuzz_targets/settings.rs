//! The settings files of a gateway's and an authority's data directories (`gateway.toml`,
//! `authority.toml`), on arbitrary text: what each reads at start (`load_settings`) and then
//! checks (the gateway's audit and monitoring sections, its client rules' source networks and
//! its backends' URLs; the authority's validity periods, policies and sign-in providers).
//!
//! Nothing panics. Settings that parse are written back (as `save_settings` writes them, when
//! enrolment or `psn gateway` commands change them) to text that parses to the same settings,
//! which the same checks judge the same way.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_authority::datadir::Settings;
use psn_gateway::plane::cidr::Cidr;
use psn_gateway::{GatewayDir, GatewaySettings};
use std::net::IpAddr;

/// A gateway's settings and the checks it makes of them.
fn gateway(text: &str) {
    let Ok(settings) = toml::from_str::<GatewaySettings>(text) else {
        return;
    };
    let _ = settings.audit.validate();
    let _ = settings.monitoring.validate();
    let _ = settings.audit.log_options();
    let addresses: [IpAddr; 3] = [
        [127, 0, 0, 1].into(),
        [10, 1, 2, 3].into(),
        [0xfd00, 0, 0, 0, 0, 0, 0, 1].into(),
    ];
    for rule in &settings.clients {
        for network in &rule.allow {
            if let Ok(cidr) = network.parse::<Cidr>() {
                for address in addresses {
                    let _ = cidr.contains(address);
                }
            }
        }
    }
    // No directory is read: only an `https://` backend's CA file would be, and those are skipped.
    let dir = GatewayDir::new("/nonexistent/psn-fuzz");
    for service in &settings.services {
        let _ = service.backend_uri("/check/QQ123456C?a=1");
        if service.backend_ca.is_none() {
            let _ = service.check_backend(&dir);
        }
    }
    let written = toml::to_string(&settings).expect("settings that parse are written");
    let again = toml::from_str::<GatewaySettings>(&written)
        .unwrap_or_else(|e| panic!("written settings do not parse: {e}\n{written}"));
    assert_eq!(again, settings, "{written}");
}

/// An authority's settings and the checks it makes of them.
fn authority(text: &str) {
    let Ok(settings) = toml::from_str::<Settings>(text) else {
        return;
    };
    let valid = settings.validate();
    for provider in &settings.oidc {
        let _ = provider.callback_path();
    }
    let written = toml::to_string(&settings).expect("settings that parse are written");
    let again = toml::from_str::<Settings>(&written)
        .unwrap_or_else(|e| panic!("written settings do not parse: {e}\n{written}"));
    assert_eq!(
        toml::to_string(&again).ok().as_ref(),
        Some(&written),
        "settings read back write differently"
    );
    assert_eq!(again.validate(), valid, "{written}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    gateway(text);
    authority(text);
});
