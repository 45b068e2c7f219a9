//! What the authority is sent at enrolment and renewal, and the certificates gateways are
//! handed and shown, on arbitrary bytes: an enrolment request's JSON (token, signing request,
//! address), a signing request as PEM text and as DER, and certificates as PEM and DER.
//!
//! Nothing panics. A signing request is certified only when it is correctly self-signed for
//! exactly the gateway enrolling, and what is issued then chains to the network CA and names
//! that gateway. A certificate the CA did not issue never chains to it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_api::{validate_address, EnrolRequest};
use psn_core::names::GatewayId;
use psn_core::token::EnrolmentToken;
use psn_pki::{
    ca_pin, certificate_names, der_to_pem, parse_pem_certificates, spki_der, verify_gateway_chain,
    CertificateAuthority, CertificateInfo, StatementVerifier,
};
use std::sync::OnceLock;
use std::time::Duration;

/// The network "GB"'s CA and the gateway enrolling.
struct Fixture {
    ca: CertificateAuthority,
    gateway: GatewayId,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        ca: CertificateAuthority::create(&"GB".parse().expect("network")).expect("CA"),
        gateway: "GB/LA/E10000016@gw1".parse().expect("gateway"),
    })
}

/// A signing request as the enrolment and renewal endpoints take it.
fn issue(fixture: &Fixture, csr_pem: &str) {
    let Ok(issued) = fixture.ca.issue_gateway_certificate(
        csr_pem,
        &fixture.gateway,
        Duration::from_secs(86_400),
    ) else {
        return;
    };
    let chain = verify_gateway_chain(&issued.der, fixture.ca.certificate_der())
        .expect("an issued certificate chains to the CA that issued it");
    assert_eq!(chain.gateway, fixture.gateway);
    assert_eq!(chain.info.serial, issued.serial);
}

/// A certificate as gateways read theirs and their peers'.
fn certificate(fixture: &Fixture, der: &[u8]) {
    let _ = CertificateInfo::from_der(der);
    let _ = certificate_names(der);
    let _ = spki_der(der);
    let _ = ca_pin(der);
    let _ = StatementVerifier::from_certificate(der);
    assert!(
        verify_gateway_chain(der, fixture.ca.certificate_der()).is_err(),
        "a certificate the CA did not issue chains to it"
    );
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    if let Ok(request) = serde_json::from_slice::<EnrolRequest>(data) {
        let _ = EnrolmentToken::decode(&request.token);
        if let Some(address) = &request.address {
            let _ = validate_address(address);
        }
        issue(fixture, &request.csr);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        issue(fixture, text);
        for der in parse_pem_certificates(text).into_iter().flatten() {
            certificate(fixture, der.as_ref());
        }
    }
    issue(fixture, &der_to_pem("CERTIFICATE REQUEST", data));
    certificate(fixture, data);
});
